"""A small file the processes of one service run share: mapped into memory, changed under a lock.

Worker processes are spawned, not forked, so what they share is files. The audit log's head and
the per-application rate buckets live in such files, in the run's live directory
(`ServiceConfig.live_directory`, emptied at every start of the service, so nothing in them
outlives the run that wrote it). A process maps the file once; each change takes the file's
`flock` (one writer at a time across processes, released by the kernel if its holder dies) and a
thread lock (threads of one process share the flock). About a microsecond per lock and unlock.

Without a path, the "file" is anonymous memory of this process alone (a store that nobody else
writes to: tools, tests of one process).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
from pathlib import Path

from tessera.daemon.private_state import check_private_file, ensure_private_directory

__all__ = ["LiveFile"]


class LiveFile:
    """`size` bytes shared by the processes that open `path` (zeros when first created)."""

    def __init__(self, path: Path | None, size: int) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd = -1
        if path is None:
            self.memory = mmap.mmap(-1, size)
            return
        ensure_private_directory(path.parent, "live directory")
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
        try:
            check_private_file(path, "shared state file", os.fstat(fd))
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_size < size:
                    os.ftruncate(fd, size)  # the new bytes read as zeros
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            self.memory = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def lock(self) -> None:
        """Take the lock (this process's threads, then the other processes); pair with unlock."""
        self._thread_lock.acquire()
        if self._fd >= 0:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread_lock.release()
                raise

    def unlock(self) -> None:
        """Release what `lock` took."""
        try:
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Unmap and close (the file stays for the other processes)."""
        with self._thread_lock:
            self.memory.close()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
