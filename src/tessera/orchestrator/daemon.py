"""Running the orchestrator: trust towards the identity provider, the applications, control."""

from __future__ import annotations

import asyncio
import os

from tessera.config import ConfigError
from tessera.containers.watcher import ContainerWatcher
from tessera.daemon import event_loop, runner
from tessera.daemon.link import Link
from tessera.daemon.metrics import DaemonMetrics, watch_trusted_side
from tessera.daemon.private_state import check_private_file_at, ensure_private_directory
from tessera.orchestrator.config import OrchestratorConfig
from tessera.orchestrator.control import ControlHandler
from tessera.orchestrator.registrar import Registrar
from tessera.orchestrator.supervisor import Supervisor
from tessera.trust.trusted_side import TrustedSide
from tessera.wire.framing import Limits


def run_orchestrator(config: OrchestratorConfig) -> None:
    """Run until SIGTERM or SIGINT; the applications are stopped on the way out."""
    if os.geteuid() == 0 and not config.allow_root:
        raise ConfigError("refusing to run as root (set orchestrator.allow_root to override)")
    ensure_private_directory(config.state_dir, "state directory")
    # The record names processes this daemon (often root) re-attaches to and signals.
    check_private_file_at(config.state_file, "orchestrator state file")
    check_private_file_at(config.containers_state_file, "orchestrator containers file")
    # uvloop cannot start processes as another user: the standard loop can.
    event_loop.run(serve(config), fast_loop=not any(app.user for app in config.apps))


async def serve(config: OrchestratorConfig) -> None:
    """Start the applications, keep the identity provider in step, serve control requests."""
    supervisor: Supervisor | None = None
    watcher: ContainerWatcher | None = None

    async def replay(everything: bool) -> None:
        if supervisor is not None:
            await supervisor.replay(everything=everything)
        if watcher is not None:
            await watcher.replay(everything=everything)

    trusted = TrustedSide(
        Link(config.identity_socket),
        rotation_period=config.rotation_period,
        name="orchestrator",
        on_reshared=replay,
    )
    registrar = Registrar(trusted)
    supervisor = Supervisor(config, registrar)
    tasks: list[runner.BackgroundTask] = []
    if config.containers is not None:  # the container engine as a second source of clients
        watcher = ContainerWatcher(config.containers, registrar, config.containers_state_file)
        tasks.append(watcher.run)
    handler = ControlHandler(supervisor, asyncio.get_running_loop())

    async def keep_identity_trusting() -> None:
        await trusted.keep_trusted(config.heartbeat)

    async def run_applications() -> None:
        assert supervisor is not None
        try:
            await supervisor.start()
            await asyncio.Event().wait()  # until cancelled at shutdown
        finally:
            await supervisor.stop_all()

    settings = runner.ListenerSettings(
        socket_path=config.control_socket, socket_group=None, limits=Limits()
    )  # the default timeouts and connection shares
    metrics = None
    if config.metrics is not None:
        metrics = DaemonMetrics("orchestrator", config.metrics)
        watch_trusted_side(metrics, trusted, "identity provider")
        watched = supervisor
        metrics.gauge(
            "tessera_app_instances", "Application instances known, running or not",
            lambda: len(watched.instances),
        )  # fmt: skip
        metrics.counter(
            "tessera_app_restarts", "Application restarts by their restart policy",
            lambda: sum(i.restarts for i in watched.instances),
        )  # fmt: skip
    await runner.serve(
        handler,
        settings,
        tasks=[keep_identity_trusting, run_applications, *tasks],
        metrics=metrics,
    )
