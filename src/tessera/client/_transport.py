"""Blocking transport: persistent, pooled Unix-socket connections with transparent reconnect.

Safe to share between threads: every exchange borrows its own connection from the pool. A reused
connection that turns out closed (the service restarted, or closes after each answer as Parsec's
does) is replaced once, transparently. Anything else fails at once with a `TransportError` that
says whether the request left and whether the daemon may be restarting: waiting for it is the
flows' business (`_protocol`), not the transport's. A forked child starts with an empty pool.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from pathlib import Path

from tessera.client._errors import CallTimeoutError, ProtocolError, TransportError
from tessera.wire.framing import Event, Frame, FrameReader, Limits

RECV_SIZE = 65536
_MAX_IDLE = 8  # idle connections kept per transport
# "Nobody is listening (yet)" or "the listen queue is full" (EAGAIN): worth retrying while
# the service (re)starts or drains a burst of connections.
NOT_LISTENING = (FileNotFoundError, ConnectionRefusedError, BlockingIOError)
SERVICE = ("the service", "PARSEC_SERVICE_ENDPOINT")
IDENTITY_PROVIDER = ("the identity provider", "TESSERA_IDENTITY_ENDPOINT")


def not_listening(
    path: Path, error: OSError, *, role: tuple[str, str], reached: bool
) -> TransportError:
    """Nobody accepted a connection at `path`; the request never left.

    A socket file nobody answers on was left by a daemon that died (its supervisor is starting
    it again), and a daemon this client reached before may be restarting: both are worth waiting
    for. No socket at a path never reached means nothing runs there: say so at once.
    """
    missing = isinstance(error, FileNotFoundError)
    hint = f" (is it running? {role[1]}=unix:/path names it)" if missing else ""
    return TransportError(
        f"cannot reach {role[0]} at {path}: {error.strerror}{hint}",
        sent=False,
        transient=reached or not missing,
    )


def cannot_connect(path: Path, error: OSError, *, role: tuple[str, str]) -> TransportError:
    """A connection refused for a reason waiting will not cure (EACCES, ENOTDIR...)."""
    if isinstance(error, PermissionError):
        return TransportError(
            f"permission denied on {path}: {_closed_to_us(path)}; ask the administrator of "
            f"{role[0]} to add this user to the group of its socket (the client group), "
            f"or set {role[1]}=unix:/path to another socket",
            sent=False,
        )
    reason = error.strerror or str(error)
    return TransportError(f"cannot connect to {role[0]} at {path}: {reason}", sent=False)


def _closed_to_us(path: Path) -> str:
    """Which part of `path` this process may not use, to say what permission is missing."""
    who = f"uid {os.geteuid()}"
    for directory in reversed(path.parents):
        if not os.access(directory, os.X_OK):
            return f"its directory {directory} is closed to {who}"
    return f"{who} may not write to the socket"


class _StaleConnectionError(Exception):
    """A pooled connection was found closed before any answer byte: retry on a new one."""


def still_open(sock: socket.socket) -> bool:
    """True for an idle connection with nothing pending; False once the peer closed it.

    (MSG_DONTWAIT alone is not enough: a socket with a timeout would wait for it.)
    """
    try:
        sock.setblocking(False)
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True  # nothing to read: open and idle, as it should be
    except OSError:
        return False
    return False  # EOF, or bytes nobody asked for: either way not reusable


def response_limits() -> Limits:
    """What we accept from a service: generous, but still bounded before allocation."""
    return Limits(max_header_size=1024, max_body_size=64 << 20)


class SyncTransport:
    """Sends request frames to one Unix socket and reads one response frame each."""

    def __init__(
        self, path: Path, *, timeout: float = 60.0, role: tuple[str, str] = SERVICE
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.role = role
        self._reached = False  # connected at least once: a vanished socket means a restart
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def exchange(
        self, data: bytes, timeout: float | None = None, *, idempotent: bool = True
    ) -> Frame:
        """Send one request and return its response frame.

        A pooled connection found closed is replaced; one that closes after the request went
        out and before any answer is replaced and the request sent again. A request that is
        not `idempotent` always uses a fresh connection and is never sent twice: if that
        connection breaks before any answer, TransportError says the outcome is unknown.
        Nothing else is retried here (see `_protocol.flow`).
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        # A request that must not run twice goes on a fresh connection: a pooled one may be
        # closing just now (a service that closes after each answer), and then whether the
        # request was read could not be told.
        sock = self._take_idle() if idempotent else None
        while sock is not None and not still_open(sock):
            sock.close()
            sock = self._take_idle()
        if sock is not None:
            try:
                return self._round_trip(sock, data, deadline, reused=True)
            except _StaleConnectionError:
                self.close()  # the service restarted or dropped idle connections: all are stale
        return self._round_trip(self._connect(deadline), data, deadline, reused=False)

    def close(self) -> None:
        """Close every idle connection; the transport can still be used afterwards."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    def _take_idle(self) -> socket.socket | None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child must not share its parent's connections (answers would mix):
                # close its copies (the parent's stay open) and start its own pool.
                inherited, self._idle, self._pid = self._idle, [], os.getpid()
                for sock in inherited:
                    sock.close()
            return self._idle.pop() if self._idle else None

    def _give_back(self, sock: socket.socket) -> None:
        # A service that closes after each answer (Parsec's does) leaves EOF behind: drop those.
        if not still_open(sock):
            sock.close()
            return
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append(sock)
                return
        sock.close()

    def _connect(self, deadline: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(os.fspath(self.path))
        except NOT_LISTENING as error:
            sock.close()
            raise not_listening(self.path, error, role=self.role, reached=self._reached) from None
        except TimeoutError:
            sock.close()
            raise CallTimeoutError(f"connecting to {self.path} timed out") from None
        except OSError as error:
            sock.close()
            raise cannot_connect(self.path, error, role=self.role) from None
        except BaseException:  # KeyboardInterrupt and the like: leave no socket behind
            sock.close()
            raise
        self._reached = True
        return sock

    def _round_trip(
        self, sock: socket.socket, data: bytes, deadline: float, *, reused: bool
    ) -> Frame:
        reader = FrameReader(response_limits(), responses=True)
        try:
            events, received_any, sent_all = _send_and_receive(sock, reader, data, deadline)
        except TimeoutError:
            sock.close()
            raise CallTimeoutError("no complete answer within the timeout") from None
        except OSError as error:
            sock.close()
            raise TransportError(f"connection error: {error}", transient=True) from None
        except BaseException:  # interrupted mid-answer: the stream cannot be reused
            sock.close()
            raise
        if not events:
            sock.close()
            if reused and not received_any:
                raise _StaleConnectionError
            raise TransportError(hang_up_message(received_any, self.role[0]), transient=True)
        event = events[0]
        if not isinstance(event, Frame):
            sock.close()
            raise ProtocolError(f"malformed answer from the service ({event.status.name})")
        if reader.buffered or len(events) > 1 or not sent_all:
            # Bytes beyond one answer, or an answer to a request not read whole (a refusal
            # from its header): this stream cannot be trusted any more.
            sock.close()
        else:
            self._give_back(sock)
        return event


def _send_and_receive(
    sock: socket.socket, reader: FrameReader, data: bytes, deadline: float
) -> tuple[list[Event], bool, bool]:
    """Send a request while reading its answer: (events, whether any byte came, all sent).

    Reading while sending is what makes a refusal reach us: a service that refuses a request
    from its header alone (BODY_SIZE_EXCEEDS_LIMIT) answers and closes without reading the
    rest, so writing on gets EPIPE (or blocks) while the answer waits in our receive buffer.
    No events means the service hung up (EOF or reset) first.
    """
    received_any = sent_all = False
    unsent = memoryview(data)
    sock.setblocking(False)
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLOUT)
    while True:
        if unsent:
            try:
                unsent = unsent[sock.send(unsent) :]
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                unsent = unsent[:0]  # the service stopped reading; its answer may be queued
                poller.modify(sock, select.POLLIN)
            else:
                if not unsent:
                    poller.modify(sock, select.POLLIN)
                    sent_all = True
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(max(remaining * 1000, 1)):
            raise TimeoutError
        try:
            chunk = sock.recv(RECV_SIZE)
        except BlockingIOError:
            continue  # writable only: send on
        except ConnectionResetError:
            return [], received_any, False
        if not chunk:
            return [], received_any, False
        received_any = True
        events = reader.feed(chunk)
        if events:
            return events, True, sent_all


def hang_up_message(received_any: bool, who: str = SERVICE[0]) -> str:
    """Why an exchange failed when the daemon hung up (killed, or restarting)."""
    if received_any:
        return f"{who} closed the connection mid-answer"
    return (
        f"{who} closed the connection without answering"
        " (the operation may or may not have taken effect)"
    )
