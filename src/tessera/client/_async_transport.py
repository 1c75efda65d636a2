"""Asyncio transport: the same contract as the blocking one, for one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from tessera.client._errors import CallTimeoutError, ProtocolError, TransportError
from tessera.client._transport import (
    NOT_LISTENING,
    RECV_SIZE,
    SERVICE,
    hang_up_message,
    not_listening,
    response_limits,
)
from tessera.wire.framing import Event, Frame, FrameReader

_MAX_IDLE = 8

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


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
        self._idle: list[Connection] = []

    async def exchange(
        self, data: bytes, timeout: float | None = None, *, idempotent: bool = True
    ) -> Frame:
        """Send one request and return its response frame (see `SyncTransport.exchange`)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._idle and idempotent:  # a non-idempotent request takes a fresh connection
            connection = self._idle.pop()
            if connection[0].at_eof():
                await _discard(connection[1])
                continue
            try:
                return await self._round_trip(connection, data, deadline, reused=True)
            except _StaleConnectionError:
                await self.aclose()  # the service restarted or dropped idle connections
        connection = await self._connect(deadline)
        return await self._round_trip(connection, data, deadline, reused=False)

    async def aclose(self) -> None:
        """Close idle connections."""
        idle, self._idle = self._idle, []
        for _, writer in idle:
            await _discard(writer)

    async def _connect(self, deadline: float) -> Connection:
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the awaited call completes.
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                connection = await asyncio.open_unix_connection(os.fspath(self.path))
        except NOT_LISTENING as error:
            raise not_listening(self.path, error, role=self.role, reached=self._reached) from None
        except TimeoutError:
            raise CallTimeoutError(f"connecting to {self.path} timed out") from None
        except OSError as error:
            raise TransportError(f"cannot connect to {self.path}: {error}", sent=False) from None
        self._reached = True
        return connection

    async def _round_trip(
        self, connection: Connection, data: bytes, deadline: float, *, reused: bool
    ) -> Frame:
        _, writer = connection
        frames = FrameReader(response_limits(), responses=True)
        failure: Exception
        try:
            events, received_any = await _send_and_receive(connection, frames, data, deadline)
        except TimeoutError:
            failure = CallTimeoutError("no complete answer within the timeout")
        except OSError as error:
            failure = TransportError(f"connection error: {error}", transient=True)
        except BaseException:  # cancelled mid-answer: the stream cannot be reused
            writer.close()
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
                if frames.buffered or len(events) > 1 or len(self._idle) >= _MAX_IDLE:
                    await _discard(writer)  # bytes beyond one answer, or the pool is full
                else:
                    self._idle.append(connection)
                return events[0]
        await _discard(writer)
        raise failure


async def _discard(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait for it (collecting any error, so none is left unretrieved)."""
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def _send_and_receive(
    connection: Connection, frames: FrameReader, data: bytes, deadline: float
) -> tuple[list[Event], bool]:
    """Send a request and read until an answer completes: (events, whether any byte came).

    No events means the service hung up (EOF or reset) first.
    """
    reader, writer = connection
    received_any = False
    try:
        writer.write(data)
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
            await writer.drain()
        while True:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                chunk = await reader.read(RECV_SIZE)
            if not chunk:
                return [], received_any
            received_any = True
            events = frames.feed(chunk)
            if events:
                return events, True
    except (BrokenPipeError, ConnectionResetError):
        return [], received_any
