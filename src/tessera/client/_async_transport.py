"""Asyncio transport: the same contract as the blocking one, for one event loop.

It drives a plain non-blocking socket with the loop's `sock_*` calls rather than asyncio
streams: a stream transport that fails a write (EPIPE) stops reading at once, and a refusal the
service sent before closing (BODY_SIZE_EXCEEDS_LIMIT for a request too big) would be lost.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

from tessera.client._errors import CallTimeoutError, ProtocolError, TransportError
from tessera.client._transport import (
    NOT_LISTENING,
    RECV_SIZE,
    SERVICE,
    cannot_connect,
    hang_up_message,
    not_listening,
    response_limits,
    still_open,
)
from tessera.wire.framing import Event, Frame, FrameReader

_MAX_IDLE = 8


class _StaleConnectionError(Exception):
    """A pooled connection was closed before any answer byte."""


class AsyncTransport:
    """Sends request frames to one Unix socket from an event loop."""

    def __init__(
        self, path: Path, *, timeout: float = 60.0, role: tuple[str, str] = SERVICE
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.role = role
        self._reached = False  # connected at least once: a vanished socket means a restart
        self._idle: list[socket.socket] = []

    async def exchange(
        self, data: bytes, timeout: float | None = None, *, idempotent: bool = True
    ) -> Frame:
        """Send one request and return its response frame (see `SyncTransport.exchange`)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._idle and idempotent:  # a non-idempotent request takes a fresh connection
            sock = self._idle.pop()
            if not still_open(sock):
                sock.close()
                continue
            try:
                return await self._round_trip(sock, data, deadline, reused=True)
            except _StaleConnectionError:
                await self.aclose()  # the service restarted or dropped idle connections
        sock = await self._connect(deadline)
        return await self._round_trip(sock, data, deadline, reused=False)

    async def aclose(self) -> None:
        """Close idle connections."""
        idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    async def _connect(self, deadline: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the awaited call completes.
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                await asyncio.get_running_loop().sock_connect(sock, os.fspath(self.path))
        except NOT_LISTENING as error:
            sock.close()
            raise not_listening(self.path, error, role=self.role, reached=self._reached) from None
        except TimeoutError:
            sock.close()
            raise CallTimeoutError(f"connecting to {self.path} timed out") from None
        except OSError as error:
            sock.close()
            raise cannot_connect(self.path, error, role=self.role) from None
        except BaseException:  # cancelled: leave no socket behind
            sock.close()
            raise
        self._reached = True
        return sock

    async def _round_trip(
        self, sock: socket.socket, data: bytes, deadline: float, *, reused: bool
    ) -> Frame:
        frames = FrameReader(response_limits(), responses=True)
        failure: Exception
        try:
            events, received_any, sent_all = await _send_and_receive(sock, frames, data, deadline)
        except TimeoutError:
            failure = CallTimeoutError("no complete answer within the timeout")
        except OSError as error:
            failure = TransportError(f"connection error: {error}", transient=True)
        except BaseException:  # cancelled mid-answer: the stream cannot be reused
            sock.close()
            raise
        else:
            if not events:
                failure = (
                    _StaleConnectionError()
                    if reused and not received_any
                    else TransportError(hang_up_message(received_any, self.role[0]), transient=True)
                )
            elif not isinstance(events[0], Frame):
                status = events[0].status.name
                failure = ProtocolError(f"malformed answer from the service ({status})")
            else:
                # Bytes beyond one answer, an answer to a request not read whole (a refusal
                # from its header), a full pool, or a closing service: do not keep it.
                reusable = not (frames.buffered or len(events) > 1 or not sent_all)
                if not reusable or len(self._idle) >= _MAX_IDLE or not still_open(sock):
                    sock.close()
                else:
                    self._idle.append(sock)
                return events[0]
        sock.close()
        raise failure


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
