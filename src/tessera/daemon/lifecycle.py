"""Keeping a process running: its states, the backoff between restarts, and the loop that
starts it, watches it and starts it again.

Three supervisors run on this: the orchestrator's, for the applications of its manifest (which
it also registers with the identity provider: orchestrator/supervisor.py, app_runner.py),
`tessera up`'s, for the three daemons (up/supervisor.py), and the service's, for its worker
processes (service/workers.py). A supervised process has one task running
`keep_running`; its owner's hooks say how to start it, what goes on while it runs, what to do
once it ended and whether to start it again. Restarts back off exponentially; a run that lasted
STABLE_AFTER seconds starts the backoff over.

    starting ──▶ running ──▶ exited ──▶ backoff ──▶ starting ...
        │                       └──────────────────▶ stopped   (no restart wanted, or stopping)
        └──▶ failed   (could not start: `error` says why)
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ctypes
import enum
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from tessera.trust.peer import Incarnation, incarnation_of, is_alive

log = logging.getLogger(__name__)

# One backoff for everything supervised. Its ceiling stays well under the client library's
# restart wait (10 s, docs/client.md): a daemon restarted in a loop is back before clients
# give up on it.
BACKOFF_START = 0.2
BACKOFF_MAX = 5.0
STABLE_AFTER = 10.0  # seconds of running that start the backoff over
ADOPTED_POLL = 0.2  # seconds between looks at a process that is not our child


class State(enum.StrEnum):
    """Where a supervised process is in its life (shown as is by status commands)."""

    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"  # its end is being handled (withdrawn, reported)
    BACKOFF = "backoff"  # waiting to be started again
    STOPPED = "stopped"
    FAILED = "failed"


ENDED = frozenset({State.STOPPED, State.FAILED})  # its task is over


class Backoff:
    """The pauses between restarts: doubling up to BACKOFF_MAX, reset by a stable run."""

    def __init__(self) -> None:
        self._next = BACKOFF_START

    def after(self, ran_for: float) -> float:
        """The pause before the next start, after a run of `ran_for` seconds."""
        if ran_for > STABLE_AFTER:
            self._next = BACKOFF_START
        pause = self._next
        self._next = min(pause * 2, BACKOFF_MAX)
        return pause


@dataclass(kw_only=True)
class Supervised(abc.ABC):
    """What every supervised process has: its state, its current run, its restarts."""

    state: State = State.STARTING
    restarts: int = 0
    incarnation: Incarnation | None = None
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    stopping: bool = False  # asked to stop: never started again
    exit_status: int | None = None  # the last run's (< 0: killed by that signal); None: unseen
    error: str = ""  # why the last start failed

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """How logs name it."""

    def attach(self, process: asyncio.subprocess.Process) -> None:
        """Take `process` as the current run."""
        self.process = process
        # One that already exited has no incarnation left to read; its wait() returns at once.
        self.incarnation = incarnation_of(process.pid) or Incarnation(process.pid, 0)


Child = TypeVar("Child", bound=Supervised)
Child_contra = TypeVar("Child_contra", bound=Supervised, contravariant=True)


class Hooks(Protocol[Child_contra]):
    """What the owner of supervised processes decides."""

    async def start(self, child: Child_contra) -> bool:
        """Start (or adopt) the child's process; False if it cannot (`error` says why)."""

    async def watch(self, child: Child_contra) -> int | None:
        """Whatever goes on while it runs; its exit status once it ended (`wait_exit`)."""

    async def exited(self, child: Child_contra) -> None:
        """Its run ended (state EXITED, `exit_status` set)."""

    def restart_wanted(self, child: Child_contra) -> bool:
        """Whether to start it again after this end (it is not stopping)."""

    def ended(self, child: Child_contra) -> None:
        """Its task is over (state STOPPED or FAILED)."""


async def keep_running(child: Child, hooks: Hooks[Child]) -> None:
    """Start `child`, watch it, and start it again while `hooks` want it, with backoff."""
    backoff = Backoff()
    loop = asyncio.get_running_loop()
    while not child.stopping:
        began = loop.time()
        if not await hooks.start(child):
            child.state = State.FAILED
            break
        child.state = State.RUNNING
        child.error = ""
        child.exit_status = None  # this run has not ended (status shows `-` while it runs)
        child.exit_status = await hooks.watch(child)
        child.state = State.EXITED
        await hooks.exited(child)
        if child.stopping or not hooks.restart_wanted(child):
            break
        pause = backoff.after(loop.time() - began)
        child.state = State.BACKOFF
        child.restarts += 1
        log.info("restarting %s in %.1f s", child.label, pause)
        await asyncio.sleep(pause)
    if child.state is not State.FAILED:
        child.state = State.STOPPED
    hooks.ended(child)


async def wait_exit(child: Supervised) -> int | None:
    """Wait for the current run to end; its exit status (None for an adopted process, which
    is not our child)."""
    if child.process is not None:
        return await child.process.wait()
    incarnation = child.incarnation
    while incarnation is not None and is_alive(incarnation):
        await asyncio.sleep(ADOPTED_POLL)
    return None


async def terminate(
    incarnation: Incarnation,
    process: asyncio.subprocess.Process | None,
    timeout: float,
    label: str,
) -> None:
    """SIGTERM the process group `incarnation` leads, SIGKILL it after `timeout`; wait for
    the end."""
    signal_group(incarnation.pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while is_alive(incarnation) and loop.time() < deadline:
        if process is not None and process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    if is_alive(incarnation):
        log.warning("%s did not stop in %.0f s: killing it", label, timeout)
        signal_group(incarnation.pid, signal.SIGKILL)
    if process is not None:
        with contextlib.suppress(ProcessLookupError):
            await process.wait()


def signal_group(pid: int, signum: int) -> None:
    """Signal the process group `pid` leads (supervised processes run in their own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook: the child gets SIGTERM when this process dies, even by kill -9
    (Linux's parent-death signal), so a supervisor's end leaves no orphans. None where the
    system has no prctl.

    The hook runs between fork and exec, maybe beside threads (asyncio's child watchers):
    it only calls what was looked up here, before the fork."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    death_signal = int(signal.SIGTERM)

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, death_signal)
        if os.getppid() != parent:
            os._exit(1)  # the supervisor died before the hook ran: do not start orphaned

    return hook


_PR_SET_PDEATHSIG = 1
