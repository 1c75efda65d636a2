"""The lifecycle both supervisors share: states, backoff, the restart loop, stopping, and the
parent-death signal, on real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

from tessera.daemon.lifecycle import (
    BACKOFF_MAX,
    BACKOFF_START,
    STABLE_AFTER,
    Backoff,
    State,
    Supervised,
    keep_running,
    terminate,
    wait_exit,
)
from tessera.trust.peer import incarnation_of, is_alive


@dataclass
class Child(Supervised):
    """A supervised command, for the tests."""

    command: list[str]

    @property
    def label(self) -> str:
        return "test child"


@dataclass
class Recorder:
    """Hooks that record what the loop asked, and want `runs` runs in all."""

    runs: int = 1
    fail_start: str = ""
    seen: list[str] = field(default_factory=list)

    async def start(self, child: Child) -> bool:
        self.seen.append(f"start {child.state}")
        if self.fail_start:
            child.error = self.fail_start
            return False
        child.attach(await asyncio.create_subprocess_exec(*child.command))
        return True

    async def watch(self, child: Child) -> int | None:
        self.seen.append(f"watch {child.state} {child.exit_status}")
        return await wait_exit(child)

    async def exited(self, child: Child) -> None:
        self.seen.append(f"exited {child.state} {child.exit_status}")

    def restart_wanted(self, child: Child) -> bool:
        self.runs -= 1
        return self.runs > 0

    def ended(self, child: Child) -> None:
        self.seen.append(f"ended {child.state}")


def test_backoff_doubles_up_to_its_ceiling_and_a_stable_run_starts_it_over() -> None:
    backoff = Backoff()
    pauses = [backoff.after(0.0) for _ in range(8)]
    assert pauses[:3] == [BACKOFF_START, BACKOFF_START * 2, BACKOFF_START * 4]
    assert pauses[-1] == BACKOFF_MAX and max(pauses) == BACKOFF_MAX
    assert backoff.after(STABLE_AFTER + 1) == BACKOFF_START


def test_states_are_shown_as_words() -> None:
    assert [str(state) for state in State] == [
        "starting", "running", "exited", "backoff", "stopped", "failed",
    ]  # fmt: skip
    assert f"{State.BACKOFF}" == "backoff"


def test_a_child_is_restarted_with_backoff_until_no_restart_is_wanted() -> None:
    child = Child(command=[sys.executable, "-c", "raise SystemExit(3)"])
    hooks = Recorder(runs=3)
    began = time.monotonic()
    asyncio.run(keep_running(child, hooks))
    assert time.monotonic() - began >= BACKOFF_START * 3  # two pauses: 0.2 s, then 0.4 s
    assert hooks.seen == [
        # while a run goes on it has no exit status: the previous run's end is not its own
        *["start starting", "watch running None", "exited exited 3"],
        *["start backoff", "watch running None", "exited exited 3"] * 2,
        "ended stopped",
    ]
    assert (child.state, child.restarts, child.exit_status) == (State.STOPPED, 2, 3)


def test_a_child_that_cannot_start_fails_with_its_reason() -> None:
    child = Child(command=["unused"])
    asyncio.run(keep_running(child, hooks := Recorder(fail_start="no such program")))
    assert hooks.seen == ["start starting", "ended failed"]
    assert (child.state, child.error, child.restarts) == (State.FAILED, "no such program", 0)


def test_a_stopping_child_is_not_started_again() -> None:
    child = Child(command=[sys.executable, "-c", "pass"])

    async def scenario() -> None:
        hooks = Recorder(runs=100)
        child.task = asyncio.create_task(keep_running(child, hooks))
        while child.state is not State.RUNNING:
            await asyncio.sleep(0.01)
        child.stopping = True
        await child.task
        assert hooks.seen[-1] == "ended stopped" and child.restarts == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("ignores_sigterm", [False, True])
def test_terminate_stops_the_group_and_kills_what_ignores_sigterm(ignores_sigterm: bool) -> None:
    trap = "trap '' TERM; " if ignores_sigterm else ""
    script = f"{trap}sleep 30 & wait"  # a process group: the shell and its sleep

    async def scenario() -> tuple[int, float]:
        process = await asyncio.create_subprocess_exec(
            "sh", "-c", script, start_new_session=True
        )  # fmt: skip
        await asyncio.sleep(0.2)  # the shell has started its sleep
        incarnation = incarnation_of(process.pid)
        assert incarnation is not None
        began = time.monotonic()
        await terminate(incarnation, process, 0.5, "test child")
        assert not is_alive(incarnation)
        return process.returncode or 0, time.monotonic() - began

    code, took = asyncio.run(scenario())
    if ignores_sigterm:
        assert code == -signal.SIGKILL and took >= 0.5
    else:
        assert code == -signal.SIGTERM and took < 0.5


def test_children_get_sigterm_when_their_supervisor_is_killed() -> None:
    """A parent started with the hook's children, then killed -9: they do not outlive it."""
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys\n"
            "from tessera.daemon.lifecycle import die_with_parent\n"
            "child = subprocess.Popen(['sleep', '30'], preexec_fn=die_with_parent())\n"
            "print(child.pid, flush=True)\n"
            "child.wait()\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ) as parent:
        assert parent.stdout is not None
        child = incarnation_of(int(parent.stdout.readline()))
        assert child is not None and is_alive(child)
        parent.kill()
    deadline = time.monotonic() + 5
    while is_alive(child):
        assert time.monotonic() < deadline, "the child outlived its supervisor"
        time.sleep(0.02)
