"""`tessera up` owns its state directory: one instance, children that die with it, status, down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.client_support import short_dir

STARTUP = 60.0
UP = [sys.executable, "-m", "tessera.cli.main", "up", "--allow-root", "--no-demo"]


def tessera(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run the tessera command and capture what it says."""
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_up(state: Path) -> subprocess.Popen[str]:
    """`tessera up` without the demo, in its own session; returns once everything answers."""
    up = subprocess.Popen(
        [*UP, "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + STARTUP
    while tessera("status", "--state-dir", str(state)).returncode != 0:
        assert up.poll() is None, "tessera up exited"
        assert time.monotonic() < deadline, "the system did not come up"
        time.sleep(0.2)
    return up


def gone(pid: int) -> bool:
    """True once the process has ended (a zombie awaiting its parent counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.fixture
def state() -> Iterator[Path]:
    with short_dir() as path:
        yield path


def test_one_instance_status_and_children_die_with_it(state: Path) -> None:
    up = start_up(state)
    try:
        status = tessera("--json", "status", "--state-dir", str(state))
        assert status.returncode == 0, status.stderr
        system = json.loads(status.stdout)
        assert system["pid"] == up.pid
        names = [c["name"] for c in system["components"]]
        assert names == ["security service", "identity provider", "orchestrator"]
        assert all(c["answering"] and c["restarts"] == 0 for c in system["components"])
        pids = [c["pid"] for c in system["components"]]

        # A second instance on the same state directory is refused at once, naming the first.
        second = tessera("up", "--allow-root", "--no-demo", "--state-dir", str(state), timeout=30)
        assert second.returncode == 3
        assert f"pid {up.pid}" in second.stderr and "Traceback" not in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1

        # kill -9 of the supervisor leaves no orphan behind.
        os.kill(up.pid, signal.SIGKILL)
        up.wait(10)
        deadline = time.monotonic() + 30
        while not all(gone(pid) for pid in pids):
            assert time.monotonic() < deadline, "components outlived tessera up"
            time.sleep(0.1)
        after = tessera("status", "--state-dir", str(state))
        assert after.returncode == 5 and "no tessera up is running" in after.stderr
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_down_stops_everything_in_order(state: Path) -> None:
    up = start_up(state)
    try:
        status = json.loads(tessera("--json", "status", "--state-dir", str(state)).stdout)
        pids = [c["pid"] for c in status["components"]]
        down = tessera("down", "--state-dir", str(state))
        assert down.returncode == 0, down.stderr
        assert up.wait(10) == 0
        assert all(gone(pid) for pid in pids)
        for name in ("parsec.sock", "identity.sock", "orchestrator.sock"):
            assert not (state / "run" / name).exists()
        again = tessera("down", "--state-dir", str(state))
        assert again.returncode == 5 and "no tessera up is running" in again.stderr
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_a_component_that_cannot_start_is_reported_in_one_line(state: Path) -> None:
    (state / "logs").write_text("not a directory\n")  # where the component logs cannot go
    failed = tessera("up", "--allow-root", "--no-demo", "--state-dir", str(state), timeout=60)
    assert failed.returncode == 3
    assert "Traceback" not in failed.stderr
    assert "cannot start the security service" in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].startswith("tessera: the system did not start")
