"""The orchestrator's control socket: one-off launches and the status of what runs.

The socket lives in the state directory (0700), so only the orchestrator's user reaches it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from tessera.daemon.errors import ConfigError
from tessera.daemon.peer import PeerCredentials
from tessera.orchestrator.config import AppSpec, parse_app
from tessera.orchestrator.supervisor import Supervisor
from tessera.wire.contracts import decode_operation
from tessera.wire.framing import Frame, FramingError, encode_response
from tessera.wire.header import Header, response_header_for
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import launch_app_pb2, list_apps_pb2, ping_pb2
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

SERVED = frozenset({Opcode.PING, Opcode.LAUNCH_APP, Opcode.LIST_APPS})


@dataclass(slots=True)
class ControlRequest:
    """An admitted control request."""

    header: Header
    opcode: Opcode
    operation: Message

    @property
    def blocking(self) -> bool:
        """A launch waits (on a worker thread) for the event loop to start the application."""
        return self.opcode is Opcode.LAUNCH_APP


LAUNCH_TIMEOUT = 60.0


class ControlHandler:
    """Serves the control socket. A launch runs on a worker thread that waits for the event
    loop to start the application; everything else is answered inline."""

    def __init__(self, supervisor: Supervisor, loop: asyncio.AbstractEventLoop) -> None:
        self._supervisor = supervisor
        self._loop = loop

    def framing_error(self, error: FramingError) -> bytes:
        """A request that could not be framed."""
        return encode_response(response_header_for(error.header, error.status), b"")

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> ControlRequest | bytes:
        """Route and decode."""
        header = frame.header
        try:
            opcode = Opcode(header.opcode)
            if opcode not in SERVED:
                raise StatusError(Status.OPCODE_DOES_NOT_EXIST, "not an orchestrator operation")
            return ControlRequest(header, opcode, decode_operation(opcode, frame.body))
        except StatusError as error:
            return encode_response(response_header_for(header, error.status), b"")

    def execute(self, request: ControlRequest) -> bytes:
        """Answer a status or ping inline."""
        try:
            body = self._answer(request).SerializeToString()
        except StatusError as error:
            return encode_response(response_header_for(request.header, error.status), b"")
        return encode_response(response_header_for(request.header, Status.SUCCESS), body)

    def _answer(self, request: ControlRequest) -> Message:
        if request.opcode is Opcode.PING:
            return ping_pb2.Result(wire_protocol_version_maj=1)
        if request.opcode is Opcode.LIST_APPS:
            return self.status()
        assert isinstance(request.operation, launch_app_pb2.Operation)
        future = asyncio.run_coroutine_threadsafe(self.launch(request.operation), self._loop)
        return future.result(timeout=LAUNCH_TIMEOUT)

    def status(self) -> list_apps_pb2.Result:
        """Every application with its identity and instances."""
        apps = []
        for app in self._supervisor.apps():
            instances = [i for i in self._supervisor.instances if i.app.name == app.name]
            spiffe = next((i.spiffe_id for i in instances if i.spiffe_id), "")
            apps.append(
                list_apps_pb2.App(
                    name=app.name,
                    spiffe_id=spiffe,
                    command=list(app.command),
                    restart=app.restart,
                    instances=[
                        list_apps_pb2.Instance(
                            client_id=i.client_id,
                            pid=i.incarnation.pid if i.incarnation else 0,
                            state=i.state,
                            restarts=i.restarts,
                        )
                        for i in instances
                    ],
                )
            )
        return list_apps_pb2.Result(apps=apps)

    async def launch(self, operation: launch_app_pb2.Operation) -> launch_app_pb2.Result:
        """Start a one-off application."""
        entry: dict[str, Any] = {
            "name": operation.name,
            "command": list(operation.command),
            "env": dict(operation.env),
            "restart": operation.restart or "never",
        }
        if operation.working_dir:
            entry["working_dir"] = operation.working_dir
        try:
            app: AppSpec = parse_app(entry)
            instance = await self._supervisor.launch(app)
        except (ConfigError, ValueError) as error:
            raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, str(error)) from None
        if instance.incarnation is None:
            raise StatusError(Status.PSA_ERROR_GENERIC_ERROR, "the application did not start")
        return launch_app_pb2.Result(
            client_id=instance.client_id, pid=instance.incarnation.pid, spiffe_id=instance.spiffe_id
        )
