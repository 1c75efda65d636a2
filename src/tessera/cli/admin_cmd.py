"""Service information and administration: ping, list-*, delete-client.

Text output follows parsec-tool's; `--json` prints one object per command.
"""

from __future__ import annotations

import argparse
from typing import Any

from tessera.cli import _describe
from tessera.cli._common import Context, command, provider_id
from tessera.cli._errors import CliError, ExitCode

CORE_PROVIDER = 0


def register(commands: Any) -> None:
    """Add the information and administration sub-commands."""
    add = commands.add_parser
    add("ping", help="ping the service and print its wire protocol version").set_defaults(
        run=command(ping)
    )
    add("list-providers", help="list the service's providers").set_defaults(
        run=command(list_providers)
    )
    add("list-authenticators", help="list the service's active authenticators").set_defaults(
        run=command(list_authenticators)
    )
    parser = add("list-opcodes", help="list the opcodes a provider serves")
    parser.add_argument(
        "-p",
        "--provider",
        dest="opcodes_provider",
        type=provider_id,
        metavar="ID",
        help="the provider (default: the global --provider, else the service's first)",
    )
    parser.set_defaults(run=command(list_opcodes))
    add("list-keys", help="list this application's keys").set_defaults(run=command(list_keys))
    add("list-clients", help="list the applications that own keys (administrators)").set_defaults(
        run=command(list_clients)
    )
    parser = add("delete-client", help="delete every key of an application (administrators)")
    parser.add_argument("-c", "--client", required=True, help="the application's name")
    parser.set_defaults(run=command(delete_client))


def ping(context: Context, args: argparse.Namespace) -> None:
    """Print the wire protocol version, e.g. 1.0."""
    major, minor = context.client.ping()
    context.emit(
        f"{major}.{minor}",
        {"wire_protocol_version": f"{major}.{minor}", "major": major, "minor": minor},
    )


def list_providers(context: Context, args: argparse.Namespace) -> None:
    """Every provider, in the service's order of preference (the core provider last)."""
    providers = context.client.operations.list_providers()
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
    authenticators = context.client.operations.list_authenticators()
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
    provider: int | None = args.opcodes_provider
    if provider is None:
        provider = context.provider
    if provider is None:
        listed = context.client.operations.list_providers()
        provider = next((p.id for p in listed if p.id != CORE_PROVIDER), CORE_PROVIDER)
    opcodes = sorted(context.client.operations.list_opcodes(provider))
    lines = [f"0x{op:02x} ({_describe.opcode_name(op)})" for op in opcodes]
    data = [{"id": op, "name": _describe.opcode_name(op)} for op in opcodes]
    context.emit("\n".join(lines) if lines else None, {"provider": provider, "opcodes": data})


def list_keys(context: Context, args: argparse.Namespace) -> None:
    """This application's keys in every provider (in one provider with --provider)."""
    keys = context.client.keys()
    if context.provider is not None:
        served = {p.id for p in context.client.operations.list_providers()}
        if context.provider not in served:
            raise CliError(f"the service has no provider {context.provider}", ExitCode.NOT_FOUND)
        keys = [k for k in keys if k.provider == context.provider]
    summaries = [_describe.key_summary(k.name, k.provider, k.attributes) for k in keys]
    lines = [_describe.key_line(summary) for summary in summaries]
    context.emit("\n".join(lines) if lines else None, {"keys": summaries})


def list_clients(context: Context, args: argparse.Namespace) -> None:
    """Every application that owns keys, one per line."""
    clients = context.client.operations.list_clients()
    context.emit("\n".join(clients) if clients else None, {"clients": clients})


def delete_client(context: Context, args: argparse.Namespace) -> None:
    """Delete every key of an application."""
    context.client.operations.delete_client(args.client)
    context.emit(None, {"deleted_client": args.client})
