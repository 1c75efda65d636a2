"""Who is on the other end of a Unix socket, as the kernel reports it (SO_PEERCRED)."""

from __future__ import annotations

import _socket
import socket
import struct
from typing import Protocol

from tessera.trust.peer import PeerCredentials, incarnation_of

_UCRED = struct.Struct("3i")  # pid, uid, gid
_SO_PEERCRED: int | None = getattr(socket, "SO_PEERCRED", None)


class HasDescriptor(Protocol):
    """A socket, or the stand-in an event loop's transport gives for one."""

    def fileno(self) -> int: ...


def peer_credentials(sock: HasDescriptor, *, start_time: bool = False) -> PeerCredentials | None:
    """SO_PEERCRED of a connected Unix socket (and the peer's start time if asked); None where
    the platform lacks it."""
    # A bare C socket object over the same descriptor: uvloop's stand-in builds a full Python
    # socket object (socket.py's wrapper) for each option read; this one costs a third less.
    try:
        view = _socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, sock.fileno())
    except (OSError, ValueError):  # closed already
        return None
    try:
        return credentials_of(view, start_time=start_time)
    finally:
        view.detach()  # the descriptor stays the transport's


def credentials_of(sock: _socket.socket, *, start_time: bool = False) -> PeerCredentials | None:
    """SO_PEERCRED read from a socket object of our own (see `peer_credentials`)."""
    if _SO_PEERCRED is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, _SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    incarnation = incarnation_of(pid) if start_time else None
    started = incarnation.start_time if incarnation is not None else None
    return PeerCredentials(pid=pid, uid=uid, gid=gid, start_time=started)
