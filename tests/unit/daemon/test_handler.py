"""The request boundary the three daemons share: every failure is a status, at one place."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.message import Message

from tessera.daemon.handler import Request, RoutedBoundary, route
from tessera.wire import contracts
from tessera.wire.contracts import Daemon, served_by
from tessera.wire.framing import Frame, FrameReader, encode_request
from tessera.wire.header import Header
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status, StatusError


def _fails(op: Message, request: Request) -> Message:
    raise RuntimeError("a bug in one operation")


def _refuses(op: Any, request: Request) -> Message:
    raise StatusError(Status.PSA_ERROR_DOES_NOT_EXIST, f"no application {op.name}")


class Control(RoutedBoundary):
    """A daemon configured as the orchestrator's control socket is, with routes of its own."""

    def __init__(self) -> None:
        super().__init__(
            Daemon.ORCHESTRATOR,
            dict(
                [
                    route(
                        contracts.PING,
                        lambda op, r: contracts.PING.response(wire_protocol_version_maj=1),
                    ),
                    route(contracts.LIST_APPS, lambda op, r: contracts.LIST_APPS.response()),
                    route(contracts.LAUNCH_APP, _fails),
                    route(contracts.STOP_APP, _refuses),
                    route(contracts.RESTART_APP, lambda op, r: contracts.RESTART_APP.response()),
                    route(
                        contracts.APP_LOGS, lambda op, r: contracts.APP_LOGS.response(output=b"x")
                    ),
                ]
            ),
        )

    def refusal_body(self, error: StatusError) -> bytes:
        return f"why: {error.status.name}".encode()


def frame(opcode: int, body: bytes = b"") -> Frame:
    (event,) = FrameReader().feed(encode_request(Header(opcode=opcode), body))
    assert isinstance(event, Frame)
    return event


def answer(handler: Control, request: Frame) -> tuple[Status, bytes]:
    admitted = handler.admit(request, None)
    raw = admitted if isinstance(admitted, bytes) else handler.execute(admitted)
    (event,) = FrameReader(responses=True).feed(raw)
    assert isinstance(event, Frame)
    return Status(event.header.status), event.body


def test_success_answers_the_routes_result() -> None:
    status, body = answer(Control(), frame(Opcode.PING))
    assert status is Status.SUCCESS
    assert contracts.PING.response.FromString(body).wire_protocol_version_maj == 1


def test_an_operation_another_daemon_serves_does_not_exist_here() -> None:
    status, body = answer(Control(), frame(Opcode.FETCH_TOKEN))
    assert (status, body) == (Status.OPCODE_DOES_NOT_EXIST, b"why: OPCODE_DOES_NOT_EXIST")


def test_an_undecodable_body_is_refused_before_running() -> None:
    status, _ = answer(Control(), frame(Opcode.LAUNCH_APP, b"\xff\xff\xff"))
    assert status is Status.DESERIALIZING_BODY_FAILED


def test_a_refusal_carries_its_status_and_body() -> None:
    body = contracts.STOP_APP.request(name="web").SerializeToString()
    status, detail = answer(Control(), frame(Opcode.STOP_APP, body))
    assert (status, detail) == (Status.PSA_ERROR_DOES_NOT_EXIST, b"why: PSA_ERROR_DOES_NOT_EXIST")


def test_an_unexpected_exception_is_a_generic_error_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = contracts.LAUNCH_APP.request(name="web").SerializeToString()
    status, _ = answer(Control(), frame(Opcode.LAUNCH_APP, body))
    assert status is Status.PSA_ERROR_GENERIC_ERROR
    assert "internal error while serving LAUNCH_APP" in caplog.text


def test_what_may_block_leaves_the_event_loop() -> None:
    handler = Control()
    for opcode in served_by(Daemon.ORCHESTRATOR):
        admitted = handler.admit(frame(opcode), None)
        assert isinstance(admitted, Request)
        assert admitted.blocking is contracts.OPERATIONS[opcode].may_block


def test_routes_must_be_what_the_registry_says_the_daemon_serves() -> None:
    with pytest.raises(ValueError, match="identity provider"):
        RoutedBoundary(Daemon.IDENTITY, dict([route(contracts.PING, lambda op, r: op)]))
