"""Why the orchestrator refuses a control request, in words that reach the user.

A refusal is a wire status (its family, as for any operation) and, in the response body, an
ErrorDetail: one line for a person and a reason for programs (docs/orchestrator.md, "Control
protocol"). Only Tessera's control opcodes carry it; Parsec's clients never see them.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from tessera.wire.proto import control_error_pb2
from tessera.wire.status import Status, StatusError

Reason = control_error_pb2.Reason

_STATUS: dict[Reason, Status] = {
    control_error_pb2.NAME_IN_MANIFEST: Status.PSA_ERROR_ALREADY_EXISTS,
    control_error_pb2.ALREADY_RUNNING: Status.PSA_ERROR_ALREADY_EXISTS,
    control_error_pb2.NO_SUCH_APP: Status.PSA_ERROR_DOES_NOT_EXIST,
    control_error_pb2.INVALID_REQUEST: Status.PSA_ERROR_INVALID_ARGUMENT,
    control_error_pb2.START_FAILED: Status.PSA_ERROR_GENERIC_ERROR,
}

MAX_MESSAGE = 512  # characters: one line, never a dump


class RefusalError(StatusError):
    """A control request the orchestrator will not (or could not) carry out."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(_STATUS.get(reason, Status.PSA_ERROR_GENERIC_ERROR), message)
        self.reason = reason


def one_line(text: str) -> str:
    """`text` on one line, bounded."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 1] + "…"


def encode_detail(error: StatusError) -> bytes:
    """The response body that explains a refusal."""
    reason = error.reason if isinstance(error, RefusalError) else Reason.REASON_UNSPECIFIED
    detail = control_error_pb2.ErrorDetail(message=one_line(str(error)), reason=reason)
    return detail.SerializeToString()


def decode_detail(status: Status, body: bytes) -> RefusalError:
    """The refusal a failed response describes (its status's words if it carries none)."""
    detail = control_error_pb2.ErrorDetail()
    try:
        detail.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError):
        detail = control_error_pb2.ErrorDetail()
    message = one_line(detail.message) or f"{status.description} ({status.name})"
    refusal = RefusalError(detail.reason, message)
    refusal.status = status  # the wire's word for the family, whatever the reason says
    return refusal
