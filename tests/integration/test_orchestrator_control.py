"""Managing a running orchestrator's applications from the CLI (issue 10, defect 3): refusals
that say why, the `run` grammar, one-off applications across orchestrator restarts, and stop,
restart, logs and status.

Real security service, identity provider and orchestrator (the harness of test_orchestrator),
with one manifest application, `steady`; the one-off applications are launched by each test.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.trust.peer import is_alive
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import control_error_pb2, launch_app_pb2
from tessera.wire.status import Status
from tests.integration.test_orchestrator import (
    System,
    app_command,
    eventually,
    kill_orchestrator,
    launched,
    restarted,
    running_incarnation,
    running_system,
    spiffe,
    wait_running,
    whoami,
)
from tests.support import call, stop_service


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    def manifest(apps_dir: Path) -> list[dict[str, Any]]:
        return [{"name": "steady", "command": app_command(apps_dir, "steady"), "restart": "always"}]

    with running_system(request, "ts-ctl-", manifest) as built:
        yield built


def tessera(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    """`tessera orchestrator ACTION ...` against the system's orchestrator."""
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", "orchestrator", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=system.env,
        check=False,
        cwd=system.apps_dir,
    )


def control(system: System, action: str, *args: str) -> subprocess.CompletedProcess[str]:
    """An action with the control socket given after it."""
    return tessera(system, action, "--control-socket", str(system.control), *args)


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], code: int, line: str) -> None:
    """The command failed with exit status `code` and exactly one line on stderr."""
    assert (result.returncode, result.stderr) == (code, f"tessera: {line}\n")
    assert result.stdout == ""


def script(system: System, name: str, body: str) -> list[str]:
    """A Python program in the apps' directory (so teardown finds what it leaves running)."""
    path = system.apps_dir / f"{name}.py"
    path.write_text(body)
    return [sys.executable, str(path)]


def shown(system: System) -> dict[str, dict[str, Any]]:
    """`status --json`, by application name."""
    output = succeeded(
        tessera(system, "--state-dir", str(system.base / "orch"), "status", "--json")
    )
    return {app["name"]: app for app in json.loads(output)["apps"]}


def instance(system: System, name: str) -> dict[str, Any]:
    instances = shown(system)[name]["instances"]
    assert len(instances) == 1
    return dict(instances[0])


SLEEPER = "import time\nprint('up', flush=True)\ntime.sleep(600)\n"


# -- the reason reaches the user -----------------------------------------------------------------


def test_a_refused_run_says_why(system: System) -> None:
    wait_running(system, "steady")
    sleeper = script(system, "sleeper", SLEEPER)
    refused(
        control(system, "run", "steady", "--", *sleeper),
        6,
        "orchestrator run: an app named 'steady' is already in the manifest",
    )
    first = json.loads(succeeded(control(system, "run", "--json", "busy", "--", *sleeper)))
    refused(
        control(system, "run", "busy", "--", *sleeper),
        6,
        f"orchestrator run: an app named 'busy' is already running (pid {first['pid']}): "
        "stop it first, or choose another name",
    )
    refused(
        control(system, "run", "ghost", "--", "no-such-program-here"),
        13,
        "orchestrator run: cannot start 'ghost': no executable 'no-such-program-here' on its PATH",
    )
    plain = system.apps_dir / "not-executable"
    plain.write_text("#!/bin/sh\n")
    refused(
        control(system, "run", "plain", "--", str(plain)),
        13,
        f"orchestrator run: cannot start 'plain': {plain}: Permission denied",
    )
    refused(
        control(system, "run", "-C", "/no/such/dir", "lost", "--", *sleeper),
        13,
        "orchestrator run: cannot start 'lost': its working directory /no/such/dir: "
        "No such file or directory",
    )
    refused(
        control(system, "run", "bad/name", "--", *sleeper),
        2,
        "orchestrator run: app name 'bad/name' must be 1-63 letters, digits, '.', '_' or '-'",
    )
    # a launch that did not start leaves nothing behind: no record, no log file
    assert {"ghost", "plain", "lost", "bad/name"}.isdisjoint(shown(system))
    apps_logs = system.base / "orch" / "logs" / "apps"
    assert not [p.name for p in apps_logs.glob("*") if p.name.split(".")[0] in ("ghost", "plain")]
    for action in ("stop", "restart", "logs"):
        refused(
            control(system, action, "nobody"), 5, f"orchestrator {action}: no app named 'nobody'"
        )
    missing = system.base / "nowhere.sock"
    result = tessera(system, "status", "--control-socket", str(missing))
    assert result.returncode == 11
    assert result.stderr.startswith(f"tessera: no orchestrator at {missing}: cannot reach")
    succeeded(control(system, "stop", "busy"))


