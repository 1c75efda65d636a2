"""Entry point of the `tessera` command: one sub-command per component and per operation.

Errors reach the user as one line on stderr and a distinct exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tessera._version import __version__
from tessera.cli import service_cmd, up_cmd

EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    parser = argparse.ArgumentParser(
        prog="tessera",
        description="Tessera: keys that applications use but never hold, over Parsec's protocol.",
    )
    parser.add_argument("--version", action="version", version=f"tessera {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    up_cmd.register(commands)
    service_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except service_cmd.StartupError as error:
        print(f"tessera: {error}", file=sys.stderr)
        return EXIT_CONFIG
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
