"""The command-line grammar as argparse reads it: every line the quick reader (`_quick`)
declines, help and usage errors, and the completion scripts.

Imported only when argparse is needed (start-up time: a well-formed client command line is read
by `_quick` without importing argparse, `re` or `gettext`).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from tessera._version import __version__
from tessera.cli._commands import COMMANDS, modules, terminal_width
from tessera.cli._common import add_global_options
from tessera.cli._errors import CliError, ExitCode

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from _typeshed import SupportsWrite

if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # not subscriptable at run time
    _SubParsers = argparse._SubParsersAction


class Commands(_SubParsers):
    """`tessera`'s sub-commands: every one, or only the one a command line names (`wanted`),
    whose parser is then the only one built (a module defining several builds one)."""

    wanted: str | None = None

    def wants(self, name: str) -> bool:
        """Whether the parser of command `name` is to be built."""
        return self.wanted is None or name == self.wanted

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A command's parser, with `HelpFormatter` unless told otherwise (`add_command` names
        no formatter: the quick reader records declarations without argparse)."""
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().add_parser(name, **kwargs)


class HelpFormatter(argparse.HelpFormatter):
    """Paragraphs are filled; a paragraph with indented lines (examples) is kept as written."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        # argparse makes a formatter for every argument it adds: the width its own way would
        # import shutil each run.
        width = terminal_width() if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if any(line.startswith("  ") for line in paragraph.splitlines()):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


_EXAMPLES = """examples:
  tessera up                                  # the whole system, on embedded defaults
  tessera ping
  tessera create-ecc-key --key-name signing
  tessera sign --key-name signing "hello"
  tessera --json list-keys
  tessera COMMAND --help                      # each command's options and examples"""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (`tessera: ...`) and exit code 2."""

    # The top of a grammar that holds one command and no other (`lean_parser`): it cannot list
    # the commands, so its help hands over to the grammar that can (`read`).
    lean = False

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("tessera").strip()  # "sign" in "tessera sign"
        where = f"{command}: " if command else ""
        raise CliError(f"{where}{message} (see '{self.prog} --help')", ExitCode.USAGE)

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        if self.lean:  # `tessera --help ping`
            raise _LeanGrammarError
        super().print_help(file)


class _LeanGrammarError(Exception):
    """The lean grammar cannot answer this command line as the full one would."""


def _top_parser() -> _Parser:
    parser = _Parser(
        prog="tessera",
        description="Tessera: keys that applications use but never hold, over Parsec's protocol.",
        epilog=_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tessera {__version__}")
    add_global_options(parser)
    return parser


def _add_commands(parser: _Parser, modules: Sequence[str], wanted: str | None = None) -> Commands:
    """The sub-commands of `parser`, with those of the command modules named registered (of
    command `wanted` alone, if given)."""
    # prog given: argparse would otherwise size the terminal (importing shutil) to make it.
    commands = parser.add_subparsers(
        action=Commands, dest="command", metavar="COMMAND", required=True, prog="tessera"
    )
    assert isinstance(commands, Commands)  # (typed as argparse's own class)
    commands.wanted = wanted
    for module in modules:
        importlib.import_module(f"tessera.cli.{module}").register(commands)
    return commands


def build_parser(only: str | None = None, parser: _Parser | None = None) -> argparse.ArgumentParser:
    """The command-line grammar: whole, or with only the module of command `only` imported
    and every other command known by its name and summary (what `--help` lists); built on
    `parser`, a top parser without commands yet, if given."""
    parser = _top_parser() if parser is None else parser
    wanted = modules() if only is None else [COMMANDS[only].module] if only in COMMANDS else []
    commands = _add_commands(parser, wanted)
    for name, entry in COMMANDS.items():
        if name not in commands.choices:  # a command not imported: never parsed in this run
            commands.add_parser(name, help=entry.summary, formatter_class=HelpFormatter)
    return parser


def lean_parser(word: str, parser: _Parser | None = None) -> _Parser:
    """The grammar of command `word` and of no other command: what a command line naming
    `word` needs when it is well formed (no summaries for `--help`)."""
    parser = _top_parser() if parser is None else parser
    _add_commands(parser, [COMMANDS[word].module], wanted=word)
    parser.lean = True
    return parser


def command_word(
    arguments: Sequence[str], parser: argparse.ArgumentParser | None = None
) -> str | None:
    """The sub-command in a command line: the first word that is not a global option or the
    value of one (None if there is none); `parser` is a top parser without commands yet."""
    takes_value = {
        option
        for action in (_top_parser() if parser is None else parser)._actions
        if action.nargs != 0
        for option in action.option_strings
    }
    words = iter(arguments)
    for word in words:
        if word == "--":
            return next(words, None)
        if not word.startswith("-"):
            return word
        if word in takes_value:  # "--endpoint=X" and "-p1" carry their value
            next(words, None)
    return None


def _parser_for(word: str | None, top: _Parser) -> argparse.ArgumentParser:
    if word is not None and word not in COMMANDS:
        # e.g. an abbreviated global option taking a value: let the whole grammar decide.
        return build_parser(parser=top)
    # No command (bare, --help, --version): every command's summary is enough.
    return build_parser(only=word or "", parser=top)


def _command_path(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The (sub-)commands chosen: ["orchestrator", "status"]."""
    path: list[str] = []
    while True:
        chosen = None
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = getattr(args, action.dest, None)
                if chosen in action.choices:
                    parser = action.choices[chosen]
                    break
        else:
            return path
        path.append(str(chosen))


def parse(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> argparse.Namespace:
    """Parse a command line; words left over are refused naming the command they follow (a
    command known by its summary only has no `run`: the caller parses again, with it whole)."""
    args, extra = parser.parse_known_args(arguments)
    if extra and getattr(args, "run", None) is not None:
        command = " ".join(["tessera", *_command_path(parser, args)])
        where = command.removeprefix("tessera").strip()
        raise CliError(
            f"{where + ': ' if where else ''}unrecognized arguments: {' '.join(extra)} "
            f"(see '{command} --help')",
            ExitCode.USAGE,
        )
    return args


def read(arguments: Sequence[str]) -> argparse.Namespace:
    """A command line read by the lean grammar of the command it names when that grammar reads
    it without complaint (it then reads it as the full one would: the other commands would not
    be chosen); anything else (help listing the commands, a usage error, a misread command
    word) is read again as before, so that it prints the same."""
    top = _top_parser()
    word = command_word(arguments, top)
    if word in COMMANDS:
        try:
            args = parse(lean_parser(word, top), arguments)
        except (CliError, _LeanGrammarError):
            pass
        else:
            if getattr(args, "run", None) is not None:
                return args
        top = _top_parser()  # that one holds the lean grammar
    args = parse(_parser_for(word, top), arguments)
    if getattr(args, "run", None) is None:  # the command word was misread: the whole grammar
        args = parse(build_parser(), arguments)
    return args
