"""Service information and administration: ping, list-*, delete-client.

Text output follows parsec-tool's; `--json` prints one object per command.
"""

from __future__ import annotations

from tessera.cli._commands import add_command
from tessera.cli._common import CommandFunction, Context, command, provider_id
from tessera.cli._errors import CliError, ExitCode

TYPE_CHECKING = False  # argparse is not imported at run time (start-up time: `_quick`)
if TYPE_CHECKING:
    import argparse

    from tessera.cli._commands import Commands

CORE_PROVIDER = 0


def register(commands: Commands) -> None:
    """Add the information and administration sub-commands (those `commands` wants)."""
    for name, function, description, examples in _PLAIN:
        if commands.wants(name):
            parser = add_command(commands, name, description, examples, client=True)
            parser.set_defaults(run=command(function))
    if commands.wants("list-opcodes"):
        parser = add_command(
            commands,
            "list-opcodes",
            "List the opcodes one provider serves: the one given by -p, else the global "
            "--provider, else the service's first crypto provider.",
            ["tessera list-opcodes", "tessera list-opcodes -p 0"],
            client=True,
        )
        parser.add_argument(
            "-p",
            "--provider",
            dest="opcodes_provider",
            type=provider_id,
            metavar="ID",
            help="the provider (default: the global --provider, else the service's first)",
        )
        parser.set_defaults(run=command(list_opcodes))
    if commands.wants("delete-client"):
        parser = add_command(
            commands,
            "delete-client",
            "Delete every key of an application. For the service's administrators only.",
            ["tessera --app-name admin delete-client --client some-app"],
            client=True,
        )
        parser.add_argument("-c", "--client", required=True, help="the application's name")
        parser.set_defaults(run=command(delete_client))


def ping(context: Context, args: argparse.Namespace) -> None:
    """Print the wire protocol version, e.g. 1.0."""
    major, minor = context.operations.ping()
    context.emit(
        f"{major}.{minor}",
        {"wire_protocol_version": f"{major}.{minor}", "major": major, "minor": minor},
    )


def list_providers(context: Context, args: argparse.Namespace) -> None:
    """Every provider, in the service's order of preference (the core provider last)."""
    from tessera.cli import _describe  # protobuf's text tables: not for ping

    providers = context.operations.list_providers()
    blocks = []
    for p in providers:
        blocks.append(
            f"ID: 0x{p.id:02x} ({_describe.short_name(p.description)})\n"
            f"Description: {p.description}\n"
            f"Version: {_describe.version(p.version)}\n"
            f"Vendor: {p.vendor or 'Unspecified'}\n"
            f"UUID: {p.uuid}\n"
        )
    data = [
        {
            "id": p.id,
            "name": _describe.short_name(p.description),
            "description": p.description,
            "version": _describe.version(p.version),
            "vendor": p.vendor,
            "uuid": p.uuid,
        }
        for p in providers
    ]
    context.emit("\n".join(blocks), {"providers": data})


def list_authenticators(context: Context, args: argparse.Namespace) -> None:
    """The authenticators the service accepts, in its order."""
    from tessera.cli import _describe

    authenticators = context.operations.list_authenticators()
    blocks = [
        f"ID: 0x{a.id:02x} ({_describe.authenticator_name(a.id)})\n"
        f"Description: {a.description}\n"
        f"Version: {_describe.version(a.version)}\n"
        for a in authenticators
    ]
    data = [
        {
            "id": a.id,
            "name": _describe.authenticator_name(a.id),
            "description": a.description,
            "version": _describe.version(a.version),
        }
        for a in authenticators
    ]
    context.emit("\n".join(blocks), {"authenticators": data})


def list_opcodes(context: Context, args: argparse.Namespace) -> None:
    """The opcodes of one provider, as `0x02 (PsaGenerateKey)` lines."""
    from tessera.cli import _describe

    provider: int | None = args.opcodes_provider
    if provider is None:
        provider = context.provider
    if provider is None:
        listed = context.operations.list_providers()
        provider = next((p.id for p in listed if p.id != CORE_PROVIDER), CORE_PROVIDER)
    opcodes = sorted(context.operations.list_opcodes(provider))
    lines = [f"0x{op:02x} ({_describe.opcode_name(op)})" for op in opcodes]
    data = [{"id": op, "name": _describe.opcode_name(op)} for op in opcodes]
    context.emit("\n".join(lines) if lines else None, {"provider": provider, "opcodes": data})


def list_keys(context: Context, args: argparse.Namespace) -> None:
    """This application's keys in every provider (in one provider with --provider)."""
    from tessera.cli import _describe

    keys = context.operations.list_keys()
    if context.provider is not None:
        served = {p.id for p in context.operations.list_providers()}
        if context.provider not in served:
            raise CliError(f"the service has no provider {context.provider}", ExitCode.NOT_FOUND)
        keys = [k for k in keys if k.provider_id == context.provider]
    summaries = [_describe.key_summary(k.name, k.provider_id, k.encoded_attributes) for k in keys]
    lines = [_describe.key_line(summary) for summary in summaries]
    context.emit("\n".join(lines) if lines else None, {"keys": summaries})


def list_clients(context: Context, args: argparse.Namespace) -> None:
    """Every application that owns keys, one per line."""
    clients = context.operations.list_clients()
    context.emit("\n".join(clients) if clients else None, {"clients": clients})


def delete_client(context: Context, args: argparse.Namespace) -> None:
    """Delete every key of an application."""
    context.operations.delete_client(args.client)
    context.emit(None, {"deleted_client": args.client})


# The commands without options of their own: name, function, description, examples.
_PLAIN: tuple[tuple[str, CommandFunction, str, list[str]], ...] = (
    (
        "ping",
        ping,
        "Ping the service: print the wire protocol version it speaks (needs no authentication).",
        ["tessera ping", "tessera --endpoint unix:/run/parsec/parsec.sock ping"],
    ),
    (
        "list-providers",
        list_providers,
        "List the service's providers in its order of preference, the core provider last.",
        ["tessera list-providers", "tessera --json list-providers"],
    ),
    (
        "list-authenticators",
        list_authenticators,
        "List the authenticators the service accepts, in its order.",
        ["tessera list-authenticators"],
    ),
    (
        "list-keys",
        list_keys,
        "List this application's keys in every provider (only the global --provider's with "
        "one): name, provider, type, size, permitted algorithm and usage.",
        ["tessera list-keys", "tessera list-keys --json", "tessera -p 1 list-keys"],
    ),
    (
        "list-clients",
        list_clients,
        "List the applications that own keys. For the service's administrators only.",
        ["tessera --app-name admin list-clients"],
    ),
)
