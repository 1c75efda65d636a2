"""A command line naming one command builds that command's parser and no other command's
(start-up time: benchmarks/cli_startup.py); what the lean grammar cannot answer as the full one
would (help listing the commands, usage errors) is answered by the grammar that answered it
before."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pytest

from tessera.cli import _grammar
from tessera.cli import main as cli
from tessera.cli._commands import COMMANDS
from tessera.cli._errors import CliError, ExitCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The prog of every parser made (sub-parsers are made of the top parser's class)."""
    progs: Counter[str] = Counter()
    init = cli._Parser.__init__

    def recording(self: cli._Parser, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        progs[self.prog] += 1

    monkeypatch.setattr(cli._Parser, "__init__", recording)
    return progs


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["ping"], "ping"),
        (["--json", "list-keys"], "list-keys"),
        (["-p", "1", "sign", "-k", "k", "hello"], "sign"),
        (["verify-mac", "-k", "k", "-m", "AAAA", "hello"], "verify-mac"),
    ],
)
def test_a_command_builds_its_own_parser_only_and_one_top_parser(
    argv: list[str], word: str, built: Counter[str], tmp_path: Path
) -> None:
    line = ["--endpoint", str(tmp_path / "none.sock"), *argv]
    code = cli.main(line)
    assert code == ExitCode.TRANSPORT  # it ran, and found no service
    assert built == Counter()  # read by the quick reader: no argparse parser (test_quick.py)
    # argparse, reading it, builds the top parser and that command's alone (not the other
    # commands of its module, nor the summaries of the others; the command word is found with
    # the parser that reads the line)
    _grammar.read(line)
    assert built == Counter(["tessera", f"tessera {word}"])


def commands_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@pytest.fixture(scope="module")
def whole() -> dict[str, argparse.ArgumentParser]:
    return commands_of(cli.build_parser())


@pytest.mark.parametrize("word", COMMANDS)
def test_every_lean_grammar_holds_its_command_alone_as_the_whole_grammar_does(
    word: str, whole: dict[str, argparse.ArgumentParser]
) -> None:
    commands = commands_of(cli.lean_parser(word))
    assert list(commands) == [word]
    assert commands[word].format_help() == whole[word].format_help()


@pytest.mark.parametrize("argv", [[], ["--help"], ["--json", "-h"]])
def test_help_builds_one_top_parser_and_a_summary_of_every_command(
    argv: list[str], built: Counter[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == ExitCode.OK
    assert "list-keys" in capsys.readouterr().out
    assert built == Counter(["tessera", *(f"tessera {name}" for name in COMMANDS)])


def test_help_before_a_command_lists_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--help", "ping"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out == cli.build_parser(only="ping").format_help()
    for name in COMMANDS:
        assert f"\n    {name} " in out or f"\n    {name}\n" in out, name


def test_a_lean_grammar_prints_no_help_of_its_own() -> None:
    with pytest.raises(cli._LeanGrammarError):
        cli.lean_parser("ping").parse_args(["--help"])


def test_a_usage_error_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    # "ping" is the value of the abbreviated --app-name: argparse reads the command `bogus`.
    argv = ["--app-n", "ping", "bogus"]
    assert cli.main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    with pytest.raises(CliError) as caught:  # the grammar that read it before the lean one
        cli.build_parser(only="ping").parse_args(argv)
    assert err == f"tessera: {caught.value}\n"
    assert all(f"'{name}'" in err for name in COMMANDS)


def test_a_lean_grammar_reads_a_command_as_the_full_one() -> None:
    argv = ["--endpoint", "/s", "-t", "5", "--json", "sign", "-k", "k", "--input-file", "f"]
    lean = vars(cli.lean_parser("sign").parse_args(argv))
    full = vars(cli.build_parser().parse_args(argv))
    run = lean.pop("run"), full.pop("run")  # each registration wraps the function anew
    assert run[0].__doc__ == run[1].__doc__
    assert lean == full