def test_an_app_that_exits_before_it_is_registered_is_refused(system: System) -> None:
    """`run` returns once the app is registered; one that exits first is START_FAILED."""
    refused(
        control(system, "run", "false", "--", "/bin/false"),
        13,
        "orchestrator run: cannot start 'false': it exited with status 1 before it was "
        "registered (see: tessera orchestrator logs false)",
    )
    refused(
        control(system, "run", "quitter", "--", "/bin/sh", "-c", "echo bye; exit 3"),
        13,
        "orchestrator run: cannot start 'quitter': it exited with status 3 before it was "
        "registered (see: tessera orchestrator logs quitter)",
    )
    # it ran: its end and its output stay for the user to look at
    listed = instance(system, "quitter")
    assert (listed["state"], listed["exit_status"]) == ("stopped", 3)
    assert succeeded(control(system, "logs", "quitter")) == "bye\n"
    # and restarting it is refused the same way, not a success showing it stopped
    refused(
        control(system, "restart", "false"),
        13,
        "orchestrator restart: cannot start 'false': it exited with status 1 before it was "
        "registered (see: tessera orchestrator logs false)",
    )


def test_the_wire_answer_carries_the_reason(system: System) -> None:
    """A refusal's body is an ErrorDetail (docs/orchestrator.md), its status the family."""
    request = launch_app_pb2.Operation(name="steady", command=["/bin/true"])
    response = call(system.control, Opcode.LAUNCH_APP, request)
    assert response.header.status == Status.PSA_ERROR_ALREADY_EXISTS
    detail = control_error_pb2.ErrorDetail.FromString(response.body)
    assert detail.reason == control_error_pb2.NAME_IN_MANIFEST
    assert detail.message == "an app named 'steady' is already in the manifest"


# -- the grammar of run ----------------------------------------------------------------------------


def test_options_after_the_name_are_options_and_the_command_follows_dashes(
    system: System,
) -> None:
    printer = script(
        system,
        "printer",
        "import os, sys, time\n"
        "print('GREETING=' + os.environ.get('GREETING', '-'), 'ARGS=' + ' '.join(sys.argv[1:]),"
        " flush=True)\n"
        "time.sleep(600)\n",
    )
    result = control(
        system,
        "run",
        "greeter",
        "--env",
        "GREETING=hello",
        "--restart",
        "on-failure",
        "--",
        *printer,
        "--env",
        "not-an-option",
    )
    succeeded(result)
    app = shown(system)["greeter"]
    assert app["command"] == [*printer, "--env", "not-an-option"]
    assert app["restart"] == "on-failure"
    assert app["one_off"] is True
    line = "GREETING=hello ARGS=--env not-an-option\n"
    eventually(system, lambda: succeeded(control(system, "logs", "greeter")) == line, "output")
    # a bare unknown option, or a command without '--', is a usage error: nothing is launched
    refused(
        control(system, "run", "odd", "--bogus", "--", *printer),
        2,
        "orchestrator run: unrecognized arguments: --bogus (see 'tessera orchestrator run --help')",
    )
    refused(
        control(system, "run", "odd", *printer),
        2,
        f"orchestrator run: unrecognized arguments: {' '.join(printer)} (the command goes after "
        "'--') (see 'tessera orchestrator run --help')",
    )
    assert "odd" not in shown(system)
    help_text = succeeded(tessera(system, "run", "--help"))
    assert "NAME [OPTIONS] -- COMMAND [ARGS...]" in help_text
    succeeded(control(system, "stop", "greeter"))


# -- stop, restart, logs, status ---------------------------------------------------------------


