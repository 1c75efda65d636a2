"""Running the security service, the identity provider and the orchestrator together.

Each component is its own process in its own session (a terminal's Ctrl-C reaches only this
supervisor, which then stops them in order: orchestrator, identity provider, service). A
component that dies is started again, with backoff; the others heal the trust relationships
themselves (heartbeats, root re-shares, client replay). If the supervisor itself dies, even by
kill -9, the kernel sends each component SIGTERM (PR_SET_PDEATHSIG), so none is left orphaned:
they stop in order as on any SIGTERM.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

BACKOFF_START = 0.2
BACKOFF_MAX = 5.0
STABLE_AFTER = 10.0
READY_TIMEOUT = 30.0


@dataclass
class Component:
    """One daemon of the system."""

    name: str
    args: list[str]
    socket: Path
    log_path: Path
    inherit_stdout: bool = False
    command: list[str] | None = None  # another program (default: `tessera ARGS`)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    restart_at: float = 0.0
    backoff: float = BACKOFF_START
    restarts: int = 0
    started_wall: float | None = None

    def start(self) -> None:
        """Start the process (its stderr, the log, goes to its log file)."""
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                self.command or [sys.executable, "-m", "tessera.cli.main", *self.args],
                stdout=None if self.inherit_stdout else log_file,
                stderr=log_file,
                start_new_session=True,
                preexec_fn=die_with_parent(os.getpid()),  # noqa: PLW1509 - no threads here
            )
        self.started_at = time.monotonic()
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

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s: killing it", self.name, timeout)
            self.process.kill()
            self.process.wait()


def wait_ready(component: Component, timeout: float = READY_TIMEOUT) -> bool:
    """Wait until the component's socket accepts connections (False if it died or timed out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not component.alive():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(os.fspath(component.socket))
                return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


class SystemSupervisor:
    """Starts the components in order, restarts the ones that die, stops them in reverse."""

    def __init__(
        self,
        components: list[Component],
        *,
        stop_timeout: float = 15.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.components = components
        self._stop_timeout = stop_timeout
        self._stopping = False
        self._on_change = on_change or (lambda: None)

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """Signal handler: only sets a flag."""
        self._stopping = True

    def run(self, on_ready: object = None, before_stop: Callable[[], None] | None = None) -> int:
        """Start everything, supervise until a stop is requested, then stop everything
        (`before_stop` first: what uses the components goes before them)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        try:
            for component in self.components:
                try:
                    component.start()
                except OSError as error:
                    log.error("cannot start the %s: %s", component.name, error)
                    return 1
                self._on_change()
                if not wait_ready(component):
                    reason = component.last_words()
                    log.error(
                        "%s did not start (%s): see %s",
                        component.name,
                        reason or "no reason logged",
                        component.log_path,
                    )
                    return 1
            if callable(on_ready):
                on_ready()
            while not self._stopping:
                self._restart_dead()
                time.sleep(0.1)
            return 0
        finally:
            if before_stop is not None:
                before_stop()
            for component in reversed(self.components):
                component.stop(self._stop_timeout)

    def _restart_dead(self) -> None:
        now = time.monotonic()
        for component in self.components:
            if component.alive() or self._stopping:
                continue
            if component.process is not None and component.process.returncode is not None:
                code = component.process.returncode
                reason = component.last_words()
                because = f": {reason}" if reason and code else ""
                log.warning("%s exited (status %s%s): restarting it", component.name, code, because)
                print(
                    f"tessera up: {component.name} exited (status {code}{because}), restarting",
                    flush=True,
                )
                component.process = None
                if now - component.started_at > STABLE_AFTER:
                    component.backoff = BACKOFF_START
                component.restarts += 1
                component.restart_at = now + component.backoff
                continue
            if now >= component.restart_at:
                try:
                    component.start()
                except OSError as error:  # e.g. its log cannot be opened: try again later
                    log.error("cannot restart the %s: %s", component.name, error)
                    component.restart_at = now + BACKOFF_MAX
                    continue
                component.backoff = min(component.backoff * 2, BACKOFF_MAX)
                self._on_change()


def die_with_parent(parent: int) -> Callable[[], None]:
    """A pre-exec hook: the child gets SIGTERM when the supervisor dies (Linux; else no-op)."""

    def hook() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:
            os._exit(1)  # the supervisor died before the hook ran: do not start orphaned

    return hook


_PR_SET_PDEATHSIG = 1
