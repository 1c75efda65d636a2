"""Refusing state that other users could read or change: one rule for every daemon.

Each daemon keeps secrets (the key-encryption key, the key store) or records it acts on (the
orchestrator's list of processes it may signal) under its state directory, and its socket in a
directory that gates access to it. Another user who can write to one of these directories can
move or replace what is in it; one who can read it can copy it. So a daemon checks them when it
starts and refuses, in one line that says what to fix, when one:

- is owned by another user;
- is writable by its group or by others;
- grants others any access (files: group access too). A directory may grant its group read
  and search where the configuration asks for that (`socket_group`: the client group reaches
  the socket through it).

The socket directory is the one exception to the last rule: one that others may only read
(Parsec's own tools create it 0755) is closed to them instead, since nobody else can have
changed it; one they may write to is refused like the rest.

A missing directory is created 0700. Nothing is ever loosened or silently trusted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tessera.config import ConfigError

__all__ = [
    "UnsafeStateError",
    "check_private_directory",
    "check_private_file",
    "check_private_file_at",
    "check_unwritable_by_others",
    "ensure_private_directory",
]


class UnsafeStateError(ConfigError):
    """A state file or directory that another user could read or change."""


def _owner_check(path: Path, what: str, info: os.stat_result) -> None:
    if info.st_uid != os.geteuid():
        raise UnsafeStateError(
            f"the {what} {path} belongs to uid {info.st_uid}, not to this daemon's user "
            f"(uid {os.geteuid()}): chown it, or choose another path"
        )


def check_unwritable_by_others(path: Path, what: str, info: os.stat_result) -> None:
    """Refuse a directory (its `stat`) that another user owns or may write to: whatever it
    holds could have been planted or swapped. (What others may merely read, the caller may
    close: nobody else can have changed it.)"""
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStateError(f"the {what} {path} is not a directory")
    _owner_check(path, what, info)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise UnsafeStateError(
            f"the {what} {path} has mode {mode:04o}: nobody but its owner may write to it "
            f"(chmod 750 {path})"
        )


def check_private_directory(
    path: Path, what: str, info: os.stat_result, *, group_may_read: bool = False
) -> None:
    """Refuse a directory (its `stat`) another user could change or, beyond the group the
    configuration names (`group_may_read`), look into."""
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStateError(f"the {what} {path} is not a directory")
    _owner_check(path, what, info)
    mode = stat.S_IMODE(info.st_mode)
    allowed = 0o750 if group_may_read else 0o700
    if mode & ~allowed & 0o777:
        rule = (
            "only its group may read it and nobody but its owner write to it"
            if group_may_read
            else "it must not be open to group or others"
        )
        raise UnsafeStateError(
            f"the {what} {path} has mode {mode:04o}: {rule} (chmod {allowed:o} {path})"
        )


def check_private_file(path: Path, what: str, info: os.stat_result) -> None:
    """Refuse a regular file (its `stat`) not ours alone."""
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeStateError(f"the {what} {path} is not a regular file")
    _owner_check(path, what, info)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise UnsafeStateError(
            f"the {what} {path} has mode {mode:04o}: it must not be readable or writable by "
            f"group or others (chmod 600 {path})"
        )


def check_private_file_at(path: Path, what: str) -> None:
    """`check_private_file` for a path that may not exist yet (then there is nothing to check)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise UnsafeStateError(f"cannot check the {what} {path}: {error.strerror}") from None
    check_private_file(path, what, info)


def ensure_private_directory(path: Path, what: str, *, group_may_read: bool = False) -> None:
    """Create `path` (0700) if it is missing, else refuse it unless it is private."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as error:
        raise UnsafeStateError(f"cannot create the {what} {path}: {error.strerror}") from None
    check_private_directory(path, what, info, group_may_read=group_may_read)
