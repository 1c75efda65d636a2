"""The request boundary every daemon shares: admit, run, and turn every failure into a status.

The front end (connection.py) hands frames to a `RequestHandler` in two steps, so slow work can
leave the event loop. `RequestBoundary` is that handler for the three daemons; each configures
it with what it serves and how (a route table, or the service's providers):
- `admit`: the opcode must be one the daemon serves (OpcodeDoesNotExist otherwise), then the
  daemon's own checks (authentication, routing) and the body's decoding;
- `execute`: run it. A `StatusError` is answered with its status; any other exception is logged
  (without request data) and answered with PsaErrorGenericError, so a bug in one operation never
  takes a daemon down, nor leaves a client without an answer.
Whether a request leaves the event loop is the registry's `may_block` (wire/contracts.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from google.protobuf.message import EncodeError, Message

from tessera.trust.peer import PeerCredentials
from tessera.wire.contracts import OPERATIONS, Daemon, OperationSpec, decode_operation, served_by
from tessera.wire.framing import Frame, FramingError, encode_response
from tessera.wire.header import Header, response_header_for, response_to
from tessera.wire.opcodes import Opcode, opcode_name
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)


class Prepared(Protocol):
    """A request that passed authentication and routing.

    It may also have a `tenant` attribute (hashable): whose turn a slow request takes on the
    worker pool. Without one, the connecting peer's uid is the tenant.
    """

    @property
    def blocking(self) -> bool:
        """True when running it may block the event loop for long."""
        ...


P = TypeVar("P", bound=Prepared)


class RequestHandler(Protocol[P]):
    """Turns frames into response bytes, in two steps so slow work can leave the event loop."""

    def framing_error(self, error: FramingError) -> bytes:
        """The response to a request that could not be framed."""
        ...

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> P | bytes:
        """Authenticate and route; an early failure comes back as response bytes."""
        ...

    def execute(self, request: P) -> bytes:
        """Run an admitted request and encode its response."""
        ...


@dataclass(slots=True)
class Request:
    """An admitted request: decoded, ready to run."""

    header: Header
    opcode: Opcode
    operation: Message
    peer: PeerCredentials | None
    #: Runs on the worker pool, not on the event loop.
    blocking: bool


R = TypeVar("R", bound=Request)
Req = TypeVar("Req", bound=Message)

#: Serves one decoded operation: (the operation, the request it came in).
Route = Callable[[Any, Request], Message]


class RequestBoundary(Generic[R]):
    """The request path of one daemon, with its failures turned into statuses in one place.

    Subclasses say how a request is admitted (`accept`) and run (`run`); `finished` sees every
    executed request's status, `refusal_body` what a refusal carries besides its status.
    """

    def __init__(self, daemon: Daemon, *, log_error_details: bool = False) -> None:
        self.daemon = daemon
        self.served = served_by(daemon)
        self._log_details = log_error_details

    def framing_error(self, error: FramingError) -> bytes:
        """The response to a request that could not be framed or named unknown things."""
        log.info("rejected a request: %s", error.status.name)
        return encode_response(response_header_for(error.header, error.status), b"")

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> R | bytes:
        """Route, check and decode; an early failure comes back as response bytes."""
        header = frame.header
        try:
            try:
                opcode = Opcode(header.opcode)
            except ValueError:  # the framing refuses these; a frame built by hand may not
                raise StatusError(Status.OPCODE_DOES_NOT_EXIST, "unknown opcode") from None
            return self.accept(frame, opcode, peer)
        except StatusError as error:
            return self.refuse(header, error)

    def execute(self, request: R) -> bytes:
        """Run an admitted request and encode its response."""
        status = Status.SUCCESS
        try:
            body = self.run(request).SerializeToString()
        except StatusError as error:
            status = error.status
            return self.refuse(request.header, error)
        except EncodeError:
            log.exception("could not encode the result of %s", request.opcode.name)
            status = Status.SERIALIZING_BODY_FAILED
            return self.refuse(request.header, StatusError(status))
        except Exception:
            log.exception("internal error while serving %s", request.opcode.name)
            status = Status.PSA_ERROR_GENERIC_ERROR
            return self.refuse(request.header, StatusError(status))
        finally:
            self.finished(request, status)
        return response_to(request.header, Status.SUCCESS, body)

    #: Refusals that are the normal answer to a probe (logged at debug, not info): a client
    #: library asks the identity provider for a token before it knows whether it runs as a
    #: proven application, so every CLI call outside one would log a line otherwise.
    expected_refusals: frozenset[tuple[int, Status]] = frozenset()

    def refuse(self, header: Header, error: StatusError) -> bytes:
        """The response to a request that failed with `error`, logged without request data."""
        level = (
            logging.DEBUG
            if (header.opcode, error.status) in self.expected_refusals
            else logging.INFO
        )
        if self._log_details:
            log.log(
                level, "%s failed: %s (%s)", opcode_name(header.opcode), error.status.name, error
            )
        else:
            log.log(level, "%s failed: %s", opcode_name(header.opcode), error.status.name)
        return encode_response(response_header_for(header, error.status), self.refusal_body(error))

    def check_served(self, opcode: Opcode) -> None:
        """OpcodeDoesNotExist for an operation another daemon serves."""
        if opcode not in self.served:
            message = f"the {self.daemon.value} does not serve {opcode.name}"
            raise StatusError(Status.OPCODE_DOES_NOT_EXIST, message)

    def accept(self, frame: Frame, opcode: Opcode, peer: PeerCredentials | None) -> R:
        """Admit one request (StatusError to refuse it)."""
        raise NotImplementedError

    def run(self, request: R) -> Message:
        """Serve an admitted request (StatusError to refuse it)."""
        raise NotImplementedError

    def finished(self, request: R, status: Status) -> None:
        """Called once a request has run, with the status it is answered with."""

    def refusal_body(self, error: StatusError) -> bytes:
        """What a refusal carries besides its status: nothing, by default."""
        return b""


class RoutedBoundary(RequestBoundary[Request]):
    """A daemon that serves each of its opcodes with one route: the identity provider and the
    orchestrator's control socket. The routes are exactly what the registry says it serves."""

    def __init__(
        self, daemon: Daemon, routes: Mapping[Opcode, Route], *, log_error_details: bool = False
    ) -> None:
        super().__init__(daemon, log_error_details=log_error_details)
        if set(routes) != self.served:
            raise ValueError(f"the {daemon.value}'s routes are not what the registry says")
        self._routes = dict(routes)

    def accept(self, frame: Frame, opcode: Opcode, peer: PeerCredentials | None) -> Request:
        self.check_served(opcode)
        operation = decode_operation(opcode, frame.body)
        return Request(frame.header, opcode, operation, peer, OPERATIONS[opcode].may_block)

    def run(self, request: Request) -> Message:
        return self._routes[request.opcode](request.operation, request)


def route(
    spec: OperationSpec[Req, Any], serve: Callable[[Req, Request], Message]
) -> tuple[Opcode, Route]:
    """An entry of a route table: `serve` answers `spec`, given its contract's operation type."""
    return spec.opcode, serve
