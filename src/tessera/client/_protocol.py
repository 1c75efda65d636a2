"""The client's sans-I/O core: calls to request bytes, response frames to results or exceptions.

No socket or event loop here. A `Call` says what to send and how to read the result; `flow()` is
the one multi-step exchange every call goes through (credentials, request, answer, and one retry
with fresh credentials after an AuthenticationError). The sync and async clients only drive it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from google.protobuf.message import Message

from tessera.client._errors import (
    AuthenticationError,
    ProtocolError,
    ServiceError,
    error_for_status,
)
from tessera.wire.contracts import decode_result
from tessera.wire.framing import Frame, encode_request
from tessera.wire.header import FLAG_EXTENSIONS, FLAG_KEEP_ALIVE, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.status import Status, StatusError

T = TypeVar("T")

# Sent twice (the first answer lost with a broken connection), these would fail or act twice.
NOT_IDEMPOTENT = frozenset(
    {Opcode.PSA_GENERATE_KEY, Opcode.PSA_IMPORT_KEY, Opcode.PSA_DESTROY_KEY, Opcode.DELETE_CLIENT}
)


def operation_name(opcode: Opcode) -> str:
    """An opcode's name as Parsec writes it (PsaSignHash), for error messages."""
    return opcode.name.title().replace("_", "")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One operation: the request body and how to turn the result message into a value."""

    opcode: Opcode
    body: Message
    parse: Callable[[Message], T]
    provider: int = 0
    key_name: str | None = None

    @property
    def operation(self) -> str:
        """The operation's name as Parsec writes it (PsaSignHash), for error messages."""
        return operation_name(self.opcode)

    @property
    def idempotent(self) -> bool:
        """False for operations that must not run twice (they create or destroy state)."""
        return self.opcode not in NOT_IDEMPOTENT


@dataclass(frozen=True, slots=True)
class Credentials:
    """An authentication field: its type and payload (kept out of reprs)."""

    auth_type: AuthType
    payload: bytes = field(repr=False)


class Target(enum.Enum):
    """Which daemon an exchange goes to."""

    SERVICE = "service"
    IDENTITY = "identity"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request to send to `target`; the driver sends back the response frame."""

    target: Target
    data: bytes
    idempotent: bool = True  # False: never sent twice, even over a connection that broke


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait `seconds` before the next step (a short retry); the driver sends back None."""

    seconds: float


Step = Exchange | Pause

# A multi-step exchange: yields requests (or pauses), receives their response frames, returns a
# value.
Flow = Generator[Step, Frame | None, T]


class Authentication(Protocol):
    """Where a client's credentials come from."""

    def credentials(self) -> Flow[Credentials | None]:
        """Credentials for the next request (None: unauthenticated); may exchange to get them."""
        ...

    def invalidate(self) -> bool:
        """Forget cached credentials after an AuthenticationError; True if a retry may help."""
        ...


def encode_call(
    call: Call[T], credentials: Credentials | None, *, keep_alive: bool = True
) -> bytes:
    """The request frame of a call."""
    header = Header(
        provider=call.provider,
        opcode=int(call.opcode),
        auth_type=int(credentials.auth_type) if credentials else int(AuthType.NO_AUTH),
        flags=FLAG_EXTENSIONS | (FLAG_KEEP_ALIVE if keep_alive else 0),
    )
    return encode_request(
        header, call.body.SerializeToString(), credentials.payload if credentials else b""
    )


def decode_reply(call: Call[T], frame: Frame) -> T:
    """The call's value, or the exception its status maps to.

    The status is checked before the opcode: the service answers requests it could not read with
    a default header (opcode Ping) that still carries the right status.
    """
    header = frame.header
    if header.status != Status.SUCCESS:
        try:
            status = Status(header.status)
        except ValueError:
            raise ProtocolError(
                f"answer to {call.operation} carried unknown status {header.status}"
            ) from None
        raise error_for_status(status)(
            operation=call.operation, key_name=call.key_name, status=status
        )
    if header.opcode != call.opcode:
        raise ProtocolError(f"answer to {call.operation} carried opcode {header.opcode}")
    try:
        result = decode_result(call.opcode, frame.body)
    except StatusError:
        raise ProtocolError(f"undecodable answer to {call.operation}") from None
    return call.parse(result)


# A service that does not trust the identity provider yet (it just restarted) answers
# TrustNoRoot; the identity provider re-shares within its heartbeat. Waited out briefly.
NOT_READY_RETRIES = 20
NOT_READY_PAUSE = 0.05
NOT_READY_PAUSE_MAX = 0.5


def flow(call: Call[T], auth: Authentication) -> Flow[T]:
    """Send a call and read its answer.

    After an AuthenticationError, credentials that can be refreshed are refetched once and the
    call retried once. A service that is not ready to check tokens yet is waited for briefly.
    """
    credentials = (yield from auth.credentials()) if call.opcode.needs_auth else None
    frame = yield Exchange(Target.SERVICE, encode_call(call, credentials), call.idempotent)
    refreshed = False
    pause = NOT_READY_PAUSE
    for _ in range(NOT_READY_RETRIES):
        try:
            return decode_reply(call, _frame(frame))
        except AuthenticationError:
            if refreshed or credentials is None or not auth.invalidate():
                raise
            refreshed = True
            credentials = yield from auth.credentials()
        except ServiceError as error:
            if error.status is not Status.TRUST_NO_ROOT or credentials is None:
                raise
            yield Pause(pause)
            pause = min(pause * 2, NOT_READY_PAUSE_MAX)
        frame = yield Exchange(Target.SERVICE, encode_call(call, credentials), call.idempotent)
    return decode_reply(call, _frame(frame))


def _frame(received: Frame | None) -> Frame:
    if received is None:
        raise ProtocolError("the driver sent no frame for an exchange")
    return received
