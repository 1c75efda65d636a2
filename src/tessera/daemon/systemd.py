"""The two systemd protocols a daemon speaks, written from their documented contracts.

Socket activation (sd_listen_fds(3)): systemd binds the socket, starts the daemon with the
listening descriptors from fd 3 on, `LISTEN_FDS` their count and `LISTEN_PID` the daemon's pid (so
a child that inherits the environment does not take them too). The variables are removed once
read, for the same reason. Readiness (sd_notify(3)): a datagram of `KEY=VALUE` lines to the Unix
socket named by `NOTIFY_SOCKET` (a leading `@` names an abstract socket).

Neither needs libsystemd; outside systemd both are silent no-ops.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["LISTEN_FDS_START", "inherited_listener", "notify"]

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: the first descriptor systemd passes


def _passed_descriptors() -> list[int]:
    """The descriptors systemd passed to this process (and forget the variables)."""
    pid = os.environ.pop("LISTEN_PID", None)
    count = os.environ.pop("LISTEN_FDS", None)
    os.environ.pop("LISTEN_FDNAMES", None)
    if pid is None or count is None:
        return []
    try:
        if int(pid) != os.getpid():
            return []  # meant for the process that started us, not for us
        number = int(count)
    except ValueError:
        log.warning("ignoring malformed LISTEN_PID/LISTEN_FDS from the environment")
        return []
    return list(range(LISTEN_FDS_START, LISTEN_FDS_START + max(0, number)))


def inherited_listener(path: Path) -> socket.socket | None:
    """The listening Unix stream socket systemd passed for `path`, or None when none was passed.

    The socket whose address is `path` is taken; a single one bound elsewhere is taken too, with
    a warning (the unit's ListenStream= and the config's socket_path disagree: clients follow the
    unit). Descriptors that are not listening Unix stream sockets are refused (OSError), since
    serving on them could only go wrong later and less clearly.
    """
    candidates: list[socket.socket] = []
    for fd in _passed_descriptors():
        os.set_inheritable(fd, False)  # applications the daemon starts must not inherit it
        sock = socket.socket(fileno=fd)
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM or not listening:
            sock.detach()
            raise OSError(f"descriptor {fd} from systemd is not a listening Unix stream socket")
        candidates.append(sock)
    if not candidates:
        return None
    chosen = next((s for s in candidates if s.getsockname() == os.fspath(path)), None)
    if chosen is None and len(candidates) == 1:
        chosen = candidates[0]
        log.warning(
            "systemd passed a socket on %s, the configuration names %s: serving on systemd's",
            chosen.getsockname(),
            path,
        )
    if chosen is None:
        raise OSError(f"systemd passed {len(candidates)} sockets, none bound to {path}")
    for other in candidates:
        if other is not chosen:
            other.close()
    chosen.setblocking(False)
    return chosen


def notify(state: str) -> bool:
    """Send `state` (such as "READY=1") to systemd's notification socket; True if sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        log.warning("ignoring NOTIFY_SOCKET %r: neither a path nor an abstract name", address)
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as channel:
        try:
            channel.sendto(state.encode(), address)
        except OSError as error:
            log.warning("could not notify systemd (%s): %s", state, error)
            return False
    return True
