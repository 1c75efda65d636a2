"""The table of `tessera`'s sub-commands, and the one way a sub-command is declared.

The table names the module defining each command, so that `tessera ping` imports the client
part it needs and nothing of the daemons (start-up time: benchmarks/cli_startup.py), and holds
the summary `tessera --help` lists without importing any command module. Every command gets a
description and examples in its `--help`, and `--json` after the command as well as before.

A declaration is read by argparse (`_grammar`) or recorded without it (`_quick`): it calls
nothing but `add_parser`, `add_argument`, `add_argument_group` and `set_defaults`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

TYPE_CHECKING = False  # typing itself is not imported at run time (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from tessera.cli._grammar import Commands, HelpFormatter

__all__ = [
    "COMMANDS",
    "Commands",
    "Entry",
    "HelpFormatter",
    "add_action",
    "add_command",
    "add_output_options",
    "modules",
    "terminal_width",
]


class Entry:
    """Where a command is defined, and what it does in one line."""

    __slots__ = ("module", "summary")

    def __init__(self, module: str, summary: str) -> None:
        self.module = module  # in tessera.cli
        self.summary = summary

    def __repr__(self) -> str:
        return f"Entry(module={self.module!r}, summary={self.summary!r})"


COMMANDS: dict[str, Entry] = {
    "up": Entry("up_cmd", "run the whole system (service, identity provider, orchestrator)"),
    "status": Entry(
        "system_cmd",
        "show the system tessera up runs: components, pids, uptime, restarts, endpoints",
    ),
    "down": Entry("system_cmd", "stop the system tessera up runs (as Ctrl-C would)"),
    "doctor": Entry(
        "doctor_cmd", "check sockets, permissions, authenticators, providers, trust, clock, state"
    ),
    "install-units": Entry(
        "units_cmd", "write systemd units for the three daemons (and their configs, if absent)"
    ),
    "service": Entry(
        "service_cmd", "run the security service (Parsec wire protocol on a Unix socket)"
    ),
    "identity": Entry(
        "identity_cmd", "run the identity provider (proves applications, issues tokens)"
    ),
    "orchestrator": Entry("orchestrator_cmd", "run the orchestrator, or talk to a running one"),
    "ping": Entry("admin_cmd", "ping the service and print its wire protocol version"),
    "list-providers": Entry("admin_cmd", "list the service's providers"),
    "list-authenticators": Entry("admin_cmd", "list the service's active authenticators"),
    "list-opcodes": Entry("admin_cmd", "list the opcodes a provider serves"),
    "list-keys": Entry("admin_cmd", "list this application's keys"),
    "list-clients": Entry("admin_cmd", "list the applications that own keys (administrators)"),
    "delete-client": Entry("admin_cmd", "delete every key of an application (administrators)"),
    "create-rsa-key": Entry("keys_cmd", "create an RSA key pair (PKCS#1 v1.5 encryption)"),
    "create-ecc-key": Entry("keys_cmd", "create an ECC key pair (P-256, ECDSA with SHA-256)"),
    "create-key": Entry("keys_cmd", "create a key from a named spec (AES, HMAC, Ed25519...)"),
    "import-key": Entry("keys_cmd", "import a PEM/DER key, or raw secret bytes with --spec"),
    "export-public-key": Entry("keys_cmd", "print a key's public part in PEM"),
    "export-key": Entry("keys_cmd", "print an exportable key (PEM, or base64 for secrets)"),
    "delete-key": Entry("keys_cmd", "delete a key"),
    "migrate-parsec": Entry(
        "migrate_cmd", "import a Parsec installation's keys into Tessera's key store"
    ),
    "audit": Entry("audit_cmd", "check or read the service's audit log of key use"),
    "generate-random": Entry("crypto_cmd", "print random bytes from the service (hex)"),
    "sign": Entry("crypto_cmd", "sign data with the key's algorithm (base64 signature)"),
    "verify": Entry("crypto_cmd", "check a signature made by `sign`"),
    "encrypt": Entry("crypto_cmd", "encrypt data with the key's algorithm (base64)"),
    "decrypt": Entry("crypto_cmd", "decrypt data with the key's algorithm"),
    "hash": Entry("crypto_cmd", "hash data in the service (hex digest)"),
    "mac": Entry("crypto_cmd", "compute a MAC with an HMAC or CMAC key (base64)"),
    "verify-mac": Entry("crypto_cmd", "check a MAC made by `mac`"),
    "create-csr": Entry("csr_cmd", "create a certificate signing request (PEM) signed by a key"),
    "completion": Entry("completion_cmd", "print a shell completion script (bash, zsh, fish)"),
}


def modules() -> list[str]:
    """Every command module, once each, in the table's order."""
    return list(dict.fromkeys(entry.module for entry in COMMANDS.values()))


def terminal_width() -> int:
    """The terminal's columns as `shutil.get_terminal_size()` gives them (`COLUMNS`, then the
    terminal of stdout, then 80), without importing shutil (and the compressors it imports)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _examples(examples: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {example}" for example in examples)


def add_command(
    commands: Any,
    name: str,
    description: str,
    examples: Sequence[str],
    *,
    client: bool = False,
    **extra: Any,
) -> argparse.ArgumentParser:
    """Declare the command `name` of the table; `client` commands talk to the service and also
    take `--json` and `-v` after their name."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=COMMANDS[name].summary,
        description=description,
        epilog=_examples(examples),  # (and `Commands`' formatter)
        **extra,
    )
    if client:
        add_output_options(parser)
    return parser


def add_action(
    actions: Any, name: str, summary: str, description: str, examples: Sequence[str], **extra: Any
) -> argparse.ArgumentParser:
    """Declare an action of a command (`tessera orchestrator status`, `tessera audit show`)."""
    from tessera.cli._grammar import HelpFormatter

    parser: argparse.ArgumentParser = actions.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_examples(examples),
        formatter_class=HelpFormatter,
        **extra,
    )
    return parser


def add_output_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, top: bool = False
) -> None:
    """`--json` and `-v`: before the command (`top`), and after it, where SUPPRESS keeps a value
    given before it."""
    default: Any = False if top else _suppress(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        default=default,
        help="print one JSON object per command, for scripts",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="say on stderr which endpoint and which authentication the client chose",
    )


def _suppress(parser: Any) -> str:
    """argparse.SUPPRESS for an argparse parser (argparse tells it by identity, not equality),
    the recorder's own for a declaration `_quick` records."""
    suppress: str | None = getattr(parser, "suppress", None)
    if suppress is None:
        import argparse  # loaded already: `parser` is argparse's

        suppress = argparse.SUPPRESS
    return suppress


def __getattr__(name: str) -> object:
    """`Commands` and `HelpFormatter`, argparse's subclasses, from `_grammar` on first use (a
    command line `_quick` reads imports no argparse)."""
    if name in ("Commands", "HelpFormatter"):
        from tessera.cli import _grammar

        value: object = getattr(_grammar, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
