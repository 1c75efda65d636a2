"""Asyncio transport: the same contract as the blocking one, for one event loop.

It drives a plain non-blocking socket with the loop's `sock_*` calls rather than asyncio
streams: a stream transport that fails a write (EPIPE) stops reading at once, and a refusal the
service sent before closing (BODY_SIZE_EXCEEDS_LIMIT for a request too big) would be lost. The
pool, and what an exchange's outcome means, are shared with the blocking transport
(`_connections`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

from tessera.client._connections import RECV_SIZE, Connections, StaleConnectionError
from tessera.wire.framing import Event, Frame, FrameReader


class AsyncTransport(Connections[socket.socket]):
    """Sends request frames to one Unix socket from an event loop."""

    async def exchange(
        self, data: bytes, timeout: float | None = None, *, idempotent: bool = True
    ) -> Frame:
        """Send one request and return its response frame (see `SyncTransport.exchange`)."""
        deadline = self._deadline(timeout)
        sock = self._take_idle(idempotent)
        if sock is not None:
            try:
                return await self._round_trip(sock, data, deadline, reused=True)
            except StaleConnectionError:
                await self.aclose()  # the service restarted or dropped idle connections
        sock = await self._connect(deadline)
        return await self._round_trip(sock, data, deadline, reused=False)

    async def aclose(self) -> None:
        """Close idle connections."""
        self._drop_idle()

    async def _connect(self, deadline: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._connecting(sock):
            sock.setblocking(False)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the awaited call completes.
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                await asyncio.get_running_loop().sock_connect(sock, os.fspath(self.path))
        self._reached = True
        return sock

    async def _round_trip(
        self, sock: socket.socket, data: bytes, deadline: float, *, reused: bool
    ) -> Frame:
        reader = self._reader()
        with self._exchanging(sock):
            outcome = await _send_and_receive(sock, reader, data, deadline)
        return self._answer(sock, reader, *outcome, reused=reused)


async def _send_all(sock: socket.socket, data: bytes) -> bool:
    """Send the whole request; False if the service stopped reading it (EPIPE, reset)."""
    try:
        await asyncio.get_running_loop().sock_sendall(sock, data)
    except (BrokenPipeError, ConnectionResetError):
        return False  # its answer (a refusal) may still be queued for us: the reader reads on
    return True


async def _send_and_receive(
    sock: socket.socket, frames: FrameReader, data: bytes, deadline: float
) -> tuple[list[Event], bool, bool]:
    """Send a request while reading its answer: (events, whether any byte came, all sent).

    As the blocking transport's: an answer that comes while the request is still going out (a
    refusal from its header) is read, not lost behind the EPIPE that writing on would get.
    No events means the service hung up (EOF or reset) first.
    """
    loop = asyncio.get_running_loop()
    sending = loop.create_task(_send_all(sock, data))
    received_any = False
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
            while True:
                try:
                    chunk = await loop.sock_recv(sock, RECV_SIZE)
                except ConnectionResetError:
                    return [], received_any, False
                if not chunk:
                    return [], received_any, False
                received_any = True
                events = frames.feed(chunk)
                if events:
                    # A complete answer: the request went out whole only if sending is done.
                    return events, True, sending.done() and sending.result()
    finally:
        if not sending.done():
            sending.cancel()
        # Let the send task settle before the socket can be closed under it (its writer
        # callback names the descriptor), and collect its outcome.
        await asyncio.wait([sending])
        if not sending.cancelled():
            sending.exception()
