"""What both transports share: the pool of idle connections, and what an exchange's outcome means.

A transport keeps connections open between exchanges and lends each exchange its own. A pooled
connection that turns out closed (the service restarted, or closes after each answer as Parsec's
does) is replaced once, transparently (`StaleConnectionError`). Anything else fails at once with
a `TransportError` that says whether the request left and whether the daemon may be restarting:
waiting for it is the flows' business (`_protocol`), not the transport's. `SyncTransport` and
`AsyncTransport` add only the I/O: connecting, and sending while reading the answer.
"""

from __future__ import annotations

import _socket  # socket.socket's base, which the asyncio transport's sockets are too
import os
import time
from _thread import allocate_lock  # threading.Lock itself, without importing threading
from collections.abc import Callable

from tessera.client._errors import CallTimeoutError, ProtocolError, TesseraError, TransportError
from tessera.wire.framing import Event, Frame, FrameReader, Limits

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Generic, TypeVar
else:
    from tessera.wire._runtime_typing import Generic, TypeVar

# The blocking transport's sockets are `_socket`'s; the asyncio one's, `socket`'s (the loop's).
Socket = TypeVar("Socket", bound=_socket.socket)

RECV_SIZE = 65536
MAX_IDLE = 8  # idle connections kept per transport
# "Nobody is listening (yet)" or "the listen queue is full" (EAGAIN): worth retrying while
# the service (re)starts or drains a burst of connections.
NOT_LISTENING = (FileNotFoundError, ConnectionRefusedError, BlockingIOError)
Role = tuple[str, str]  # who listens, and the variable that names its socket
SERVICE: Role = ("the service", "PARSEC_SERVICE_ENDPOINT")
IDENTITY_PROVIDER: Role = ("the identity provider", "TESSERA_IDENTITY_ENDPOINT")


def not_listening(path: str, error: OSError, *, role: Role, reached: bool) -> TransportError:
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


def cannot_connect(path: str, error: OSError, *, role: Role) -> TransportError:
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


def _closed_to_us(path: str) -> str:
    """Which part of `path` this process may not use, to say what permission is missing."""
    from pathlib import PurePosixPath  # (not at the `tessera` command's start)

    who = f"uid {os.geteuid()}"
    for directory in reversed(PurePosixPath(path).parents):
        if not os.access(directory, os.X_OK):
            return f"its directory {directory} is closed to {who}"
    return f"{who} may not write to the socket"


def exchange_failure(error: OSError) -> TesseraError:
    """An exchange that failed after its connection was made (the request may have left)."""
    if isinstance(error, TimeoutError):
        return CallTimeoutError("no complete answer within the timeout")
    return TransportError(f"connection error: {error}", transient=True)


def hang_up_message(received_any: bool, who: str = SERVICE[0]) -> str:
    """Why an exchange failed when the daemon hung up (killed, or restarting)."""
    if received_any:
        return f"{who} closed the connection mid-answer"
    return (
        f"{who} closed the connection without answering"
        " (the operation may or may not have taken effect)"
    )


def still_open(sock: _socket.socket) -> bool:
    """True for an idle connection with nothing pending; False once the peer closed it.

    (MSG_DONTWAIT alone is not enough: a socket with a timeout would wait for it.)
    """
    try:
        sock.setblocking(False)
        sock.recv(1, _socket.MSG_PEEK)
    except BlockingIOError:
        return True  # nothing to read: open and idle, as it should be
    except OSError:
        return False
    return False  # EOF, or bytes nobody asked for: either way not reusable


def response_limits() -> Limits:
    """What we accept from a service: generous, but still bounded before allocation."""
    return Limits(max_header_size=1024, max_body_size=64 << 20)


class StaleConnectionError(Exception):
    """A pooled connection was found closed before any answer byte: retry on a new one."""


class ClosingOnFailure:
    """Close `sock` if the block fails (cancelled, interrupted, or an OSError, which becomes
    the TesseraError `translate` makes of it): a stream cut short cannot be reused."""

    __slots__ = ("_sock", "_translate")

    def __init__(self, sock: _socket.socket, translate: Callable[[OSError], TesseraError]) -> None:
        self._sock = sock
        self._translate = translate

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if exc is None:
            return
        self._sock.close()
        if isinstance(exc, OSError):
            raise self._translate(exc) from None


class Connections(Generic[Socket]):
    """A transport to one Unix socket: its settings, its idle connections, and what the
    outcome of one exchange means for the answer and for the connection it used."""

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 60.0, role: Role = SERVICE
    ) -> None:
        self.path = os.fspath(path)  # as str(Path) writes it, when given a Path
        self.timeout = timeout
        self.role = role
        self._reached = False  # connected at least once: a vanished socket means a restart
        self._idle: list[Socket] = []
        self._lock = allocate_lock()
        self._pid = os.getpid()

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def _connecting(self, sock: _socket.socket) -> ClosingOnFailure:
        """Guards a connection attempt: its failure says why nobody could be reached."""
        return ClosingOnFailure(sock, self._connect_failure)

    @staticmethod
    def _exchanging(sock: _socket.socket) -> ClosingOnFailure:
        """Guards an exchange on a connection: its failure may have left the request sent."""
        return ClosingOnFailure(sock, exchange_failure)

    @staticmethod
    def _reader() -> FrameReader:
        """A reader for one answer, within `response_limits`."""
        return FrameReader(response_limits(), responses=True)

    def _take_idle(self, idempotent: bool) -> Socket | None:
        """A pooled connection that is still open, if any.

        None for a request that must not run twice: it goes on a fresh connection, since a
        pooled one may be closing just now (a service that closes after each answer), and then
        whether the request was read could not be told.
        """
        if not idempotent:
            return None
        while (sock := self._pop_idle()) is not None and not still_open(sock):
            sock.close()
        return sock

    def _pop_idle(self) -> Socket | None:
        with self._lock:
            if self._pid != os.getpid():
                # A forked child must not share its parent's connections (answers would mix):
                # close its copies (the parent's stay open) and start its own pool.
                inherited, self._idle, self._pid = self._idle, [], os.getpid()
                for sock in inherited:
                    sock.close()
            return self._idle.pop() if self._idle else None

    def _drop_idle(self) -> None:
        """Close every idle connection (the service restarted, or the transport is closed)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    def _connect_failure(self, error: OSError) -> TesseraError:
        """Why no connection could be made (the request never left)."""
        if isinstance(error, NOT_LISTENING):
            return not_listening(self.path, error, role=self.role, reached=self._reached)
        if isinstance(error, TimeoutError):
            return CallTimeoutError(f"connecting to {self.path} timed out")
        return cannot_connect(self.path, error, role=self.role)

    def _answer(
        self,
        sock: Socket,
        reader: FrameReader,
        events: list[Event],
        received_any: bool,
        sent_all: bool,
        *,
        reused: bool,
    ) -> Frame:
        """The answer an exchange read (events, whether any byte came, whether the request
        went out whole), and the connection kept for the next exchange or closed."""
        if not events:
            sock.close()
            if reused and not received_any:
                raise StaleConnectionError
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

    def _give_back(self, sock: Socket) -> None:
        # A service that closes after each answer (Parsec's does) leaves EOF behind: drop those.
        if not still_open(sock):
            sock.close()
            return
        with self._lock:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(sock)
                return
        sock.close()
