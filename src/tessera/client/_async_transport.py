"""Asyncio transport: the same contract as the blocking one, for one event loop."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tessera.client._errors import CallTimeoutError, ProtocolError, TransportError
from tessera.client._transport import response_limits
from tessera.wire.framing import Frame, FrameReader

_MAX_IDLE = 8
_NOT_LISTENING = (FileNotFoundError, ConnectionRefusedError)

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _StaleConnectionError(Exception):
    """A pooled connection was closed before any answer byte."""


class AsyncTransport:
    """Sends request frames to one Unix socket from an event loop."""

    def __init__(self, path: Path, *, timeout: float = 60.0, connect_retry: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self.connect_retry = connect_retry
        self._idle: list[Connection] = []

    async def exchange(self, data: bytes, timeout: float | None = None) -> Frame:
        """Send one request and return its response frame."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._idle:
            connection = self._idle.pop()
            if connection[0].at_eof():
                connection[1].close()
                continue
            try:
                return await self._round_trip(connection, data, deadline, reused=True)
            except _StaleConnectionError:
                break
        connection = await self._connect(deadline)
        try:
            return await self._round_trip(connection, data, deadline, reused=False)
        except _StaleConnectionError:
            raise TransportError("the service closed the connection without answering") from None

    async def aclose(self) -> None:
        """Close idle connections."""
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()

    async def _connect(self, deadline: float) -> Connection:
        delay = 0.02
        give_up = min(deadline, time.monotonic() + self.connect_retry)
        while True:
            try:
                return await asyncio.wait_for(
                    asyncio.open_unix_connection(os.fspath(self.path)),
                    max(deadline - time.monotonic(), 0.001),
                )
            except _NOT_LISTENING as error:
                if time.monotonic() + delay > give_up:
                    raise TransportError(
                        f"cannot reach the service at {self.path}: {error.strerror}"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
            except TimeoutError:
                raise CallTimeoutError(f"connecting to {self.path} timed out") from None
            except OSError as error:
                raise TransportError(f"cannot connect to {self.path}: {error}") from None

    async def _round_trip(
        self, connection: Connection, data: bytes, deadline: float, *, reused: bool
    ) -> Frame:
        reader_stream, writer = connection
        frames = FrameReader(response_limits(), responses=True)
        received_any = False
        try:
            writer.write(data)
            await asyncio.wait_for(writer.drain(), max(deadline - time.monotonic(), 0.001))
            while True:
                chunk = await asyncio.wait_for(
                    reader_stream.read(65536), max(deadline - time.monotonic(), 0.001)
                )
                if not chunk:
                    if reused and not received_any:
                        raise _StaleConnectionError
                    raise TransportError("the service closed the connection mid-answer")
                received_any = True
                events = frames.feed(chunk)
                if events:
                    break
        except (_StaleConnectionError, TransportError):
            writer.close()
            raise
        except TimeoutError:
            writer.close()
            raise CallTimeoutError("no complete answer within the timeout") from None
        except (BrokenPipeError, ConnectionResetError):
            writer.close()
            if reused and not received_any:
                raise _StaleConnectionError from None
            raise TransportError("the connection to the service broke") from None
        except OSError as error:
            writer.close()
            raise TransportError(f"connection error: {error}") from None
        event = events[0]
        if not isinstance(event, Frame):
            writer.close()
            raise ProtocolError(f"malformed answer from the service ({event.status.name})")
        if frames.buffered or len(events) > 1 or len(self._idle) >= _MAX_IDLE:
            writer.close()
        else:
            self._idle.append(connection)
        return event
