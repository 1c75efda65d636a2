"""Serving the SPIFFE Workload API over gRPC on its own Unix socket, knowing who connected.

grpcio's server does not tell which process is on the other end of a Unix socket. grpclib runs on
asyncio, whose transports expose their socket: the kernel's credentials of the peer (SO_PEERCRED)
are read when a connection is made, with the peer's start time, as the identity provider's own
listener reads them, and kept for the connection's life. Reading them later would not do: a
caller could hand its connection on and exit, and its pid, reused, would name someone else.

The socket is bound like every daemon socket (socket_file.bind_socket: 0600, or 0660 for the
client group, in a 0700/0750 directory), before the daemon starts serving, so a path in use stops
the start-up with one line. Connections are capped in total and per uid, so one local user
cannot lock the others out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
from collections.abc import Collection
from pathlib import Path
from typing import Any

from grpclib.protocol import H2Protocol
from grpclib.server import Server, Stream

from tessera.daemon.peer import peer_credentials
from tessera.daemon.socket_file import BACKLOG, bind_socket, unlink_socket
from tessera.identity.config import IdentityConfig
from tessera.identity.registry import Registry
from tessera.identity.revocations import Revocations
from tessera.identity.workload_api import BundleWatch, Issuer, WorkloadApi
from tessera.trust.peer import PeerCredentials

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1024
MAX_CONNECTIONS_PER_UID = 256


class PeerBook:
    """The credentials of every open connection, read when it was made."""

    def __init__(
        self,
        max_connections: int = MAX_CONNECTIONS,
        max_per_uid: int = MAX_CONNECTIONS_PER_UID,
    ) -> None:
        self._max = max_connections
        self._max_per_uid = max_per_uid
        self._peers: dict[asyncio.BaseTransport, PeerCredentials | None] = {}
        self._per_uid: collections.Counter[int] = collections.Counter()

    def __len__(self) -> int:
        return len(self._peers)

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Record a new connection's peer; False when it is over the caps (close it)."""
        sock = transport.get_extra_info("socket")
        peer = peer_credentials(sock, start_time=True) if sock is not None else None
        uid = peer.uid if peer is not None else -1
        if len(self._peers) >= self._max or self._per_uid[uid] >= self._max_per_uid:
            log.warning("workload API: connection from uid %d refused: too many open", uid)
            return False
        self._peers[transport] = peer
        self._per_uid[uid] += 1
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        """Forget a closed connection."""
        if transport not in self._peers:
            return  # refused at connect: never counted
        peer = self._peers.pop(transport)
        uid = peer.uid if peer is not None else -1
        self._per_uid[uid] -= 1
        if self._per_uid[uid] <= 0:
            del self._per_uid[uid]

    def of(self, stream: Stream[Any, Any]) -> PeerCredentials | None:
        """The peer of the connection a call came on (None: unknown, so nobody)."""
        # grpclib's Peer keeps its connection's transport to itself; nothing public names it.
        transport = stream.peer._transport
        return self._peers.get(transport)


class _ConnectionHooks:
    """Wraps one connection's protocol: the peer is recorded before grpclib sees a byte."""

    def __init__(self, protocol: H2Protocol, book: PeerBook) -> None:
        self._made = protocol.connection_made
        self._lost = protocol.connection_lost
        self._book = book
        self._transport: asyncio.BaseTransport | None = None
        # The event loop calls these through the instance, so instance attributes take over.
        protocol.connection_made = self.connection_made  # type: ignore[method-assign]
        protocol.connection_lost = self.connection_lost  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        admitted = self._book.admit(transport)
        self._made(transport)
        if not admitted:
            transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._transport is not None:
            self._book.release(self._transport)
        self._lost(exc)


class _AttestingServer(Server):
    """grpclib's server, with each connection's peer credentials recorded in `book`."""

    def __init__(self, handlers: Collection[WorkloadApi], book: PeerBook) -> None:
        super().__init__(handlers)
        self._book = book

    def _protocol_factory(self) -> H2Protocol:
        protocol = super()._protocol_factory()
        _ConnectionHooks(protocol, self._book)
        return protocol


class WorkloadApiServer:
    """The Workload API's socket and server: bound at construction, served by `serve` (one of
    the daemon's background tasks), closed when that task is cancelled."""

    def __init__(
        self,
        config: IdentityConfig,
        registry: Registry,
        issuer: Issuer,
        revocations: Revocations,
    ) -> None:
        path = config.workload_api_socket
        if path is None:
            raise ValueError("the Workload API is not configured")
        self._path: Path = path
        for noisy in ("hpack", "h2"):
            # At debug level they log every header and frame: noise, and the callers' metadata.
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._drain_timeout = config.connections.drain_timeout
        self._sock: socket.socket | None = bind_socket(path, config.socket_group)
        self._inode = path.lstat().st_ino
        self.peers = PeerBook()
        self._bundles = BundleWatch(issuer, config.trust_domain)
        self.api = WorkloadApi(
            registry=registry,
            issuer=issuer,
            peers=self.peers,
            bundles=self._bundles,
            trust_domain=config.trust_domain,
            token_lifetime=config.token_lifetime,
            revocations=revocations,
        )

    @property
    def path(self) -> Path:
        """The socket's path."""
        return self._path

    async def serve(self) -> None:
        """Serve until cancelled; then stop accepting, end the calls and remove the socket."""
        if self._sock is None:
            raise RuntimeError("the Workload API socket is closed")
        server = _AttestingServer([self.api], self.peers)
        try:
            await server.start(sock=self._sock, backlog=BACKLOG)
            log.info("serving the SPIFFE Workload API on %s", self._path)
            await self._bundles.run()
        finally:
            with contextlib.suppress(RuntimeError):  # never started
                server.close()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._drain_timeout):
                        await server.wait_closed()
            self.close()

    def close(self) -> None:
        """Remove the socket (only if it is still ours); idempotent."""
        if self._sock is None:
            return
        self._sock.close()
        self._sock = None
        unlink_socket(self._path, self._inode)
