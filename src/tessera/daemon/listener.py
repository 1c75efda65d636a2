"""The listening side of the service: accept connections, track them, shut down in order.

A connection whose whole request is there when it is accepted, asks for no keep-alive and for
nothing slow, is answered at once, on the socket the accept gave (no transport, protocol object
or event-loop registration: about a quarter of a bare server's cost per connection, measured by
`benchmarks/ceiling.py`). Every other connection, and one whose answer does not fit the socket's
buffer, goes on as a `Connection` over a transport, with what was read or admitted so far. The
limits are the same on both paths: connections in all and per uid, the answer budget.
"""

from __future__ import annotations

import _socket
import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

from tessera.daemon.acceptor import Acceptor
from tessera.daemon.budget import AnswerBudget
from tessera.daemon.config_schema import ConnectionSettings
from tessera.daemon.connection import Connection, Resumption
from tessera.daemon.handler import Prepared, RequestHandler
from tessera.daemon.peer import credentials_of
from tessera.daemon.ratelimit import RateLimitedLog
from tessera.daemon.scheduler import FairScheduler
from tessera.daemon.socket_file import BACKLOG, bind_socket, unlink_socket
from tessera.daemon.systemd import inherited_listener
from tessera.trust.peer import PeerCredentials
from tessera.wire.framing import Frame, FrameReader, Limits
from tessera.wire.header import FLAG_KEEP_ALIVE

log = logging.getLogger(__name__)

# The sweep over open connections runs this many times per shortest timeout (so a deadline is
# acted on at most a quarter of it late), between these bounds in seconds.
_SWEEPS_PER_TIMEOUT = 4
_SWEEP_BOUNDS = (0.01, 0.25)
# The first read of a new connection: a request larger than this goes on over a transport.
_FIRST_READ = 64 << 10
# The accepted sockets stay blocking (no fcntl per connection): each call says not to wait,
# and a client gone does not raise SIGPIPE.
_DONTWAIT = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL


