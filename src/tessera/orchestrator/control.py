"""The orchestrator's control socket: one-off launches, stop, restart, logs and status.

The socket lives in the state directory (0700), so only the orchestrator's user reaches it. A
refused request is answered with its status and, in the body, why (refusals.py): the reason
reaches the user, not only the orchestrator's log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message

from tessera.config import ConfigError
from tessera.orchestrator import app_output
from tessera.orchestrator.config import AppSpec, parse_app
from tessera.orchestrator.refusals import Reason, RefusalError, encode_detail
from tessera.orchestrator.supervisor import Supervisor
from tessera.trust.peer import PeerCredentials
from tessera.wire.contracts import decode_operation
from tessera.wire.framing import Frame, FramingError, encode_response
from tessera.wire.header import Header, response_header_for
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    app_logs_pb2,
    launch_app_pb2,
    list_apps_pb2,
    ping_pb2,
    restart_app_pb2,
    stop_app_pb2,
)
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVED = frozenset(
    {
        Opcode.PING,
        Opcode.LAUNCH_APP,
        Opcode.LIST_APPS,
        Opcode.STOP_APP,
        Opcode.RESTART_APP,
        Opcode.APP_LOGS,
    }
)
_INLINE = frozenset({Opcode.PING, Opcode.LIST_APPS})  # quick: answered on the event loop

LAUNCH_TIMEOUT = 60.0
LOGS_LIMIT = 512 << 10  # bytes of output in one answer (the client accepts 1 MiB)


@dataclass(slots=True)
class ControlRequest:
    """An admitted control request."""

    header: Header
    opcode: Opcode
    operation: Message

    @property
    def blocking(self) -> bool:
        """A request that waits for applications (or reads a file) runs on a worker thread."""
        return self.opcode not in _INLINE


class ControlHandler:
    """Serves the control socket. Requests that change applications run on a worker thread
    that waits for the event loop to carry them out; status is answered inline."""

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
        except ValueError:  # not an opcode at all
            error = StatusError(Status.OPCODE_DOES_NOT_EXIST, "not an orchestrator operation")
            return encode_response(response_header_for(header, error.status), encode_detail(error))
        except StatusError as error:
            return encode_response(response_header_for(header, error.status), encode_detail(error))

    def execute(self, request: ControlRequest) -> bytes:
        """Answer a request; a refusal carries its reason."""
        try:
            body = self._answer(request).SerializeToString()
        except StatusError as error:
            if not isinstance(error, RefusalError):
                log.warning("%s refused: %s", request.opcode.name, error)
            return encode_response(
                response_header_for(request.header, error.status), encode_detail(error)
            )
        return encode_response(response_header_for(request.header, Status.SUCCESS), body)

    def _answer(self, request: ControlRequest) -> Message:
        operation = request.operation
        if request.opcode is Opcode.PING:
            return ping_pb2.Result(wire_protocol_version_maj=1)
        if request.opcode is Opcode.LIST_APPS:
            return list_apps_pb2.Result(apps=[self._view(app) for app in self._supervisor.apps()])
        if isinstance(operation, launch_app_pb2.Operation):
            return self._on_loop(self.launch(operation))
        if isinstance(operation, stop_app_pb2.Operation):
            app = self._on_loop(self._supervisor.stop_app(operation.name))
            return stop_app_pb2.Result(app=self._on_loop(self._view_later(app)))
        if isinstance(operation, restart_app_pb2.Operation):
            app = self._on_loop(self._supervisor.restart_app(operation.name))
            return restart_app_pb2.Result(app=self._on_loop(self._view_later(app)))
        assert isinstance(operation, app_logs_pb2.Operation)
        path = self._on_loop(self._log_file(operation.name, operation.replica))
        output, truncated = app_output.tail(path, operation.lines, LOGS_LIMIT)
        return app_logs_pb2.Result(output=output, log_file=str(path), truncated=truncated)

    def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the event loop and wait for it (from a worker thread)."""
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout=LAUNCH_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StatusError(
                Status.PSA_ERROR_GENERIC_ERROR,
                f"the orchestrator did not finish within {LAUNCH_TIMEOUT:.0f} s (see its log)",
            ) from None

    async def _log_file(self, name: str, replica: int) -> Path:
        return self._supervisor.log_file(name, replica)

    async def _view_later(self, app: AppSpec) -> list_apps_pb2.App:
        return self._view(app)

    def _view(self, app: AppSpec) -> list_apps_pb2.App:
        """An application with its identity and instances, as ListApps shows it."""
        instances = self._supervisor.instances_of(app.name)
        spiffe = next((i.spiffe_id for i in instances if i.spiffe_id), "")
        return list_apps_pb2.App(
            name=app.name,
            spiffe_id=spiffe,
            command=list(app.command),
            restart=app.restart,
            one_off=self._supervisor.is_one_off(app.name),
            instances=[
                list_apps_pb2.Instance(
                    client_id=i.client_id,
                    pid=i.incarnation.pid if i.incarnation else 0,
                    state=i.state,
                    restarts=i.restarts,
                    exit_status=i.exit_status,
                    error=i.error,
                    log_file=str(self._supervisor.log_file(app.name, i.replica)),
                )
                for i in instances
            ],
        )

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
        except (ConfigError, ValueError) as error:
            raise RefusalError(Reason.INVALID_REQUEST, str(error)) from None
        instance = await self._supervisor.launch(app)
        pid = instance.process.pid if instance.process is not None else 0
        if instance.incarnation is None and instance.exit_status != 0:  # ended while starting
            after = "" if instance.state in ("stopped", "failed") else "; it will be restarted"
            raise RefusalError(
                Reason.START_FAILED,
                f"{app.name!r} exited at once with status {instance.exit_status}{after} "
                f"(see: tessera orchestrator logs {app.name})",
            )
        return launch_app_pb2.Result(
            client_id=instance.client_id, pid=pid, spiffe_id=instance.spiffe_id
        )
