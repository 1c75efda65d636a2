"""Which processes make up the running service of a state directory.

Every process that serves a state directory (the single process, or a master and its workers)
holds a shared flock on `<state_dir>/service.lock` for its whole life; the kernel drops it
however the process ends. The first process of a run takes it exclusively for a moment: it
alone empties the live directory (what one run's processes share: trust state, audit head,
quota table), then shares the lock. A process that finds the lock held joins the run in
progress instead, with its state as it is: a service started again while the previous one's
workers still finish their requests, or a second service on the same state directory, never
wipes what running processes use. The offline commands (KEK rotation) hold it exclusively
(`hold_offline`): that is how they know no process has the key store open, without connecting
to a socket that systemd might answer by starting the service.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from tessera.daemon.private_state import ensure_private_directory
from tessera.service.config import ServiceConfig

LOCK_NAME = "service.lock"


def join_run(config: ServiceConfig, *, may_start: bool = True) -> int:
    """Join the run serving `config.state_dir` (start one, emptying the live directory, when
    none is and `may_start`); the descriptor holding the lock, to keep open while serving."""
    fd = os.open(
        config.state_dir / LOCK_NAME,
        os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
        0o600,
    )
    try:
        if may_start and _try_exclusive(fd):
            _empty(config.live_directory)
        fcntl.flock(fd, fcntl.LOCK_SH)  # from exclusive, or waiting out another's reset
    except BaseException:
        os.close(fd)
        raise
    ensure_private_directory(config.live_directory, "live state directory")
    return fd


def hold_offline(state_dir: Path) -> int | None:
    """The lock of `state_dir` held exclusively, for work no service may run beside (KEK
    rotation): a service started meanwhile waits for its release. None while one serves."""
    fd = os.open(
        state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
    )
    if _try_exclusive(fd):
        return fd
    os.close(fd)
    return None


def _try_exclusive(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _empty(live: Path) -> None:
    """A new run holds no root until the identity provider shares one: nothing of the last."""
    if live.is_symlink():
        live.unlink()  # never followed: whatever it names is not ours to empty
    elif live.exists():
        ensure_private_directory(live, "live state directory")
        shutil.rmtree(live)
