"""The `tessera` command line: the table of commands, help, options before and after a command,
completion scripts."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from tessera.cli import completion_cmd
from tessera.cli._commands import COMMANDS
from tessera.cli._errors import CliError, ExitCode
from tessera.cli.main import build_parser, command_word, main


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def defined(parser: argparse.ArgumentParser) -> bool:
    """A command's own parser, not the placeholder listing it in `tessera --help`."""
    return parser.get_default("run") is not None or bool(subparsers(parser))


def test_the_table_names_every_command_and_the_module_defining_it() -> None:
    assert set(subparsers(build_parser())) == set(COMMANDS)
    for name, entry in COMMANDS.items():
        grammar = subparsers(build_parser(only=name))
        assert defined(grammar[name]), name
        # Only that command's module was imported and registered.
        assert {n for n, p in grammar.items() if defined(p)} == {
            n for n, e in COMMANDS.items() if e.module == entry.module
        }


def every_parser(
    parser: argparse.ArgumentParser, path: str = "tessera"
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for name, sub in subparsers(parser).items():
        found.append((f"{path} {name}", sub))
        found += every_parser(sub, f"{path} {name}")
    return found


def test_every_command_and_action_has_a_description_and_examples() -> None:
    parsers = every_parser(build_parser())
    assert len(parsers) > len(COMMANDS)  # actions too
    for path, parser in parsers:
        assert parser.description, path
        assert parser.epilog is not None and "examples:\n  " in parser.epilog, path
        assert "tessera " in parser.epilog.split("examples:", 1)[1], path
        assert "examples:" in parser.format_help(), path


def test_bare_tessera_prints_help_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "COMMAND" in out and "list-keys" in out and "examples:" in out


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["ping"], "ping"),
        (["--endpoint", "/s", "-p", "1", "list-keys"], "list-keys"),
        (["--endpoint=/s", "-p1", "--json", "sign", "x"], "sign"),
        (["-t", "5", "--app-name", "a", "-v", "orchestrator", "status"], "orchestrator"),
        (["--json"], None),
        (["--", "ping"], "ping"),
    ],
)
def test_the_command_word_skips_global_options_and_their_values(
    argv: list[str], word: str | None
) -> None:
    assert command_word(argv) == word


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "list-keys"],
        ["list-keys", "--json"],
        ["--json", "orchestrator", "status"],
        ["orchestrator", "status", "--json"],
        ["status", "--json"],
        ["--json", "status"],
        ["ping", "--json"],
    ],
)
def test_json_is_accepted_before_and_after_the_command(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).json is True


def test_verbose_is_accepted_before_and_after_a_client_command() -> None:
    assert build_parser().parse_args(["-v", "ping"]).verbose is True
    assert build_parser().parse_args(["list-keys", "--verbose"]).verbose is True
    assert build_parser().parse_args(["list-keys"]).verbose is False


@pytest.mark.parametrize(
    "line",
    [
        "orchestrator status --bogus",
        "orchestrator stop web --restart always",
        "orchestrator logs web extra",
        "list-keys --bogus",
    ],
)
def test_unknown_options_after_a_command_are_refused_in_one_line(line: str) -> None:
    with pytest.raises(CliError) as caught:
        build_parser().parse_args(line.split())
    assert caught.value.code is ExitCode.USAGE
    assert "unrecognized arguments" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_max_request_size_is_a_positive_number_of_bytes() -> None:
    args = build_parser().parse_args(["--max-request-size", "65536", "sign", "-k", "k", "x"])
    assert args.max_request_size == 65536
    with pytest.raises(CliError, match="positive number of bytes"):
        build_parser().parse_args(["--max-request-size", "0", "ping"])


# -- completion --------------------------------------------------------------------------------


def bash_complete(script: str, words: list[str]) -> list[str]:
    """COMPREPLY of the generated function for a command line (the last word being typed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _tessera\n"
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("words", "expected", "absent"),
    [
        (["tessera", "pi"], {"ping"}, {"list-keys"}),
        (["tessera", "--endpoint", "/s", "list-k"], {"list-keys"}, {"ping"}),
        (["tessera", "orchestrator", "st"], {"status", "stop"}, {"status-x"}),
        (["tessera", "orchestrator", "status", "--j"], {"--json"}, {"--alg"}),
        (["tessera", "hash", "--alg", "sha3-2"], {"sha3-224", "sha3-256"}, {"sha256"}),
        (["tessera", "completion", ""], {"bash", "zsh", "fish"}, set()),
        (["tessera", "create-rsa-key", "--"], {"--bits", "--oaep", "--json"}, {"--alg"}),
    ],
)
def test_the_bash_script_completes_commands_actions_options_and_choices(
    words: list[str], expected: set[str], absent: set[str]
) -> None:
    grammar = completion_cmd.Grammar.of(build_parser())
    script = completion_cmd.bash_script(grammar)
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    offered = set(bash_complete(script, words))
    assert expected <= offered
    assert not absent & offered


def test_the_zsh_and_fish_scripts_cover_every_command() -> None:
    grammar = completion_cmd.Grammar.of(build_parser())
    zsh = completion_cmd.bash_script(grammar, zsh=True)
    assert zsh.splitlines()[1] == "autoload -U +X bashcompinit && bashcompinit"
    fish = completion_cmd.fish_script(grammar)
    for name in COMMANDS:
        assert f"-n '__fish_use_subcommand' -a {name} -d " in fish
    assert "__fish_seen_subcommand_from orchestrator; and __fish_seen_subcommand_from logs" in fish
    assert "-l alg -x -a 'md2 md4 md5" in fish
    for shell in ("zsh", "fish"):
        if shutil.which(shell):  # checked where the shell is installed
            script = zsh if shell == "zsh" else fish
            subprocess.run([shell, "-n"], input=script, text=True, check=True)


@pytest.mark.parametrize(
    ("argv", "where"),
    [
        (["orchestrator", "status", "--bogus"], "orchestrator status"),
        (["orchestrator", "stop", "web", "--env", "A=1"], "orchestrator stop"),
        (["list-keys", "extra"], "list-keys"),
    ],
)
def test_words_left_over_are_refused_naming_the_command(
    argv: list[str], where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"tessera: {where}: unrecognized arguments: ")
    assert err.endswith(f"(see 'tessera {where} --help')\n") and err.count("\n") == 1


def test_a_misread_command_word_falls_back_to_the_whole_grammar(tmp_path: Path) -> None:
    # An abbreviated option taking a value (argparse allows it): the scan takes its value,
    # "ping", for the command; argparse reads --app-name ping, then the command `status`.
    argv = ["--app-n", "ping", "status", "--state-dir", str(tmp_path)]
    assert command_word(argv) == "ping"
    assert main(argv) == ExitCode.NOT_FOUND  # status ran: no tessera up on that directory
    argv = ["-vp", "1", "--endpoint", str(tmp_path / "none.sock"), "ping"]
    assert command_word(argv) == "1"
    assert main(argv) == ExitCode.TRANSPORT  # it did try to ping