def test_stop_restart_logs_and_status(system: System) -> None:
    chatty = script(
        system,
        "chatty",
        "import sys, time\n"
        "for i in range(300):\n    print('line', i, flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "time.sleep(600)\n",
    )
    pid = json.loads(succeeded(control(system, "run", "--json", "chatty", "--", *chatty)))["pid"]
    log_file = system.base / "orch" / "logs" / "apps" / "chatty.0.log"
    expected_tail = "line 298\nline 299\nto stderr\n"
    eventually(
        system,
        lambda: succeeded(control(system, "logs", "chatty", "--lines", "3")) == expected_tail,
        "the output in the log",
    )
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    listed = instance(system, "chatty")
    assert listed | {"log_file": str(log_file)} == {
        "client_id": "chatty/0",
        "pid": pid,
        "state": "running",
        "restarts": 0,
        "exit_status": None,
        "last_exit": None,
        "error": "",
        "log_file": str(log_file),
    }
    lines = succeeded(control(system, "status")).splitlines()
    assert lines[0].split() == ["INSTANCE", "STATE", "PID", "RESTARTS", "LAST", "EXIT", "IDENTITY"]
    row = next(line.split() for line in lines if line.startswith("chatty/0 "))
    assert row == ["chatty/0", "running", str(pid), "0", "-", spiffe("chatty"), "(one-off)"]

    process = running_incarnation(pid)
    stopped = json.loads(succeeded(control(system, "stop", "chatty", "--json")))
    assert [(i["state"], i["pid"], i["last_exit"]) for i in stopped["apps"][0]["instances"]] == [
        ("stopped", 0, "SIGTERM")
    ]
    assert not is_alive(process)
    time.sleep(1.0)  # it stays stopped (restart "never" anyway; see steady below)
    assert instance(system, "chatty")["state"] == "stopped"

    again = json.loads(succeeded(control(system, "restart", "chatty", "--json")))
    new_pid = again["apps"][0]["instances"][0]["pid"]
    assert new_pid not in (0, pid)
    assert again["apps"][0]["spiffe_id"] == spiffe("chatty")
    # the running instance has no last exit yet: the previous run's end is not its
    assert again["apps"][0]["instances"][0]["last_exit"] is None
    row = next(
        line.split()
        for line in succeeded(control(system, "status")).splitlines()
        if line.startswith("chatty/0 ")
    )
    assert row[:5] == ["chatty/0", "running", str(new_pid), "0", "-"]
    eventually(
        system,
        lambda: succeeded(control(system, "logs", "chatty", "-n", "0")).count("line 299\n") == 2,
        "the second run's output after the first's",
    )
    succeeded(control(system, "stop", "chatty"))


def test_a_failing_app_shows_its_exit_status_and_restarts(system: System) -> None:
    crasher = script(
        system,
        "crasher",
        "import sys, time\ntime.sleep(1)\nprint('giving up', file=sys.stderr)\nsys.exit(3)\n",
    )
    succeeded(control(system, "run", "crasher", "--restart", "on-failure", "--", *crasher))
    eventually(
        system,
        lambda: (i := instance(system, "crasher"))["exit_status"] == 3 and i["restarts"] >= 1,
        "a failed run and a restart",
    )
    assert "giving up\n" in succeeded(control(system, "logs", "crasher"))
    started = time.monotonic()
    succeeded(control(system, "stop", "crasher"))  # even while it waits to restart
    assert time.monotonic() - started < 5
    assert instance(system, "crasher")["state"] == "stopped"


def test_a_manifest_app_can_be_stopped_and_restarted(system: System) -> None:
    pid = wait_running(system, "steady")
    process = running_incarnation(pid)
    succeeded(control(system, "stop", "steady"))
    assert not is_alive(process)
    time.sleep(1.5)  # restart "always", yet stopped on request: it stays stopped
    assert instance(system, "steady")["state"] == "stopped"
    succeeded(control(system, "restart", "steady"))
    new_pid = wait_running(system, "steady", not_pid=pid)
    assert whoami(system.app_socket("steady/0"), new_pid)["spiffe_id"] == spiffe("steady")


# -- one-off applications across orchestrator restarts -----------------------------------------


def test_one_off_apps_survive_orchestrator_restarts(system: System) -> None:
    wait_running(system, "steady")
    _, kept = launched(system, "keeper-once")  # restart "never"
    sleeper = script(system, "phoenix", SLEEPER)
    # (options before NAME and the printed line: as the CLI has always taken and given them)
    output = succeeded(control(system, "run", "--restart", "always", "phoenix", "--", *sleeper))
    reborn = int(output.split()[2])
    kept_process = running_incarnation(kept)

    # kill -9: keeper-once runs on and is re-attached; phoenix dies meanwhile and is restarted
    kill_orchestrator(system)
    os.kill(reborn, signal.SIGKILL)
    restarted(system)
    assert wait_running(system, "keeper-once") == kept
    assert whoami(system.app_socket("keeper-once/0"), kept)["spiffe_id"] == spiffe("keeper-once")
    phoenix = wait_running(system, "phoenix", not_pid=reborn)
    assert shown(system)["keeper-once"]["one_off"] is True
    assert "no longer in the manifest" not in system.logs()
    assert is_alive(kept_process)

    # a graceful stop ends them all; the next start brings back what restarts "always"
    assert system.orchestrator is not None
    assert stop_service(system.orchestrator) == 0
    restarted(system)
    assert wait_running(system, "phoenix", not_pid=phoenix)
    eventually(
        system,
        lambda: instance(system, "keeper-once")["state"] == "stopped",
        "keeper-once to be shown stopped",
    )
    succeeded(control(system, "stop", "phoenix"))
