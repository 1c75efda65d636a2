"""Where applications' output goes: a log file per instance, copied onto our standard output.

Each instance writes its standard output and error straight into
`<state_dir>/logs/apps/<name>.<replica>.log` (0600; the orchestrator opens it and hands the
process the descriptor). The file outlives the orchestrator: an application re-attached after
an orchestrator restart keeps writing where it wrote, where a pipe to the dead orchestrator
would have broken. The orchestrator copies the complete lines each file gains onto its own
standard output (where `tessera up` shows them) from one thread, so a stalled terminal never
holds up the event loop; what that thread cannot keep up with is left out of the copy, never
out of the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from pathlib import Path

from tessera.daemon.private_state import check_private_file, ensure_private_directory

log = logging.getLogger(__name__)

ROTATE_AT = 16 << 20  # bytes: a log this large is moved to `.1` when its instance next starts
FOLLOW_PERIOD = 0.2  # seconds between looks at a followed file
_CHUNK = 1 << 16
_CHUNKS_PER_LOOK = 16  # a chatty application does not hold the loop for long
_COPY_BACKLOG = 256  # chunks waiting for the terminal before more are left out


def log_file(state_dir: Path, name: str, replica: int) -> Path:
    """An instance's log file (names hold no '/', and the replica is the last dotted part)."""
    return state_dir / "logs" / "apps" / f"{name}.{replica}.log"


def open_for_append(path: Path) -> int:
    """The descriptor an instance writes its output to; the caller closes it once handed on.

    Raises OSError, or UnsafeStateError for a file another user could read."""
    ensure_private_directory(path.parent, "application log directory")
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > ROTATE_AT:
            os.replace(path, path.with_name(path.name + ".1"))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        check_private_file(path, "application log", os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_if_empty(path: Path) -> None:
    """Remove a log file nothing was written to (one a failed start created)."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size == 0:
            path.unlink()


def tail(path: Path, lines: int, limit: int) -> tuple[bytes, bool]:
    """The last `lines` lines of `path` (0: all), at most `limit` bytes; and whether earlier
    output was left out. A missing file is empty."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            start = max(0, size - limit)
            file.seek(start)
            data = file.read(limit)
    except FileNotFoundError:
        return b"", False
    if start > 0:  # the first line read is cut: drop it
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    if lines:
        kept = data.splitlines(keepends=True)
        if len(kept) > lines:
            return b"".join(kept[-lines:]), True
    return data, start > 0


class Copier:
    """Copies followed files onto our standard output, from one daemon thread."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=_COPY_BACKLOG)
        self._thread: threading.Thread | None = None
        self._broken = False
        self._left_out = False

    def put(self, data: bytes) -> None:
        """Queue `data` for the terminal (left out if the terminal does not keep up)."""
        if self._broken or not data:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._write, name="app-output", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            if not self._left_out:
                self._left_out = True
                log.warning(
                    "standard output is not keeping up: application output is left "
                    "out of it (the log files have all of it)"
                )

    def _write(self) -> None:
        while True:
            view = memoryview(self._queue.get())
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:  # closed or gone: the files still have everything
                self._broken = True
                return

    async def follow(self, path: Path, offset: int, done: asyncio.Event) -> None:
        """Copy what `path` gains past `offset`, whole lines at a time, until `done` is set
        (then everything left)."""
        try:
            file = path.open("rb")
        except OSError:
            return
        with file:
            file.seek(offset)
            partial = b""
            while True:
                finished = done.is_set()  # read once more after the end: the last words
                for _ in range(_CHUNKS_PER_LOOK if not finished else 1 << 30):
                    chunk = file.read(_CHUNK)
                    if not chunk:
                        break
                    partial += chunk
                    cut = partial.rfind(b"\n") + 1 or (
                        len(partial) if len(partial) >= _CHUNK else 0
                    )
                    self.put(partial[:cut])
                    partial = partial[cut:]
                if finished:
                    self.put(partial)
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(FOLLOW_PERIOD):
                        await done.wait()
