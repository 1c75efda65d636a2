"""`tessera up`'s supervisor on small stand-in daemons: order, readiness, restarts, stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from tessera.orchestrator.lifecycle import State
from tessera.trust.peer import Incarnation, is_alive
from tessera.up.supervisor import Component, SystemSupervisor

# A stand-in daemon: notes its start, listens on its socket, runs until signalled.
DAEMON = """
import os, socket, sys, time
if os.path.exists(sys.argv[1]):
    os.unlink(sys.argv[1])  # left by a predecessor killed with -9
with open(sys.argv[2], "a") as starts:
    starts.write(sys.argv[3] + "\\n")
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen()
time.sleep(60)
"""


def daemon(tmp_path: Path, name: str) -> Component:
    socket = tmp_path / f"{name}.sock"
    command = [sys.executable, "-c", DAEMON, str(socket), str(tmp_path / "starts"), name]
    return Component(name, [], socket, tmp_path / f"{name}.log", command=command)


def test_in_order_restarted_when_killed_and_stopped_in_reverse(tmp_path: Path) -> None:
    components = [daemon(tmp_path, name) for name in ("first", "second", "third")]
    supervisor = SystemSupervisor(components, stop_timeout=5.0)
    starts = tmp_path / "starts"
    seen: dict[str, list[Incarnation | None]] = {}
    scenario: list[asyncio.Task[None]] = []

    async def kill_the_second_then_stop() -> None:
        seen["before"] = [c.incarnation for c in components]
        victim = components[1]
        assert victim.incarnation is not None
        os.kill(victim.incarnation.pid, signal.SIGKILL)
        while not (victim.restarts == 1 and len(starts.read_text().split()) == 4):
            await asyncio.sleep(0.02)
        seen["after"] = [c.incarnation for c in components]
        os.kill(os.getpid(), signal.SIGTERM)  # as `tessera down` does

    def on_ready() -> None:
        scenario.append(asyncio.get_running_loop().create_task(kill_the_second_then_stop()))

    assert supervisor.run(on_ready=on_ready) == 0
    assert starts.read_text().split() == ["first", "second", "third", "second"]
    before, after = seen["before"], seen["after"]
    assert before[0] == after[0] and before[2] == after[2] and before[1] != after[1]
    assert all(i is not None and not is_alive(i) for i in before + after)
    assert [c.state for c in components] == [State.STOPPED] * 3
    assert [c.restarts for c in components] == [0, 1, 0]


def test_a_component_that_ends_before_answering_fails_the_start_with_its_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = daemon(tmp_path, "first")
    broken = Component(
        "broken",
        [],
        tmp_path / "broken.sock",
        tmp_path / "broken.log",
        command=[sys.executable, "-c", "raise SystemExit('broken: no configuration here')"],
    )
    last = daemon(tmp_path, "last")
    with caplog.at_level(logging.ERROR, logger="tessera.up.supervisor"):
        assert SystemSupervisor([first, broken, last]).run() == 1
    assert "broken did not start (broken: no configuration here)" in caplog.text
    assert (tmp_path / "starts").read_text().split() == ["first"]  # nothing after it started
    assert first.incarnation is None or not is_alive(first.incarnation)
    assert broken.restarts == 0 and broken.state is State.STOPPED
