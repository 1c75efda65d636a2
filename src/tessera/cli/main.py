"""Entry point of the `tessera` command: one sub-command per component and per operation.

Errors reach the user as one line on stderr and a distinct exit code, never a traceback (the
codes: `tessera.cli._errors`, and docs/cli.md).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from tessera._version import __version__
from tessera.cli import (
    admin_cmd,
    audit_cmd,
    crypto_cmd,
    csr_cmd,
    doctor_cmd,
    identity_cmd,
    keys_cmd,
    migrate_cmd,
    orchestrator_cmd,
    service_cmd,
    system_cmd,
    units_cmd,
    up_cmd,
)
from tessera.cli._common import add_global_options, fail
from tessera.cli._daemon import StartupError
from tessera.cli._errors import CliError, ExitCode

EXIT_USAGE = ExitCode.USAGE
EXIT_CONFIG = ExitCode.CONFIG
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (`tessera: ...`) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("tessera").strip()  # "sign" in "tessera sign"
        where = f"{command}: " if command else ""
        raise CliError(f"{where}{message} (see '{self.prog} --help')", ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    parser = _Parser(
        prog="tessera",
        description="Tessera: keys that applications use but never hold, over Parsec's protocol.",
    )
    parser.add_argument("--version", action="version", version=f"tessera {__version__}")
    add_global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    up_cmd.register(commands)
    system_cmd.register(commands)
    doctor_cmd.register(commands)
    units_cmd.register(commands)
    service_cmd.register(commands)
    identity_cmd.register(commands)
    orchestrator_cmd.register(commands)
    admin_cmd.register(commands)
    keys_cmd.register(commands)
    migrate_cmd.register(commands)
    audit_cmd.register(commands)
    crypto_cmd.register(commands)
    csr_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    arguments = sys.argv[1:] if argv is None else list(argv)
    if not arguments:
        parser.print_help()  # bare `tessera`: what it can do, not an error
        return EXIT_USAGE
    try:
        args = parser.parse_args(arguments)
    except CliError as error:
        return fail(error)
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except StartupError as error:
        print(f"tessera: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except CliError as error:  # commands that report their own one-line failures
        return fail(error)
    return code


def configure_logging(level: str) -> None:
    """Log lines to stderr; never key material, tokens or secrets (callers' duty)."""
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
