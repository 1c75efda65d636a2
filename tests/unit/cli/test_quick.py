"""The quick reader (`tessera.cli._quick`) answers a command line as argparse does, or declines.

Differential: over every command, well-formed and malformed lines (hand-written and random),
whatever `_quick.read` returns is what argparse's grammar (`_grammar.read`, the reader of every
declined line) makes of the same line, and a line argparse refuses is always declined.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence

import pytest

from tessera.cli import _grammar, _quick
from tessera.cli._commands import COMMANDS
from tessera.cli._errors import CliError
from tessera.cli.main import build_parser
from tests.support import unmeasured_environment

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def comparable(args: object) -> dict[str, Any]:
    """A namespace's attributes, its `run` as the command function it wraps (`command()`
    makes a new wrapper at each registration)."""
    values = dict(vars(args))
    run = values.get("run")
    if run is not None and getattr(run, "__closure__", None):
        values["run"] = tuple(cell.cell_contents for cell in run.__closure__)
    return values


def argparse_reading(line: Sequence[str]) -> dict[str, Any] | None:
    """What argparse makes of the line, None if it refuses it (or prints help, a version)."""
    try:
        return comparable(_grammar.read(line))
    except (CliError, _grammar._LeanGrammarError):
        return None
    except SystemExit:
        return None


def agree(line: Sequence[str]) -> bool:
    """Whether the quick reader took the line; fails the test where the readers differ."""
    quick = _quick.read(line)
    if quick is None:
        return False
    expected = argparse_reading(line)
    assert expected is not None, f"argparse refuses {line!r}, the quick reader took it"
    assert comparable(quick) == expected, line
    return True


WELL_FORMED = [
    ["ping"],
    ["--json", "ping"],
    ["ping", "--json"],
    ["-v", "ping", "--json", "-v"],
    ["--endpoint", "/tmp/s.sock", "list-keys"],
    ["--endpoint=unix:/tmp/s.sock", "--json", "list-keys"],
    ["--app-name", "someone", "-t", "2.5", "list-keys"],
    ["--timeout", "0", "list-providers"],
    ["-p", "1", "sign", "-k", "k", "hello"],
    ["--provider", "0x01", "sign", "--key-name", "k", "hello"],
    ["--provider=2", "sign", "--key-name=k", "hello world"],
    ["sign", "hello", "-k", "k"],
    ["sign", "-k", "k", "-f", "-"],
    ["sign", "-k", "k", "--input-file", "/etc/hostname"],
    ["sign", "-k", "k", ""],
    ["sign", "-k", "", "x"],
    ["sign", "-k", "k", "-"],
    ["sign", "-k", "a", "-k", "b", "x"],
    ["--max-request-size", "4096", "sign", "-k", "k", "x"],
    ["verify", "-k", "k", "-s", "AAAA", "hello"],
    ["verify", "-s", "AAAA", "-k", "k", "--json", "hello"],
    ["encrypt", "-k", "k", "secret"],
    ["decrypt", "-k", "k", "AAAA", "-o", "/tmp/out.bin"],
    ["mac", "-k", "k", "data"],
    ["verify-mac", "-k", "k", "-m", "AAAA", "data"],
    ["generate-random", "-n", "16"],
    ["generate-random", "--nbytes=0"],
    ["hash", "abc"],
    ["hash", "--alg", "sha512", "abc"],
    ["hash", "-a", "sha3-256", "-f", "file.bin"],
    ["list-opcodes", "-p", "0"],
    ["-p", "1", "list-opcodes"],
    ["delete-client", "-c", "some-app"],
    ["list-clients"],
    ["list-authenticators", "-v"],
    ["delete-key", "-k", "k"],
    ["export-public-key", "-k", "k"],
    ["create-ecc-key", "-k", "k"],
]

MALFORMED = [
    ["--help"],
    ["-h"],
    ["--version"],
    ["ping", "--help"],
    ["sign", "-h"],
    ["--help", "ping"],
    ["nonsense"],
    ["--json"],
    ["--endpoint"],
    ["--endpoint", "--json", "ping"],
    ["--end", "/tmp/s", "ping"],  # an abbreviation: argparse's to read
    ["--js", "ping"],
    ["ping", "extra"],
    ["ping", "--js"],
    ["ping", "--json=yes"],
    ["--", "ping"],
    ["ping", "--"],
    ["-p", "256", "ping"],
    ["-p", "x", "ping"],
    ["-p1", "ping"],
    ["-p=1", "ping"],
    ["-t", "-1", "ping"],
    ["-t", "nan", "ping"],
    ["--max-request-size", "0", "ping"],
    ["sign", "hello"],
    ["sign", "-k"],
    ["sign", "-kk", "hello"],
    ["sign", "-k", "k", "a", "b"],
    ["sign", "-k", "k", "-5"],
    ["sign", "-k", "k", "-a b"],
    ["sign", "-k", "k", "--input", "f"],
    ["sign", "-k", "k", "-p", "1", "x"],
    ["sign", "--endpoint", "/tmp/s", "-k", "k", "x"],
    ["generate-random"],
    ["generate-random", "-n", "-1"],
    ["generate-random", "-n", "many"],
    ["hash", "--alg", "md7", "x"],
    ["hash", "--al", "sha256", "x"],
    ["list-opcodes", "-p", "300"],
    ["delete-client"],
    ["orchestrator"],
    ["orchestrator", "status"],
    ["audit", "show"],
    ["completion", "bash"],
    ["completion", "nosh"],
    ["service", "--help"],
    ["-"],
    [""],
]


@pytest.mark.parametrize("line", WELL_FORMED, ids=" ".join)
def test_well_formed_lines_are_read_as_argparse_reads_them(line: list[str]) -> None:
    assert agree(line)


@pytest.mark.parametrize("line", MALFORMED, ids=" ".join)
def test_lines_argparse_refuses_or_answers_itself_are_declined(line: list[str]) -> None:
    agree(line)  # (some are well formed for argparse: then both must agree)
    if argparse_reading(line) is None:
        assert _quick.read(line) is None


def subparser(name: str) -> argparse.ArgumentParser:
    for action in build_parser(only=name)._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser: argparse.ArgumentParser = action.choices[name]
            return parser
    raise AssertionError(name)


def words_of(parser: argparse.ArgumentParser) -> list[str]:
    """Option strings, their abbreviations and misspellings, and the choices of a parser."""
    words = []
    for action in parser._actions:
        for string in action.option_strings:
            words += [string, string[:-1], f"{string}=x", f"{string}=1"]
            if not string.startswith("--"):
                words.append(f"{string}x")
        words += [str(choice) for choice in action.choices or ()]
    return words


VALUES = ["x", "k", "", "-", "--", "-1", "0", "1", "255", "256", "0x10", "2.5", "nan", "a b"]
VALUES += ["-x", "sha256", "bash", "hello", "--json", "-v", "/tmp/f"]
TOP = ["--endpoint", "/tmp/s", "-p", "1", "--provider", "-t", "0", "--timeout", "--app-name"]
TOP += ["--max-request-size", "4096", "--json", "-v", "--verbose", "--version", "-h", "--end"]


def random_lines(name: str, count: int, seed: int) -> list[list[str]]:
    rng = random.Random(f"{seed}:{name}")
    own = words_of(subparser(name))
    lines = []
    for _ in range(count):
        top = [rng.choice(TOP + VALUES[:3]) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
        rest = [rng.choice(own + VALUES) for _ in range(rng.choice([0, 1, 2, 3, 4, 5, 6]))]
        lines.append([*top, name, *rest])
    return lines


def well_formed_lines(name: str, seed: int) -> list[list[str]]:
    """Lines made of a command's own options, each with a value its type takes."""
    rng = random.Random(f"well:{seed}:{name}")
    parser = subparser(name)
    good = {"nbytes": "8", "opcodes_provider": "1", "alg": "sha384", "bits": "2048"}
    lines = []
    for _ in range(20):
        words = []
        for action in rng.sample(parser._actions, len(parser._actions)):
            if not action.option_strings:
                if action.nargs != argparse.OPTIONAL or rng.random() < 0.7:
                    words.append(rng.choice(["hello", "", "-", "x y"]))
                continue
            if (not action.required and rng.random() < 0.5) or action.dest == "help":
                continue
            string = rng.choice(action.option_strings)
            if action.nargs == 0:
                words.append(string)
            elif action.choices:
                words += [string, str(rng.choice(list(action.choices)))]
            else:
                value = good.get(action.dest, rng.choice(["k", "/tmp/f", "-"]))
                words += [f"{string}={value}"] if string.startswith("--") else [string, value]
        lines.append([name, *words])
    return lines


