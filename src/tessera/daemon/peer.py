"""Who is on the other end of a Unix socket, as the kernel reports it (SO_PEERCRED)."""

from __future__ import annotations

import socket
import struct

from tessera.trust.peer import PeerCredentials, incarnation_of

_UCRED = struct.Struct("3i")  # pid, uid, gid
_SO_PEERCRED: int | None = getattr(socket, "SO_PEERCRED", None)


def peer_credentials(sock: socket.socket, *, start_time: bool = False) -> PeerCredentials | None:
    """SO_PEERCRED of a connected Unix socket (and the peer's start time if asked); None where
    the platform lacks it."""
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
