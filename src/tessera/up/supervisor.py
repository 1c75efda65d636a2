"""Running the security service, the identity provider and the orchestrator together, on the
orchestrator's lifecycle (daemon/lifecycle.py): the same states, backoff and restart loop
as its applications, without attestation.

The components start in order, each once the one before answers on its socket; one that dies
is started again (with backoff), and the others heal the trust relationships themselves
(heartbeats, root re-shares, client replay). Each runs in its own session: a terminal's Ctrl-C
reaches only this supervisor, which then stops them in reverse order (orchestrator, identity
provider, service). If the supervisor itself dies, even by kill -9, the kernel sends each
component SIGTERM (lifecycle.die_with_parent), so none is left orphaned: they stop in order as
on any SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tessera.daemon.lifecycle import (
    BACKOFF_MAX,
    State,
    Supervised,
    keep_running,
    terminate,
    wait_exit,
)
from tessera.trust.peer import is_alive

log = logging.getLogger(__name__)

READY_TIMEOUT = 30.0
READY_POLL = 0.05


@dataclass
class Component(Supervised):
    """One daemon of the system."""

    name: str
    args: list[str]
    socket: Path
    log_path: Path
    inherit_stdout: bool = False
    command: list[str] | None = None  # another program (default: `tessera ARGS`)
    started_wall: float | None = None  # Unix time of the current run's start
    answered: bool = False  # it answered once: from then on, it is restarted whenever it ends

    @property
    def label(self) -> str:
        return self.name

    async def spawn(self, pre_exec: Callable[[], None] | None) -> None:
        """Start the process (its stderr, the log, goes to its log file); OSError if not."""
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                *(self.command or [sys.executable, "-m", "tessera.cli.main", *self.args]),
                stdout=None if self.inherit_stdout else log_file,
                stderr=log_file,
                start_new_session=True,
                preexec_fn=pre_exec,
            )
        self.attach(process)
        self.started_wall = time.time()

    def last_words(self) -> str:
        """The last line of the component's log: a daemon's one-line reason for stopping."""
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(0, os.SEEK_END)
                log_file.seek(max(0, log_file.tell() - 4096))
                lines = log_file.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""


class SystemSupervisor:
    """Starts the components in order, restarts the ones that die, stops them in reverse.

    The lifecycle hooks of components (`Hooks[Component]`): a component is started again
    whenever it ends once it has answered; before, its end is a failed start."""

    def __init__(
        self,
        components: list[Component],
        *,
        stop_timeout: float = 15.0,
        on_change: Callable[[], None] | None = None,
        pre_exec: Callable[[], None] | None = None,
    ) -> None:
        self.components = components
        self._stop_timeout = stop_timeout
        self._on_change = on_change or (lambda: None)
        self._pre_exec = pre_exec  # run in each child before exec (die_with_parent)

    def run(
        self,
        on_ready: Callable[[], None] | None = None,
        before_stop: Callable[[], None] | None = None,
    ) -> int:
        """Start everything, supervise until SIGTERM or SIGINT, then stop everything
        (`before_stop` first: what uses the components goes before them). 1 if the system
        did not start."""
        return asyncio.run(self._run(on_ready, before_stop))

    async def _run(
        self, on_ready: Callable[[], None] | None, before_stop: Callable[[], None] | None
    ) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)  # handlers only set a flag
        try:
            for component in self.components:
                component.task = asyncio.create_task(keep_running(component, self))
                if not await self._ready(component, stop):
                    if stop.is_set():
                        return 0
                    self._report_not_started(component)
                    return 1
            if on_ready is not None:
                on_ready()
            await stop.wait()
            return 0
        finally:
            for component in self.components:
                component.stopping = True  # none is started again from here on
            if before_stop is not None:
                await asyncio.to_thread(before_stop)
            for component in reversed(self.components):
                await self._stop(component)

    async def _ready(self, component: Component, stop: asyncio.Event) -> bool:
        """Wait until the component's socket accepts connections (False if it ended, did not
        answer in time, or a stop was asked for)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while loop.time() < deadline and not stop.is_set():
            if component.state not in (State.STARTING, State.RUNNING):
                return False  # it ended (no restart before the system is up) or cannot start
            if component.state is State.RUNNING and await _answers(component.socket):
                component.answered = True
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), READY_POLL)
        return False

    def _report_not_started(self, component: Component) -> None:
        if component.error:  # already logged where it failed
            return
        reason = component.last_words()
        log.error(
            "%s did not start (%s): see %s",
            component.name,
            reason or "no reason logged",
            component.log_path,
        )

    async def _stop(self, component: Component) -> None:
        """Stop a component's process, then its task (it is `stopping`: nothing restarts)."""
        component.stopping = True
        for _ in range(2):  # again for a process its task started as the first pass looked
            incarnation = component.incarnation
            if incarnation is not None and is_alive(incarnation):
                await terminate(incarnation, component.process, self._stop_timeout, component.name)
            task = component.task
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- the hooks ---------------------------------------------------------------------------

    async def start(self, component: Component) -> bool:
        """Start the component; a restart that fails (its log cannot be opened, say) is
        tried again later."""
        while not component.stopping:
            try:
                await component.spawn(self._pre_exec)
            except OSError as error:
                if not component.answered:
                    log.error("cannot start the %s: %s", component.name, error)
                    component.error = str(error)
                    return False
                log.error("cannot restart the %s: %s", component.name, error)
                await asyncio.sleep(BACKOFF_MAX)
                continue
            self._on_change()
            return True
        return False

    async def watch(self, component: Component) -> int | None:
        """Nothing to do while it runs but wait."""
        return await wait_exit(component)

    async def exited(self, component: Component) -> None:
        """Say why it ended, when it is to be started again."""
        component.process = None
        component.incarnation = None
        self._on_change()
        if component.stopping or not component.answered:
            return
        code = component.exit_status
        if code is not None and code < 0:
            # Killed: its last log line says what it was doing, not why it ended.
            ended = f"killed by {_signal_name(-code)}"
        else:
            reason = component.last_words()
            ended = f"exited (status {code}{f': {reason}' if reason and code else ''})"
        # One line on the terminal (the notice); the log keeps it at info.
        log.info("%s %s: restarting it", component.name, ended)
        print(f"tessera up: {component.name} {ended}, restarting", flush=True)

    def restart_wanted(self, component: Component) -> bool:
        """Always, once it has answered (before, its end is a failed start)."""
        return component.answered

    def ended(self, component: Component) -> None:
        """Nothing to forget: a component is only over when the system stops."""


async def _answers(path: Path) -> bool:
    """True if a Unix socket at `path` accepts a connection."""
    try:
        _, writer = await asyncio.open_unix_connection(os.fspath(path))
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name
        return f"signal {number}"
