"""Process incarnations from /proc: who is on the other end of a socket, and is it still there.

A pid alone names a process only until it is reused; (pid, start time) names one incarnation.
The start time is field 22 of `/proc/<pid>/stat` (clock ticks since boot). The second field, the
command name, is in parentheses and may itself hold spaces and `)`, so fields are counted from
the text after the last `)`.

A zombie (state `Z` or `X`) has exited: it counts as gone, so a root holder that died but was not
reaped yet does not block its successor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "Incarnation",
    "Peer",
    "PeerCredentials",
    "ProcStat",
    "ancestry",
    "incarnation_of",
    "is_alive",
    "parent_pid",
    "parse_stat",
    "peer_from_credentials",
    "read_stat",
]

_PROC = "/proc"
_DEAD_STATES = frozenset({"Z", "X", "x"})
# Fields after the command name start at field 3 (state); field N is at index N - 3.
_STATE, _PPID, _STARTTIME = 0, 4 - 3, 22 - 3


@dataclass(frozen=True)
class Incarnation:
    """One run of a process: its pid and its start time in clock ticks since boot."""

    pid: int
    start_time: int


@dataclass(frozen=True)
class ProcStat:
    """The fields of `/proc/<pid>/stat` that Tessera uses."""

    pid: int
    state: str
    ppid: int
    start_time: int

    @property
    def incarnation(self) -> Incarnation:
        """This process's incarnation."""
        return Incarnation(self.pid, self.start_time)

    @property
    def exited(self) -> bool:
        """True for a zombie or dead task: it has exited, only its pid is not reaped yet."""
        return self.state in _DEAD_STATES


def parse_stat(text: str) -> ProcStat:
    """Parse a `/proc/<pid>/stat` line; raise ValueError if it is not one."""
    open_paren = text.find("(")
    close_paren = text.rfind(")")
    if open_paren < 0 or close_paren < open_paren:
        raise ValueError("not a /proc stat line")
    fields = text[close_paren + 1 :].split()
    if len(fields) <= _STARTTIME:
        raise ValueError("/proc stat line is too short")
    try:
        pid = int(text[:open_paren])
        return ProcStat(
            pid=pid,
            state=fields[_STATE],
            ppid=int(fields[_PPID]),
            start_time=int(fields[_STARTTIME]),
        )
    except ValueError:
        raise ValueError("/proc stat line has a non-numeric field") from None


def read_stat(pid: int) -> ProcStat | None:
    """The process's stat fields, or None if there is no such process (or no /proc)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError:
        return None
    try:
        stat = parse_stat(text)
    except ValueError:
        return None
    return stat if stat.pid == pid else None


def incarnation_of(pid: int) -> Incarnation | None:
    """The running process `pid`'s incarnation; None if it is gone (or a zombie)."""
    stat = read_stat(pid)
    if stat is None or stat.exited:
        return None
    return stat.incarnation


def is_alive(incarnation: Incarnation) -> bool:
    """True only while that very incarnation runs; a reused pid (another start time) is not it."""
    return incarnation_of(incarnation.pid) == incarnation


def parent_pid(pid: int) -> int | None:
    """The parent's pid; None if the process is gone or has no parent (pid 1, kernel threads)."""
    stat = read_stat(pid)
    if stat is None or stat.exited or stat.ppid <= 0:
        return None
    return stat.ppid


def ancestry(pid: int, limit: int = 64) -> list[Incarnation]:
    """The process and its ancestors, nearest first, up to pid 1 (at most `limit` entries).

    Stops early where a process has gone. Each entry comes from one read of that process's stat,
    so its pid and start time belong together.
    """
    chain: list[Incarnation] = []
    seen: set[int] = set()
    current = pid
    while len(chain) < limit and current not in seen:
        stat = read_stat(current)
        if stat is None or stat.exited:
            break
        chain.append(stat.incarnation)
        seen.add(current)
        if stat.ppid <= 0:
            break
        current = stat.ppid
    return chain


@dataclass(frozen=True, slots=True)
class PeerCredentials:
    """The connecting process as the kernel reports it (SO_PEERCRED), read once per connection
    by the daemon's front end (daemon/peer.py).

    `start_time` (clock ticks since boot, from /proc) is read at connect time where a daemon
    asks for it, so that a later check can tell whether the pid still names the same process.
    """

    pid: int
    uid: int
    gid: int
    start_time: int | None = None


@dataclass(frozen=True)
class Peer:
    """The process on the other end of a Unix socket, from SO_PEERCRED and /proc.

    `incarnation` and `exe` are None when /proc does not tell (the process is gone, or /proc is
    hidden from us). `exe` is the kernel's resolved path of the executable.
    """

    pid: int
    uid: int
    gid: int
    incarnation: Incarnation | None
    exe: str | None


def _read_exe(pid: int) -> str | None:
    try:
        return os.readlink(f"{_PROC}/{pid}/exe")
    except OSError:
        return None


def peer_from_credentials(pid: int, uid: int, gid: int) -> Peer:
    """Describe a peer from its SO_PEERCRED credentials.

    The start time is read before and after the executable path; if they differ the pid was
    reused in between and neither is trusted.
    """
    before = incarnation_of(pid)
    exe = _read_exe(pid) if before is not None else None
    after = incarnation_of(pid) if before is not None else None
    if before is None or before != after:
        return Peer(pid=pid, uid=uid, gid=gid, incarnation=None, exe=None)
    return Peer(pid=pid, uid=uid, gid=gid, incarnation=before, exe=exe)
