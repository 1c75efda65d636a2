"""One request to another daemon over its Unix socket, from an event loop.

The identity provider uses it towards the security service, the orchestrator towards the
identity provider (a `Link` is the channel a trust.trusted_side.TrustedSide is given). One
connection per request keeps these channels stateless: either side can restart between two
calls.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message

from tessera.wire.contracts import decode_result
from tessera.wire.framing import Frame, FrameReader, Limits, encode_request
from tessera.wire.header import Header
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status, StatusError

_RESPONSE_LIMITS = Limits(max_header_size=1024, max_body_size=1 << 20)


class LinkError(ConnectionError):
    """The peer daemon could not be reached or did not answer."""


class RefusedError(StatusError):
    """The peer answered with a failure status; `body` is what it sent with it (empty, or for
    the orchestrator's control opcodes the reason: tessera.orchestrator.refusals)."""

    def __init__(self, status: Status, message: str, body: bytes) -> None:
        super().__init__(status, message)
        self.body = body


async def call(path: Path, opcode: Opcode, body: Message, *, timeout: float = 5.0) -> Message:
    """Send one request; return the result message, or raise StatusError with the peer's status."""
    request = encode_request(Header(opcode=int(opcode)), body.SerializeToString())
    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
        # arrives as the exchange completes, and a daemon's task would then never stop.
        async with asyncio.timeout(timeout):
            frame = await _exchange(path, request)
    except TimeoutError:  # before OSError, of which it is a subclass
        raise LinkError(f"no answer from {path} within {timeout} s") from None
    except (OSError, asyncio.IncompleteReadError) as error:
        raise LinkError(f"cannot reach {path}: {error}") from None
    status = frame.header.status
    if status != Status.SUCCESS:
        try:
            known = Status(status)
        except ValueError:
            known = Status.PSA_ERROR_GENERIC_ERROR
        raise RefusedError(known, f"{opcode.name} refused by {path.name}: {known.name}", frame.body)
    return decode_result(opcode, frame.body)


@dataclass(frozen=True, slots=True)
class Link:
    """The socket of one peer daemon, each call its own connection."""

    path: Path
    timeout: float = 5.0

    @property
    def name(self) -> str:
        """The socket's file name, for logs."""
        return self.path.name

    async def call(self, opcode: Opcode, body: Message) -> Message:
        """As the module's `call`, to this peer."""
        return await call(self.path, opcode, body, timeout=self.timeout)


async def _exchange(path: Path, request: bytes) -> Frame:
    reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    try:
        writer.write(request)
        await writer.drain()
        frames = FrameReader(_RESPONSE_LIMITS, responses=True)
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                raise LinkError(f"{path} closed the connection without an answer")
            events = frames.feed(chunk)
            if events:
                event = events[0]
                if not isinstance(event, Frame):
                    raise LinkError(f"malformed answer from {path}")
                return event
    finally:
        writer.close()
