"""The whole system under `tessera up`: kill -9 any component while an application works.

The supervisor restarts what died; roots are re-shared, intermediates re-sent, clients replayed;
the application's operations all succeed (retries stay inside the client library) and its key
survives every restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import trust_status_pb2
from tests.support import call

REPO = Path(__file__).resolve().parents[2]


def read_results(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def wait_for(condition: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def component_pid(state: Path, name: str) -> int:
    """The pid of a component, found through its socket's peer (the daemon serving it)."""
    import socket as socket_module
    import struct

    with socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_STREAM) as probe:
        probe.connect(os.fspath(state / "run" / name))
        raw = probe.getsockopt(socket_module.SOL_SOCKET, socket_module.SO_PEERCRED, 12)
    pid: int = struct.unpack("3i", raw)[0]
    return pid


@pytest.fixture(scope="module")
def system() -> Iterator[tuple[Path, Path, subprocess.Popen[str]]]:
    state = Path(tempfile.mkdtemp(prefix="ts-sys-", dir="/tmp"))
    results = state / "results.json"
    manifest = state / "manifest.toml"
    manifest.write_text(
        f"""
[[app]]
name = "worker"
command = ["{sys.executable}", "-m", "tests.integration.system_app", "{results}"]
working_dir = "{REPO}"
restart = "always"
env = {{ PYTHONPATH = "{REPO / "src"}{os.pathsep}{REPO}" }}
"""
    )
    output = (state / "up.out").open("w")
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tessera.cli.main",
            "up",
            "--allow-root",
            "--state-dir",
            str(state),
            "--manifest",
            str(manifest),
            "--heartbeat",
            "0.3",
            "--log-level",
            "debug",
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(lambda: read_results(results).get("done", 0) > 5, what="the worker to start")
        yield state, results, up
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        output.close()


def progress_after_kill(state: Path, results: Path, socket_name: str) -> None:
    victim = component_pid(state, socket_name)
    before = read_results(results).get("done", 0)
    os.kill(victim, signal.SIGKILL)
    # the supervisor restarts it (a different process answers on the socket) ...
    wait_for(lambda: _answered_by_another(state, socket_name, victim), what="a restart")
    # ... and the application keeps working: at least 20 more operations
    wait_for(lambda: read_results(results).get("done", 0) > before + 20, what="progress")


def _answered_by_another(state: Path, socket_name: str, old: int) -> bool:
    try:
        return component_pid(state, socket_name) != old
    except OSError:
        return False


def test_kill_the_service(system: Any) -> None:
    state, results, _ = system
    progress_after_kill(state, results, "parsec.sock")
    # the identity provider re-shared its trust with the new service
    held = trust_status_pb2.Result.FromString(
        call(state / "run" / "parsec.sock", Opcode.TRUST_STATUS, trust_status_pb2.Operation()).body
    )
    assert held.has_root and held.intermediate_kid


def test_kill_the_identity_provider(system: Any) -> None:
    state, results, _ = system
    progress_after_kill(state, results, "identity.sock")


def test_kill_the_orchestrator(system: Any) -> None:
    state, results, _ = system
    worker = read_results(results)["pid"]
    progress_after_kill(state, results, "orchestrator.sock")
    # re-attached, not duplicated: the same worker process goes on
    assert read_results(results)["pid"] == worker


def test_nothing_failed_and_the_key_survived(system: Any) -> None:
    _, results, _ = system
    outcome = read_results(results)
    assert outcome["failures"] == []
    assert "durable" in outcome["keys"]
    assert outcome["done"] > 60


def test_stop_stops_everything_in_order(system: Any) -> None:
    state, results, up = system
    worker = read_results(results)["pid"]
    up.send_signal(signal.SIGTERM)
    assert up.wait(60) == 0
    assert not Path(f"/proc/{worker}").exists() or _is_zombie(worker)
    for name in ("parsec.sock", "identity.sock", "orchestrator.sock"):
        assert not (state / "run" / name).exists(), f"{name} was left behind"
    log = (state / "up.out").read_text()
    assert "tessera up: stopped" in log


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