class Listener:
    """A Unix-socket server around a dispatcher."""

    def __init__(
        self,
        dispatcher: RequestHandler[Any],
        scheduler: FairScheduler,
        limits: Limits,
        settings: ConnectionSettings,
        *,
        peer_start_time: bool = False,
    ) -> None:
        self._settings = settings
        self._per_uid: dict[int | None, int] = {}
        self._uid_of: dict[Connection, int | None] = {}
        self._refusals = RateLimitedLog(log)
        self._budget = AnswerBudget()
        self._peer_start_time = peer_start_time
        self._dispatcher = dispatcher
        self._scheduler = scheduler
        self._limits = limits
        self._connections: set[Connection] = set()
        self._acceptor: Acceptor | None = None
        self._handovers: set[asyncio.Task[None]] = set()
        # Connections on their way to becoming `Connection`s: their slots, in all and per uid,
        # held from the accept (they are not refused again once some work is done for them).
        self._handing_over: dict[int | None, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweep: asyncio.TimerHandle | None = None
        self._path: Path | None = None
        self._inode = 0
        self.accepted = 0  # plain counts for the metrics endpoint, read when scraped
        self.refused = 0

    def reconfigure(
        self,
        limits: Limits,
        settings: ConnectionSettings,
        *,
        slow_requests_per_tenant: int,
    ) -> None:
        """New limits and timeouts (a reload): for connections opened from now on; open ones
        keep those they started with, so no client sees its rules change mid-conversation."""
        self._limits = limits
        self._settings = settings
        # The scheduler reads its limit at each submit: new requests see the new one.
        self._scheduler.in_flight_per_tenant = slow_requests_per_tenant

    @property
    def sweeping(self) -> bool:
        """True while the deadline sweep is scheduled: only while connections are open."""
        return self._sweep is not None

    @property
    def answers_held(self) -> int:
        """Bytes of answers written and not yet read by their clients (the answer budget's)."""
        return self._budget.held

    @property
    def open_connections(self) -> int:
        """Connections currently open."""
        return len(self._connections)

    def _make_connection(self, resumption: Resumption | None = None) -> asyncio.Protocol:
        if resumption is None and self._full():
            return _Refused()
        connection = Connection(
            self._dispatcher,
            self._scheduler,
            self._limits,
            request_timeout=self._settings.request_timeout,
            idle_timeout=self._settings.idle_timeout,
            first_byte_timeout=self._settings.first_byte_timeout,
            on_open=self._admit_peer,
            budget=self._budget,
            on_close=self._closed,
            peer_start_time=self._peer_start_time,
            loop=self._loop,
            resumption=resumption,
        )
        self._connections.add(connection)
        self.accepted += 1
        if self._sweep is None:
            self._schedule_sweep()
        return connection

    def _full(self) -> bool:
        handing_over = sum(self._handing_over.values())
        if len(self._connections) + handing_over < self._settings.max_connections:
            return False
        # Beyond the limit a connection is closed at once: the client sees EOF and may retry;
        # file descriptors and memory stay bounded.
        self._refusals.warning("refusing a connection: %d are open", len(self._connections))
        self.refused += 1
        return True

    def _accepted(self, sock: _socket.socket) -> None:
        """A new connection, from the acceptor: answered here if it can be, else handed on."""
        if self._full():
            sock.close()
            return
        peer = credentials_of(sock, start_time=self._peer_start_time)
        uid = peer.uid if peer is not None else None
        if self._uid_full(uid):
            sock.close()
            return
        try:
            data = sock.recv(_FIRST_READ, _DONTWAIT)
        except BlockingIOError:
            data = b""  # nothing sent yet: the transport waits for it
        except OSError:
            sock.close()
            return
        else:
            if not data:
                sock.close()  # gone without asking anything
                return
            if self._answer_at_once(sock, data, peer):
                return
        self._hand_over(sock, uid, data=data)

    def _answer_at_once(
        self, sock: _socket.socket, data: bytes, peer: PeerCredentials | None
    ) -> bool:
        """Serve `data` if it is one whole request without keep-alive (answered here, or handed
        on admitted if it runs on the worker pool); False, with nothing done, otherwise."""
        reader = FrameReader(self._limits)
        events = reader.feed(data)
        if len(events) != 1 or reader.buffered:
            return False
        frame = events[0]
        uid = peer.uid if peer is not None else None
        if (
            not isinstance(frame, Frame)
            or frame.header.flags & FLAG_KEEP_ALIVE
            or not self._budget.allows(uid)
        ):
            return False
        admitted = self._dispatcher.admit(frame, peer)
        if isinstance(admitted, bytes):
            response = admitted
        elif admitted.blocking:
            self._hand_over(sock, uid, admitted=(admitted, frame))  # to the pool, in turn
            return True
        else:
            response = self._dispatcher.execute(admitted)
        self.accepted += 1
        try:
            sent = sock.send(response, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError:
            sock.close()  # the client has gone
            return True
        if sent < len(response):
            self.accepted -= 1  # counted again as the connection it becomes
            self._hand_over(sock, uid, unsent=response[sent:])
        else:
            sock.close()
        return True

    def _hand_over(
        self,
        sock: _socket.socket,
        uid: int | None,
        *,
        data: bytes = b"",
        admitted: tuple[Prepared, Frame] | None = None,
        unsent: bytes = b"",
    ) -> None:
        assert self._loop is not None
        resumption = Resumption(data, admitted, unsent)
        # An answer that did not fit counts against the budget from now: until its connection
        # holds it, the next accepts must see it (the connection releases this hold).
        self._budget.hold(resumption, uid, len(unsent))
        self._handing_over[uid] = self._handing_over.get(uid, 0) + 1
        task = self._loop.create_task(self._go_on(sock, uid, resumption))
        self._handovers.add(task)
        task.add_done_callback(self._handovers.discard)

    async def _go_on(self, sock: _socket.socket, uid: int | None, resumption: Resumption) -> None:
        """The connection as a transport and a `Connection`, which goes on where `_accepted`
        left it once it reads."""
        assert self._loop is not None
        whole = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, sock.detach())
        try:
            whole.setblocking(False)
            await self._loop.connect_accepted_socket(
                lambda: self._make_connection(resumption), whole
            )
        except Exception:  # this connection is lost; the service goes on
            log.exception("could not go on with a new connection")
            whole.close()
            self._budget.release(resumption)
        finally:
            # A `Connection` now (counted as one), or gone.
            remaining = self._handing_over[uid] - 1
            if remaining:
                self._handing_over[uid] = remaining
            else:
                del self._handing_over[uid]

    def _schedule_sweep(self) -> None:
        settings = self._settings
        shortest = min(settings.request_timeout, settings.first_byte_timeout, settings.idle_timeout)
        low, high = _SWEEP_BOUNDS
        interval = min(high, max(low, shortest / _SWEEPS_PER_TIMEOUT))
        assert self._loop is not None  # connections are made only once the server runs
        self._sweep = self._loop.call_later(interval, self._check_deadlines)

    def _check_deadlines(self) -> None:
        """Act on the deadlines that passed (connection.py: one timer for all connections);
        the sweep stops while no connection is open, so an idle service does no work."""
        self._sweep = None
        assert self._loop is not None
        now = self._loop.time()
        try:
            for connection in list(self._connections):
                try:
                    connection.check_deadline(now)
                except Exception:  # one connection's failure must not spare the others
                    log.exception("closing a connection whose deadline could not be acted on")
                    connection.abort()
        finally:
            if self._connections:
                self._schedule_sweep()

    def _admit_peer(self, connection: Connection, peer: PeerCredentials | None) -> bool:
        """One uid may hold only its share of the connections, so it cannot lock others out."""
        uid = peer.uid if peer is not None else None
        if not connection.resuming and self._uid_full(uid):
            return False
        self._per_uid[uid] = self._per_uid.get(uid, 0) + 1
        self._uid_of[connection] = uid
        return True

    def _uid_full(self, uid: int | None) -> bool:
        held = self._per_uid.get(uid, 0) + self._handing_over.get(uid, 0)
        if held < self._settings.max_connections_per_uid:
            return False
        self._refusals.warning("refusing a connection of uid %s: it holds %d", uid, held)
        self.refused += 1
        return True

    def _closed(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if connection in self._uid_of:
            uid = self._uid_of.pop(connection)
            remaining = self._per_uid[uid] - 1
            if remaining:
                self._per_uid[uid] = remaining
            else:
                del self._per_uid[uid]

    async def start(
        self, path: Path, group: str | None, *, listening: socket.socket | None = None
    ) -> None:
        """Bind the socket (or take the one systemd passed) and start accepting; with
        `listening`, accept on that socket instead (its owner binds and removes it)."""
        sock = listening  # a worker's: bound by its master, under the name `path` once serving
        if sock is None:
            sock = inherited_listener(path)
            if sock is None:
                sock = bind_socket(path, group)
                self._path = path  # ours to remove at stop; systemd's socket outlives us
                self._inode = path.lstat().st_ino
            else:
                log.info("socket passed by systemd")
                path = Path(sock.getsockname())
        self._loop = loop = asyncio.get_running_loop()
        sock.listen(BACKLOG)  # again: a socket passed by systemd or a master may have less
        self._acceptor = Acceptor(loop, sock, self._accepted)
        log.info("listening on %s", path)

    async def stop(self, drain_timeout: float) -> None:
        """Stop accepting, answer requests in flight (up to `drain_timeout`), close the rest."""
        if self._acceptor is not None:
            self._acceptor.close()
        if self._path is not None:
            unlink_socket(self._path, self._inode)
        if self._handovers:  # connections on their way to becoming `Connection`s drain too
            await asyncio.gather(*self._handovers, return_exceptions=True)
        for connection in list(self._connections):
            connection.drain()
        deadline = time.monotonic() + drain_timeout
        while self._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._connections):
            connection.close()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        log.info("listener stopped")


class _Refused(asyncio.Protocol):
    """A connection over the limit: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()