@pytest.mark.parametrize("name", list(COMMANDS))
def test_random_lines_of_every_command_are_read_as_argparse_reads_them(name: str) -> None:
    taken = sum(agree(line) for line in well_formed_lines(name, 1) + random_lines(name, 60, 1))
    if COMMANDS[name].module in ("admin_cmd", "crypto_cmd"):
        assert taken > 0  # (the lines a script runs in a loop are the ones read quickly)


def test_the_quick_reader_reads_the_lines_of_the_commands_scripts_loop_on() -> None:
    lines = [line for name in COMMANDS for line in well_formed_lines(name, 2)]
    taken = Counter(line[0] for line in lines if agree(line))
    for name, entry in COMMANDS.items():
        if entry.module in ("admin_cmd", "crypto_cmd"):
            assert taken[name] > 0, name


def test_suppress_is_argparses() -> None:
    assert _quick.SUPPRESS == argparse.SUPPRESS


def test_a_declaration_using_more_of_argparse_is_declined() -> None:
    grammar = _quick.Grammar()
    with pytest.raises(_quick.DeclinedError):
        grammar.add_argument("--many", nargs="+")
    with pytest.raises(_quick.DeclinedError):
        grammar.add_argument("--count", action="count")
    with pytest.raises(_quick.DeclinedError):
        grammar.add_mutually_exclusive_group()
    recorder = _quick.Recorder("ping")
    with pytest.raises(_quick.DeclinedError):
        recorder.add_parser("ping", aliases=["p"])


def test_the_namespace_behaves_as_argparses() -> None:
    quick = _quick.Namespace(a=1, b="x")
    real = argparse.Namespace(a=1, b="x")
    assert quick == real and real == quick
    assert quick != argparse.Namespace(a=2, b="x")
    assert repr(quick) == repr(real)
    assert "a" in quick and "c" not in quick


def test_a_quick_line_imports_no_argparse() -> None:
    probe = (
        "import sys\nfrom tessera.cli.main import main\n"
        "main(['--endpoint', '/nonexistent/s', 'sign', '-k', 'k', 'hello'])\n"
        "print(' '.join(sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env=unmeasured_environment(),  # coverage.py imports re and more
    )
    modules = set(done.stdout.split())
    assert "tessera.cli.crypto_cmd" in modules  # it ran the command
    assert not modules & {"argparse", "re", "gettext", "locale", "tessera.cli._grammar"}
