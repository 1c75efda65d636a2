"""`tessera up`'s supervisor on small stand-in daemons: order, readiness, restarts, stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from tessera.daemon.lifecycle import State
from tessera.trust.peer import Incarnation, is_alive
from tessera.up.supervisor import Component, SystemSupervisor

# A stand-in daemon: notes its start, listens on its socket (after `delay` seconds), runs
# until signalled (its first run: for `first_run` seconds, if not 0).
DAEMON = """
import os, socket, sys, time
path, starts, name, delay, first_run = sys.argv[1:]
if os.path.exists(path):
    os.unlink(path)  # left by a predecessor killed with -9
with open(starts, "a") as file:
    file.write(name + "\\n")
first = open(starts).read().split().count(name) == 1
time.sleep(float(delay))
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
time.sleep(float(first_run) if first and float(first_run) else 60)
"""


def daemon(tmp_path: Path, name: str, delay: float = 0, first_run: float = 0) -> Component:
    socket = tmp_path / f"{name}.sock"
    starts = tmp_path / "starts"
    command = [sys.executable, "-c", DAEMON, str(socket), str(starts), name]
    command += [str(delay), str(first_run)]
    return Component(name, [], socket, tmp_path / f"{name}.log", command=command)


def test_in_order_restarted_when_killed_and_stopped_in_reverse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    # The reason is the signal, said once (not the last thing it happened to log).
    said = capsys.readouterr().out
    assert said.count("tessera up: second killed by SIGKILL, restarting") == 1


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


def test_a_component_that_ends_while_the_next_one_starts_is_restarted(tmp_path: Path) -> None:
    first = daemon(tmp_path, "first", first_run=0.2)  # answers, then ends once
    slow = daemon(tmp_path, "slow", delay=1.0)  # meanwhile, the next one takes its time
    restarted: list[bool] = []

    async def check_then_stop() -> None:
        deadline = asyncio.get_running_loop().time() + 10
        while first.restarts < 1 or first.state is not State.RUNNING:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        restarted.append(first.restarts == 1 and first.state is State.RUNNING)
        os.kill(os.getpid(), signal.SIGTERM)

    tasks: list[asyncio.Task[None]] = []

    def on_ready() -> None:
        tasks.append(asyncio.get_running_loop().create_task(check_then_stop()))

    assert SystemSupervisor([first, slow]).run(on_ready=on_ready) == 0
    assert restarted == [True]
