"""Blocking transport: persistent, pooled Unix-socket connections with transparent reconnect.

Safe to share between threads: every exchange borrows its own connection from the pool. The pool,
and what an exchange's outcome means, are shared with the asyncio transport (`_connections`);
this module adds the blocking I/O. A forked child starts with an empty pool.
"""

from __future__ import annotations

import _socket  # socket's core: the `socket` module's enums cost milliseconds at CLI start-up
import os
import select
import time

from tessera.client._connections import RECV_SIZE, Connections, StaleConnectionError
from tessera.wire.framing import Event, Frame, FrameReader


class SyncTransport(Connections[_socket.socket]):
    """Sends request frames to one Unix socket and reads one response frame each."""

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
        deadline = self._deadline(timeout)
        sock = self._take_idle(idempotent)
        if sock is not None:
            try:
                return self._round_trip(sock, data, deadline, reused=True)
            except StaleConnectionError:
                self.close()  # the service restarted or dropped idle connections: all are stale
        return self._round_trip(self._connect(deadline), data, deadline, reused=False)

    def close(self) -> None:
        """Close every idle connection; the transport can still be used afterwards."""
        self._drop_idle()

    def _connect(self, deadline: float) -> _socket.socket:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        with self._connecting(sock):
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(os.fspath(self.path))
        self._reached = True
        return sock

    def _round_trip(
        self, sock: _socket.socket, data: bytes, deadline: float, *, reused: bool
    ) -> Frame:
        reader = self._reader()
        with self._exchanging(sock):
            outcome = _send_and_receive(sock, reader, data, deadline)
        return self._answer(sock, reader, *outcome, reused=reused)


def _send_and_receive(
    sock: _socket.socket, reader: FrameReader, data: bytes, deadline: float
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
