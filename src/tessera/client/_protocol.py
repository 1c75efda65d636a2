"""The client's sans-I/O core: calls to request bytes, response frames to results or exceptions.

No socket, event loop or clock here. A `Call` says what to send and how to read the result;
`flow()` is the one multi-step exchange every call goes through: credentials, request, answer,
fresh credentials after an AuthenticationError, and riding out restarts of the service and the
identity provider. The sync and async clients only drive it: they send its exchanges, honour its
pauses, and throw every transport failure back into it, which decides what to try again.
"""

from __future__ import annotations

import binascii
import enum
from collections.abc import Callable, Generator

from tessera.client._errors import (
    AuthenticationError,
    CallTimeoutError,
    ProtocolError,
    ServiceError,
    TesseraError,
    TransportError,
    error_for_status,
)
from tessera.client._patience import Patience
from tessera.wire._values import Frozen, _set
from tessera.wire.contracts import OPERATIONS, decode_result
from tessera.wire.framing import Frame, encode_request
from tessera.wire.header import FLAG_EXTENSIONS, FLAG_KEEP_ALIVE, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.protowire import Schema, WireDecodeError, decode
from tessera.wire.status import Status, StatusError

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Any, Generic, Protocol, TypeVar
else:
    from tessera.wire._runtime_typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class Body(Protocol):
    """A request body: a protobuf message, or one already encoded (`Encoded`)."""

    def SerializeToString(self) -> bytes:  # noqa: N802 (protobuf's name)
        """The body's bytes."""
        ...

    def ByteSize(self) -> int:  # noqa: N802 (protobuf's name)
        """The body's size in bytes."""
        ...


class Encoded:
    """A body encoded without protobuf (`tessera.wire.protowire`)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializeToString(self) -> bytes:  # noqa: N802 (protobuf's name)
        """The body's bytes."""
        return self.data

    def ByteSize(self) -> int:  # noqa: N802 (protobuf's name)
        """The body's size in bytes."""
        return len(self.data)


def operation_name(opcode: Opcode) -> str:
    """An opcode's name as Parsec writes it (PsaSignHash), for error messages."""
    return opcode.name.title().replace("_", "")


class Call(Frozen, Generic[T]):
    """One operation: the request body and how to turn the result message into a value.

    `settle` (for operations that must not run twice) says how to read the answer when the call
    is sent again after its first answer was lost. `result`, when given, is the schema the
    answer is decoded with (`protowire`: `parse` then receives a dict), else the operation's
    protobuf message.
    """

    __slots__ = ("body", "key_name", "opcode", "parse", "provider", "result", "settle")
    _fields = ("opcode", "body", "parse", "provider", "key_name", "settle", "result")
    _compared = _shown = ("opcode", "body", "parse", "provider", "key_name")
    opcode: Opcode
    body: Body
    parse: Callable[[Any], T]
    provider: int
    key_name: str | None
    settle: Settle | None
    result: Schema | None

    def __init__(  # noqa: PLR0917 (positional in field order, as the dataclass it was)
        self,
        opcode: Opcode,
        body: Body,
        parse: Callable[[Any], T],
        provider: int = 0,
        key_name: str | None = None,
        settle: Settle | None = None,
        result: Schema | None = None,
    ) -> None:
        _set(self, "opcode", opcode)
        _set(self, "body", body)
        _set(self, "parse", parse)
        _set(self, "provider", provider)
        _set(self, "key_name", key_name)
        _set(self, "settle", settle)
        _set(self, "result", result)

    @property
    def operation(self) -> str:
        """The operation's name as Parsec writes it (PsaSignHash), for error messages."""
        return operation_name(self.opcode)

    @property
    def idempotent(self) -> bool:
        """False for operations that must not run twice (they create or destroy state)."""
        return OPERATIONS[self.opcode].idempotent


# What a check finds: True when the existing state is what the call would have made; or a
# further read-only call that tells.
Verdict = bool | Call[bool]


class Settle(Frozen):
    """Reading an "already done" answer to a call sent again after its first answer was lost.

    `status` is that answer (AlreadyExists for a creation, DoesNotExist for a destruction): the
    lost attempt may have done it, or something else did. `check`, a read-only call, tells which;
    without one, "already done" is the call's success (a destroyed key is gone either way).
    """

    __slots__ = ("check", "status")
    _fields = ("status", "check")
    status: Status
    check: Call[Verdict] | None

    def __init__(self, status: Status, check: Call[Verdict] | None = None) -> None:
        _set(self, "status", status)
        _set(self, "check", check)


class Credentials(Frozen):
    """An authentication field: its type and payload (kept out of reprs)."""

    __slots__ = ("auth_type", "payload")
    _fields = ("auth_type", "payload")
    _shown = ("auth_type",)
    auth_type: AuthType
    payload: bytes

    def __init__(self, auth_type: AuthType, payload: bytes) -> None:
        _set(self, "auth_type", auth_type)
        _set(self, "payload", payload)


class Target(enum.Enum):
    """Which daemon an exchange goes to."""

    SERVICE = "service"
    IDENTITY = "identity"


class Exchange(Frozen):
    """One request to send to `target`; the driver sends back the response frame."""

    __slots__ = ("data", "idempotent", "target")
    _fields = ("target", "data", "idempotent")
    target: Target
    data: bytes
    idempotent: bool  # False: never sent twice, even over a connection that broke

    def __init__(self, target: Target, data: bytes, idempotent: bool = True) -> None:
        _set(self, "target", target)
        _set(self, "data", data)
        _set(self, "idempotent", idempotent)


