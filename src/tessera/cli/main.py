"""Entry point of the `tessera` command: one sub-command per component and per operation.

Errors reach the user as one line on stderr and a distinct exit code, never a traceback (the
codes: `tessera.cli._errors`, and docs/cli.md).

A well-formed command line is read by `_quick` from the commands' own declarations, without
argparse (start-up time: argparse, `re`, `gettext` and `locale` are a fifth of `tessera sign`);
anything it does not read exactly as argparse would (help, `--version`, usage errors, unusual
spellings) is read by argparse (`_grammar`), so that it prints what it always printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from tessera.cli import _quick
from tessera.cli._common import fail, silence_stdout
from tessera.cli._daemon import StartupError
from tessera.cli._errors import CliError, ExitCode

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:
    import argparse

    from tessera.cli._grammar import (
        _LeanGrammarError,
        _Parser,
        _top_parser,
        build_parser,
        command_word,
        lean_parser,
        parse,
    )

EXIT_USAGE = ExitCode.USAGE
EXIT_CONFIG = ExitCode.CONFIG
EXIT_INTERRUPTED = ExitCode.INTERRUPTED

# argparse's grammar, imported from `_grammar` on first use (`__getattr__`)
_GRAMMAR = (
    "_LeanGrammarError",
    "_Parser",
    "_top_parser",
    "build_parser",
    "command_word",
    "lean_parser",
    "parse",
)
__all__ = [
    "EXIT_CONFIG",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "_LeanGrammarError",
    "_Parser",
    "_top_parser",
    "build_parser",
    "command_word",
    "configure_logging",
    "lean_parser",
    "main",
    "parse",
]


def __getattr__(name: str) -> object:
    if name in _GRAMMAR:
        from tessera.cli import _grammar

        value: object = getattr(_grammar, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _parse(arguments: Sequence[str]) -> argparse.Namespace:
    """The command line read by `_quick`, or by argparse where `_quick` declines it."""
    args = _quick.read(arguments)
    if args is None:
        from tessera.cli._grammar import read

        args = read(arguments)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Without `argv` this is the `tessera` program (`sys.exit(main())`, the console script):
    when nothing is left for the interpreter's teardown to do, the process ends here (`_end`).
    """
    code = _run(sys.argv[1:] if argv is None else list(argv))
    if argv is None:
        _end(code)
    return code


def _end(code: int) -> None:
    """End the process with `code` now, skipping the interpreter's teardown (every module torn
    down and a full garbage collection: about a tenth of `tessera sign`), when that teardown
    has nothing to do: the output flushed, no exit handlers (the daemons' logging has one), no
    other thread. Otherwise return, and the interpreter exits as it always did."""
    import atexit

    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # (a broken pipe: the interpreter reports it, as before)
        return
    threading = sys.modules.get("threading")
    if atexit._ncallbacks() or (threading is not None and threading.active_count() > 1):
        return
    os._exit(code)


def _run(arguments: list[str]) -> int:
    if not arguments:
        from tessera.cli._grammar import build_parser

        build_parser(only="").print_help()  # bare `tessera`: what it can do, not an error
        return ExitCode.OK
    try:
        args = _parse(arguments)
    except CliError as error:
        return fail(error)
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `tessera completion bash | head`
        silence_stdout()
        return ExitCode.BROKEN_PIPE
    except StartupError as error:
        print(f"tessera: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except CliError as error:  # commands that report their own one-line failures
        return fail(error)
    return code


def configure_logging(level: str) -> None:
    """Log lines to stderr; never key material, tokens or secrets (callers' duty)."""
    import logging  # the daemons' commands only

    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
