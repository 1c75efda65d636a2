"""Running the security service: refuse root, build, serve (reloading on SIGHUP), close.

One process serves the socket, or a master supervises several worker processes that accept on
it (service/workers.py: how many, and why); each worker serves exactly as the single process
does (service/worker.py). The master never builds the request path: what it needs is imported
here, the rest only where a process serves.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tessera.daemon import event_loop
from tessera.service.config import ConfigError, ServiceConfig
from tessera.service.run_lock import join_run
from tessera.service.state_check import prepare_state
from tessera.service.workers import run_master, worker_count

if TYPE_CHECKING:
    from tessera.daemon import runner
    from tessera.daemon.metrics import DaemonMetrics
    from tessera.service.builder import Assembly


def listener_settings(config: ServiceConfig) -> runner.ListenerSettings:
    """The front-end settings of the service."""
    from dataclasses import replace

    from tessera.daemon.runner import ListenerSettings

    settings = ListenerSettings.configured(
        config, slow_requests_per_tenant=config.quotas.max_concurrent
    )
    if config.workers is not None and config.workers > 1:  # one of several worker processes
        cores = os.cpu_count() or 2
        settings = replace(settings, slow_threads=max(1, cores // config.workers))
    return settings


def run_service(config: ServiceConfig, reload: Callable[[], ServiceConfig] | None = None) -> None:
    """Run until SIGTERM or SIGINT; with `reload` (which reads the configuration again, as at
    start), SIGHUP applies what it returns. Raises ConfigError for an unusable configuration."""
    if os.geteuid() == 0 and not config.allow_root:
        raise ConfigError("refusing to run as root (set core_settings.allow_root to override)")
    prepare_state(config)
    workers = worker_count(config)
    held = join_run(config)  # held while this process serves (its workers join it too)
    try:
        if workers > 1:
            event_loop.run(run_master(config, reload, workers))
            return
        from tessera.service.builder import build

        assembly = build(config)
        try:
            event_loop.run(serve(assembly, reload, metrics=service_metrics(assembly)))
        finally:
            assembly.close()
    finally:
        os.close(held)


async def serve(
    assembly: Assembly,
    reload: Callable[[], ServiceConfig] | None = None,
    *,
    reload_requested: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    tasks: Sequence[runner.BackgroundTask] = (),
    listening: socket.socket | None = None,
    on_ready: Callable[[], None] | None = None,
    metrics: DaemonMetrics | None = None,
) -> None:
    """Serve one assembled service until a termination signal (or `stop`), reloading with
    `reload`; a worker passes the socket its master bound as `listening`."""
    from tessera.daemon import runner
    from tessera.service.reload import LiveRequestPath, Reloader

    path = LiveRequestPath(assembly.dispatcher)
    hook: runner.ReloadHook | None = None
    if reload is not None:
        reloader = Reloader(assembly, path, reload)

        async def hook() -> runner.ListenerSettings | None:
            config = await reloader.reload()
            return None if config is None else listener_settings(config)

    await runner.serve(
        path,
        listener_settings(assembly.config),
        metrics=metrics,
        reload=hook,
        reload_requested=reload_requested,
        stop=stop,
        tasks=tasks,
        listening=listening,
        on_ready=on_ready,
    )


def service_metrics(assembly: Assembly, *, publish: bool = False) -> DaemonMetrics | None:
    """The service's metrics when configured: the front end's, and keys per provider; a
    worker's are published for its master to serve."""
    if assembly.config.metrics is None:
        return None
    from tessera.daemon.metrics import DaemonMetrics

    metrics = DaemonMetrics("service", assembly.config.metrics, publish=publish)
    keystore = assembly.keystore

    def keys() -> dict[str, float]:
        return {str(p): float(n) for p, n in keystore.count_by_provider().items()}

    metrics.gauge(
        "tessera_keys", "Keys stored, by provider id", keys, label="provider", shared_as="livemax"
    )
    return metrics
