"""One `tessera up` per state directory, and what it tells `tessera status` and `tessera down`.

The lock is an flock on `<state>/up.lock`, held for the supervisor's life and released by the
kernel however it ends (kill -9 included), so a stale file never blocks a restart. The file
holds the holder's pid, for the refusal message and for `tessera down`. The supervisor also
keeps `<state>/run/up-status.json` current: its own pid, and each component's pid, start time,
restarts and endpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOCK_NAME = "up.lock"
STATUS_NAME = "up-status.json"


class AlreadyRunningError(Exception):
    """Another `tessera up` holds the state directory."""

    def __init__(self, state: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"tessera up is already running on {state} ({holder}): "
            f"use 'tessera status --state-dir {state}', or stop it with "
            f"'tessera down --state-dir {state}'"
        )
        self.pid = pid


def holder_pid(state: Path) -> int | None:
    """The pid recorded by whoever holds (or last held) the lock."""
    try:
        text = (state / LOCK_NAME).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_held(state: Path) -> bool:
    """True while some `tessera up` holds the state directory."""
    try:
        fd = os.open(state / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this probe may have taken
    return False


class InstanceLock:
    """The state directory's lock, held until `release` (or the process's end)."""

    def __init__(self, state: Path) -> None:
        self._state = state
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError naming the holder."""
        # Never through a link: the file is truncated and written, wherever it would lead.
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(self._state / LOCK_NAME, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunningError(self._state, holder_pid(self._state)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: it is harmless unlocked)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class ComponentStatus:
    """What `tessera status` shows of one component."""

    name: str
    pid: int | None
    started: float | None  # Unix time of the current process's start
    restarts: int
    endpoint: str
    log: str


@dataclass
class SystemStatus:
    """What `tessera status` shows of the whole system."""

    pid: int
    started: float
    state_dir: str
    components: list[ComponentStatus]


def write_status(state: Path, status: SystemStatus) -> None:
    """Replace the status file atomically (readers never see half of it)."""
    run_dir = state / "run"
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = run_dir / STATUS_NAME
    temporary = run_dir / f".{STATUS_NAME}.{os.getpid()}"
    temporary.write_text(json.dumps(asdict(status)))
    os.replace(temporary, final)


def read_status(state: Path) -> SystemStatus | None:
    """The last status written, or None where there is none or it cannot be read."""
    try:
        data: dict[str, Any] = json.loads((state / "run" / STATUS_NAME).read_text())
        components = [ComponentStatus(**entry) for entry in data.pop("components")]
        return SystemStatus(components=components, **data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def remove_status(state: Path) -> None:
    """Forget the status at a clean stop."""
    with contextlib.suppress(OSError):
        (state / "run" / STATUS_NAME).unlink()


def now() -> float:
    """Wall-clock time for the status file (what a reader can compare with its own clock)."""
    return time.time()
