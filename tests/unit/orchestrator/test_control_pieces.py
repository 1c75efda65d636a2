"""The parts of orchestrator control that need no daemon: the `run` grammar, refusals on the
wire, the record of one-off applications, and application log files."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest

from tessera.cli._errors import CliError, ExitCode
from tessera.cli.main import build_parser
from tessera.cli.orchestrator_cmd import _exit_code
from tessera.daemon.private_state import UnsafeStateError
from tessera.orchestrator import app_output
from tessera.orchestrator.refusals import Reason, RefusalError, decode_detail, encode_detail
from tessera.orchestrator.state import (
    RecordedInstance,
    RecordedLaunch,
    load_launches,
    load_state,
    save_state,
)
from tessera.trust.peer import Incarnation
from tessera.wire.status import Status, StatusError

# -- the grammar of `tessera orchestrator run` ---------------------------------------------------


def parse(line: str) -> dict[str, object]:
    args = vars(build_parser().parse_args(line.split()))
    return {k: args.get(k) for k in ("name", "app_command", "env", "restart", "working_dir")}


def test_options_after_the_name_are_options() -> None:
    assert parse("orchestrator run --env A=1 web --env B=2 --restart always -- prog --env C") == {
        "name": "web",
        "app_command": ["prog", "--env", "C"],
        "env": ["A=1", "B=2"],
        "restart": "always",
        "working_dir": None,
    }
    assert parse("orchestrator run web -C /srv -- prog")["working_dir"] == Path("/srv")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("orchestrator run web --bogus -- prog", "unrecognized arguments: --bogus ("),
        ("orchestrator run web prog", "unrecognized arguments: prog (the command goes after '--')"),
        ("orchestrator run web --", "no command"),
        ("orchestrator run web --restart sometimes -- prog", "invalid choice: 'sometimes'"),
        ("orchestrator run", "required: NAME"),
    ],
)
def test_run_usage_errors_are_one_line(line: str, problem: str) -> None:
    with pytest.raises(CliError) as caught:
        build_parser().parse_args(line.split())
    assert caught.value.code is ExitCode.USAGE
    assert str(caught.value).startswith("orchestrator run: ")
    assert problem in str(caught.value)


def test_actions_take_the_state_dir_and_json_after_the_action() -> None:
    args = build_parser().parse_args(["orchestrator", "status", "--state-dir", "/s", "--json"])
    assert (args.state_dir, args.json) == (Path("/s"), True)
    args = build_parser().parse_args(
        ["--json", "orchestrator", "--state-dir", "/t", "logs", "web", "-n", "3"]
    )
    assert (args.state_dir, args.json, args.lines) == (Path("/t"), True, 3)


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "status", "code"),
    [
        (Reason.NAME_IN_MANIFEST, Status.PSA_ERROR_ALREADY_EXISTS, ExitCode.ALREADY_EXISTS),
        (Reason.ALREADY_RUNNING, Status.PSA_ERROR_ALREADY_EXISTS, ExitCode.ALREADY_EXISTS),
        (Reason.NO_SUCH_APP, Status.PSA_ERROR_DOES_NOT_EXIST, ExitCode.NOT_FOUND),
        (Reason.INVALID_REQUEST, Status.PSA_ERROR_INVALID_ARGUMENT, ExitCode.USAGE),
        (Reason.START_FAILED, Status.PSA_ERROR_GENERIC_ERROR, ExitCode.APP_FAILED),
    ],
)
def test_a_refusal_travels_with_its_reason(reason: Reason, status: Status, code: ExitCode) -> None:
    refusal = RefusalError(reason, "why\nit was refused")
    assert refusal.status is status
    received = decode_detail(refusal.status, encode_detail(refusal))
    assert (received.reason, received.status, str(received)) == (
        reason,
        status,
        "why it was refused",
    )
    assert _exit_code(received) is code


def test_a_refusal_without_detail_says_its_status() -> None:
    received = decode_detail(Status.PSA_ERROR_INVALID_ARGUMENT, b"")
    assert str(received) == "an argument is invalid (PSA_ERROR_INVALID_ARGUMENT)"
    assert _exit_code(received) is ExitCode.USAGE
    garbled = decode_detail(Status.PSA_ERROR_GENERIC_ERROR, b"\xff\xff")
    assert _exit_code(garbled) is ExitCode.SERVICE
    plain = decode_detail(
        Status.OPCODE_DOES_NOT_EXIST, encode_detail(StatusError(Status.OPCODE_DOES_NOT_EXIST))
    )
    assert _exit_code(plain) is ExitCode.NOT_SUPPORTED


# -- the record of one-off applications ------------------------------------------------------------


def test_one_off_launches_are_recorded_next_to_the_instances(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.json"
    instances = [RecordedInstance("web", "web/0", Incarnation(10, 20), "f")]
    launches = [
        RecordedLaunch("web", ("/bin/web", "-v"), "/srv", (("PORT", "80"),), "always", True, None),
        RecordedLaunch("job", ("/bin/job",), None, (), "never", False, -15),
    ]
    save_state(path, instances, launches)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_state(path) == instances
    assert load_launches(path) == launches
    assert launches[0].entry() == {
        "name": "web",
        "command": ["/bin/web", "-v"],
        "env": {"PORT": "80"},
        "restart": "always",
        "working_dir": "/srv",
    }


def test_an_unreadable_launch_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.json"
    path.write_text(
        '{"instances": [], "one_off": [{"name": "x"}, 7, {"name": "y", "command": ["/y"]}]}'
    )
    assert [launch.name for launch in load_launches(path)] == ["y"]
    path.write_text('{"instances": []}')  # a record from before one-off applications were kept
    assert load_launches(path) == []


# -- application log files -------------------------------------------------------------------------


def test_an_instance_log_is_private_and_appended(tmp_path: Path) -> None:
    path = app_output.log_file(tmp_path, "web", 0)
    assert path == tmp_path / "logs" / "apps" / "web.0.log"
    for text in (b"one\n", b"two\n"):
        fd = app_output.open_for_append(path)
        os.write(fd, text)
        os.close(fd)
    assert path.read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    with pytest.raises(UnsafeStateError):
        app_output.open_for_append(path)


def test_tail_gives_the_last_lines_within_a_limit(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    assert app_output.tail(path, 2, 1 << 20) == (b"line 998\nline 999\n", True)
    output, truncated = app_output.tail(path, 0, 40)
    assert truncated and output.startswith(b"line ") and output.endswith(b"line 999\n")
    assert len(output) <= 40
    assert app_output.tail(tmp_path / "none.log", 5, 100) == (b"", False)


def test_the_copier_copies_whole_lines_and_the_rest_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"old\n")
    read_end, write_end = os.pipe()
    copier = app_output.Copier(write_end)

    async def follow() -> None:
        done = asyncio.Event()
        task = asyncio.create_task(copier.follow(path, 4, done))
        with path.open("ab") as file:
            file.write(b"new line\npart")
            file.flush()
            await asyncio.sleep(0.5)
            file.write(b"ial")
        done.set()
        await task

    asyncio.run(follow())
    expected = b"new line\npartial"
    os.set_blocking(read_end, False)
    copied = b""
    deadline = time.monotonic() + 5  # the writer thread may still be writing
    while copied != expected and time.monotonic() < deadline:
        try:
            copied += os.read(read_end, 100)
        except BlockingIOError:
            time.sleep(0.01)
    os.close(read_end)
    os.close(write_end)
    assert copied == expected
