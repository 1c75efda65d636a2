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
from pathlib import Path
from typing import Any, TypeVar

from tessera.config import ConfigError
from tessera.daemon.handler import RoutedBoundary, route
from tessera.orchestrator import app_output
from tessera.orchestrator.config import AppSpec, parse_app
from tessera.orchestrator.refusals import Reason, RefusalError, encode_detail
from tessera.orchestrator.supervisor import Supervisor, ended_unregistered
from tessera.wire import contracts
from tessera.wire.contracts import Daemon
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

LAUNCH_TIMEOUT = 60.0
LOGS_LIMIT = 512 << 10  # bytes of output in one answer (the client accepts 1 MiB)
_PING = ping_pb2.Result(wire_protocol_version_maj=1)


class ControlHandler(RoutedBoundary):
    """Serves the control socket. Requests that change applications run on a worker thread
    that waits for the event loop to carry them out (the registry's `may_block`); status is
    answered inline. A refusal carries its reason (refusals.py)."""

    def __init__(self, supervisor: Supervisor, loop: asyncio.AbstractEventLoop) -> None:
        self._supervisor = supervisor
        self._loop = loop
        super().__init__(
            Daemon.ORCHESTRATOR,
            dict(
                [
                    route(contracts.PING, lambda op, r: _PING),
                    route(contracts.LIST_APPS, lambda op, r: self._list_apps()),
                    route(contracts.LAUNCH_APP, lambda op, r: self._on_loop(self.launch(op))),
                    route(contracts.STOP_APP, lambda op, r: self._stop(op.name)),
                    route(contracts.RESTART_APP, lambda op, r: self._restart(op.name)),
                    route(contracts.APP_LOGS, lambda op, r: self._logs(op)),
                ]
            ),
            # Refusals name applications and commands, no secrets; the user sees them anyway.
            log_error_details=True,
        )

    def refusal_body(self, error: StatusError) -> bytes:
        return encode_detail(error)

    def _list_apps(self) -> list_apps_pb2.Result:
        return list_apps_pb2.Result(apps=[self._view(app) for app in self._supervisor.apps()])

    def _stop(self, name: str) -> stop_app_pb2.Result:
        app = self._on_loop(self._supervisor.stop_app(name))
        return stop_app_pb2.Result(app=self._on_loop(self._view_later(app)))

    def _restart(self, name: str) -> restart_app_pb2.Result:
        app = self._on_loop(self._supervisor.restart_app(name))
        return restart_app_pb2.Result(app=self._on_loop(self._view_later(app)))

    def _logs(self, operation: app_logs_pb2.Operation) -> app_logs_pb2.Result:
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
            log.warning("a control request did not finish within %.0f s", LAUNCH_TIMEOUT)
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
        refusal = ended_unregistered(app.name, instance)
        if refusal is not None:
            raise refusal
        return launch_app_pb2.Result(
            client_id=instance.client_id, pid=pid, spiffe_id=instance.spiffe_id
        )