class Pause(Frozen):
    """Wait `seconds` before the next step (a short retry); the driver sends back None."""

    __slots__ = ("seconds",)
    _fields = ("seconds",)
    seconds: float

    def __init__(self, seconds: float) -> None:
        _set(self, "seconds", seconds)


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
        if call.result is not None:
            result: Any = decode(call.result, frame.body)
        else:
            result = decode_result(call.opcode, frame.body)
    except (StatusError, WireDecodeError):
        raise ProtocolError(f"undecodable answer to {call.operation}") from None
    return call.parse(result)


# Answers given before anything is done that mean "not yet": the service or the identity provider
# holds no trust yet (one of them restarted), or the orchestrator has not (re-)proven this
# process to the identity provider. Waited out like a daemon that is not listening.
NOT_YET = frozenset({Status.TRUST_NO_ROOT, Status.IDENTITY_CLIENT_NOT_PROVEN})

# Refetches of refused credentials within one call: the second and later ones only while trust
# is being re-established (each refused credential came from another signer).
MAX_REFETCHES = 4


def flow(call: Call[T], auth: Authentication, patience: Patience | None = None) -> Flow[T]:
    """Send a call and read its answer, riding out restarts of the daemons.

    - Each request, and each exchange of the credentials flow, is sent again after a pause
      while its daemon may be restarting (`_send`), until `patience` is spent.
    - After an AuthenticationError, credentials that can be refreshed are fetched again and the
      call retried: once, and again only while trust is being re-established (`_may_refetch`).
    - A call that must not run twice whose answer was lost (the connection broke after it went
      out) is sent again once its daemon answers, and an "already done" answer is read by its
      `settle` rule; without a rule, the TransportError is raised (it is never resent blindly).
    """
    patience = patience or Patience()
    lost = False  # an earlier attempt may have taken effect
    refused: list[bytes] = []  # signers of the credentials the service refused
    credentials = (
        (yield from relay(auth.credentials(), patience)) if call.opcode.needs_auth else None
    )
    while True:
        request = Exchange(Target.SERVICE, encode_call(call, credentials), call.idempotent)
        try:
            frame = yield from _send(request, patience)
        except TransportError as error:
            if call.settle is None or not error.transient or not (yield from _wait(patience)):
                raise
            lost = True
            continue
        try:
            return decode_reply(call, frame)
        except AuthenticationError:
            if not _may_refetch(credentials, refused) or not auth.invalidate():
                raise
            assert credentials is not None
            refused.append(signer(credentials))
            credentials = yield from relay(auth.credentials(), patience)
        except ServiceError as error:
            settle = call.settle
            if not lost or settle is None or error.status is not settle.status:
                raise
            if not (yield from _took_effect(settle, auth, patience)):
                raise
            return decode_reply(call, Frame(Header(opcode=int(call.opcode)), b""))


def relay(steps: Flow[T], patience: Patience) -> Flow[T]:
    """Run a sub-flow (credentials), sending its exchanges again as `_send` does."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, Pause):
                yield step
                step = steps.send(None)
                continue
            try:
                frame = yield from _send(step, patience)
            except TesseraError as error:
                step = steps.throw(error)
                continue
            step = steps.send(frame)
    except StopIteration as done:
        result: T = done.value
        return result


def _send(request: Exchange, patience: Patience) -> Generator[Step, Frame | None, Frame]:
    """The answer to `request`, sent again after a pause while its daemon may be restarting.

    Sent again when it never left (nobody listened), when the connection broke and the request
    may run twice, and when the answer says "not yet" (`NOT_YET`). A lost answer to a request
    that must not run twice is raised for the caller to settle; so is every other failure.
    """
    while True:
        try:
            frame = _frame((yield request))
        except TransportError as error:
            if not error.transient or (error.sent and not request.idempotent):
                raise
            if not (yield from _wait(patience)):
                raise
            continue
        if frame.header.status in NOT_YET and (yield from _wait(patience)):
            continue
        return frame


def _wait(patience: Patience) -> Generator[Step, Frame | None, bool]:
    """Pause before trying again; False when patience is spent or the call's time is up."""
    seconds = patience.next_pause()
    if seconds is None:
        return False
    try:
        yield Pause(seconds)
    except CallTimeoutError:  # the driver: this pause would outlast the call's timeout
        return False
    return True


def _may_refetch(credentials: Credentials | None, refused: list[bytes]) -> bool:
    """Refetch once; again only if the credentials just refused came from another signer than
    the ones refused before them: the identity provider restarted (or rotated) in between, so
    the next token may be trusted. A signer refused twice will be refused again."""
    if credentials is None or len(refused) >= MAX_REFETCHES:
        return False
    return not refused or signer(credentials) != refused[-1]


def signer(credentials: Credentials) -> bytes:
    """What vouches for credentials: a token's signing key (its JWT header's `kid`), else the
    payload itself."""
    if credentials.auth_type in (AuthType.JWT, AuthType.JWT_SVID):
        import base64  # tokens only: not on every command's start-up
        import json

        encoded = credentials.payload.split(b".", 1)[0]
        try:
            header = json.loads(base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4)))
        except (binascii.Error, ValueError):
            header = None
        kid = header.get("kid") if isinstance(header, dict) else None
        if isinstance(kid, str):
            return kid.encode()
    return credentials.payload


def _took_effect(
    settle: Settle, auth: Authentication, patience: Patience
) -> Generator[Step, Frame | None, bool]:
    """After an "already done" answer: True if it was done as this call would have done it."""
    if settle.check is None:
        return True
    verdict = yield from flow(settle.check, auth, patience)
    if isinstance(verdict, Call):
        found: bool = yield from flow(verdict, auth, patience)
        return found
    return verdict


def _frame(received: Frame | None) -> Frame:
    if received is None:
        raise ProtocolError("the driver sent no frame for an exchange")
    return received
