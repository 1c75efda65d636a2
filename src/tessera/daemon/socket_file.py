"""Creating the listening socket with the access rules of Parsec's secure-deployment guide.

The socket's directory is the gate: owned by the service user, mode 0700, or 0750 and group-owned
by the configured client group. A stale socket left by a crashed service is replaced; a live one
(another service answering) is never stolen.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import socket
import stat
from pathlib import Path

from tessera.daemon.private_state import check_unwritable_by_others

log = logging.getLogger(__name__)


class SocketInUseError(RuntimeError):
    """Another process is serving on the socket path, or the path is not ours to replace."""


def prepare_directory(directory: Path, group: str | None) -> None:
    """Create the socket directory 0700 (0750, group-owned by `group`), or check an existing
    one without undoing what another daemon sharing it set up.

    The security service and the identity provider may share a directory with different
    groups: an existing directory keeps the read access it grants a group, gains what `group`
    needs, and loses access for others. One that another user owns or others may write to is
    refused (private_state): whoever could change it could have planted anything.
    """
    created = not directory.exists()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_mode & stat.S_ISVTX:
        # A shared sticky directory such as /tmp: not ours to lock down.
        log.warning("socket directory %s is shared; access is not restricted by it", directory)
        return
    check_unwritable_by_others(directory, "socket directory", info)
    mode = stat.S_IMODE(info.st_mode)
    wanted = 0o700 if created else mode & ~0o007
    if group:
        os.chown(directory, -1, grp.getgrnam(group).gr_gid)
        wanted = (wanted & ~0o070) | 0o050
    if wanted != mode or created:
        os.chmod(directory, wanted)


def remove_stale_socket(path: Path) -> None:
    """Remove a socket file nobody answers on; refuse if someone does or it is not a socket."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise SocketInUseError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    except OSError as error:
        raise SocketInUseError(f"cannot check the existing socket {path}: {error}") from error
    finally:
        probe.close()
    raise SocketInUseError(f"another service is listening on {path}")


BACKLOG = 1024  # connections the kernel queues before accept(); bursts of clients


def bind_socket(path: Path, group: str | None, backlog: int = BACKLOG) -> socket.socket:
    """A listening Unix socket at `path` (mode 0600, or 0660 for the client group)."""
    prepare_directory(path.parent, group)
    remove_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file is born 0600: no window with looser access
    try:
        sock.bind(os.fspath(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    if group:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
        os.chmod(path, 0o660)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def unlink_socket(path: Path, inode: int) -> None:
    """Remove the socket file if it is still the one we bound (`inode` read after binding)."""
    with contextlib.suppress(FileNotFoundError):
        if path.lstat().st_ino == inode:
            path.unlink()
