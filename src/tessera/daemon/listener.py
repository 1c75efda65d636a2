"""The listening side of the service: accept connections, track them, shut down in order."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

from tessera.daemon.budget import AnswerBudget
from tessera.daemon.config_schema import ConnectionSettings
from tessera.daemon.connection import Connection
from tessera.daemon.handler import RequestHandler
from tessera.daemon.ratelimit import RateLimitedLog
from tessera.daemon.scheduler import FairScheduler
from tessera.daemon.socket_file import BACKLOG, bind_socket, unlink_socket
from tessera.daemon.systemd import inherited_listener
from tessera.trust.peer import PeerCredentials
from tessera.wire.framing import Limits

log = logging.getLogger(__name__)

# The sweep over open connections runs this many times per shortest timeout (so a deadline is
# acted on at most a quarter of it late), between these bounds in seconds.
_SWEEPS_PER_TIMEOUT = 4
_SWEEP_BOUNDS = (0.01, 0.25)


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
        self._server: asyncio.Server | None = None
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
    def open_connections(self) -> int:
        """Connections currently open."""
        return len(self._connections)

    def _make_connection(self) -> asyncio.Protocol:
        if len(self._connections) >= self._settings.max_connections:
            # Beyond the limit a connection is closed at once: the client sees EOF and may
            # retry; file descriptors and memory stay bounded.
            self._refusals.warning("refusing a connection: %d are open", len(self._connections))
            self.refused += 1
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
        )
        self._connections.add(connection)
        self.accepted += 1
        if self._sweep is None:
            self._schedule_sweep()
        return connection

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
        held = self._per_uid.get(uid, 0)
        if held >= self._settings.max_connections_per_uid:
            self._refusals.warning("refusing a connection of uid %s: it holds %d", uid, held)
            self.refused += 1
            return False
        self._per_uid[uid] = held + 1
        self._uid_of[connection] = uid
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
        # Pass the backlog again: create_unix_server calls listen() itself (default 100).
        self._server = await loop.create_unix_server(
            self._make_connection, sock=sock, backlog=BACKLOG
        )
        log.info("listening on %s", path)

    async def stop(self, drain_timeout: float) -> None:
        """Stop accepting, answer requests in flight (up to `drain_timeout`), close the rest."""
        if self._server is not None:
            self._server.close()
        if self._path is not None:
            unlink_socket(self._path, self._inode)
        for connection in list(self._connections):
            connection.drain()
        deadline = time.monotonic() + drain_timeout
        while self._connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        log.info("listener stopped")


class _Refused(asyncio.Protocol):
    """A connection over the limit: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()
