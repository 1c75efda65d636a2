"""Running a daemon: event loop, signals, readiness, background tasks, ordered shutdown.

Signal handlers only set a flag; the main coroutine then stops accepting, lets requests in
flight finish (bounded by the drain timeout), cancels background tasks and returns, so the
caller can close its stores. A daemon that can reload gets SIGHUP too: its reload coroutine runs
on the event loop, one at a time, and the listener takes up the settings it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tessera.daemon import systemd
from tessera.daemon.config_schema import ConnectionSettings
from tessera.daemon.event_loop import handle_signals
from tessera.daemon.handler import RequestHandler
from tessera.daemon.listener import Listener
from tessera.daemon.memory import keep_large_blocks_returnable
from tessera.daemon.metrics import DaemonMetrics
from tessera.daemon.scheduler import DEFAULT_IN_FLIGHT_PER_TENANT, FairScheduler
from tessera.wire.framing import Limits

log = logging.getLogger(__name__)

BackgroundTask = Callable[[], Coroutine[Any, Any, None]]
# Re-reads the daemon's configuration: the listener settings now in force, or None if refused.
ReloadHook = Callable[[], Awaitable["ListenerSettings | None"]]

# How much lower the worker threads run than the event loop (nice levels; Linux applies them
# per thread).
WORKER_NICENESS = 10


@dataclass(frozen=True)
class ListenerSettings:
    """Where and how a daemon listens."""

    socket_path: Path
    socket_group: str | None
    limits: Limits
    connections: ConnectionSettings = field(default_factory=ConnectionSettings)
    # Read each peer's start time at connect: daemons that later identify callers by pid.
    peer_start_time: bool = False
    slow_requests_per_tenant: int = DEFAULT_IN_FLIGHT_PER_TENANT  # waiting or running
    # Threads for slow requests: one per core, or this process's share of them when several
    # processes serve one socket.
    slow_threads: int | None = None

    @classmethod
    def configured(
        cls,
        config: ListenerConfig,
        *,
        peer_start_time: bool = False,
        slow_requests_per_tenant: int = DEFAULT_IN_FLIGHT_PER_TENANT,
    ) -> ListenerSettings:
        """The settings a daemon's configuration file gives its listener (the service's and
        the identity provider's read the same keys), plus what the daemon itself decides."""
        return cls(
            socket_path=config.socket_path,
            socket_group=config.socket_group,
            limits=config.limits,
            connections=config.connections,
            peer_start_time=peer_start_time,
            slow_requests_per_tenant=slow_requests_per_tenant,
        )


class ListenerConfig(Protocol):
    """The listener's part of a daemon's configuration (ServiceConfig, IdentityConfig)."""

    @property
    def socket_path(self) -> Path: ...
    @property
    def socket_group(self) -> str | None: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def connections(self) -> ConnectionSettings: ...


async def serve(
    handler: RequestHandler[Any],
    settings: ListenerSettings,
    *,
    tasks: Sequence[BackgroundTask] = (),
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    metrics: DaemonMetrics | None = None,
    reload: ReloadHook | None = None,
    reload_requested: asyncio.Event | None = None,
    listening: socket.socket | None = None,
) -> None:
    """Serve until `stop` is set or SIGTERM/SIGINT arrives, running `tasks` alongside; with
    `metrics`, count every answer and serve the metrics endpoint too; with `reload`, run it on
    SIGHUP (or when `reload_requested` is set) and apply the listener settings it returns.
    With `listening`, accept on that already bound socket (a worker process's)."""
    stop = stop or asyncio.Event()
    keep_large_blocks_returnable()
    loop = asyncio.get_running_loop()
    wanted = reload_requested or asyncio.Event()
    signals = handle_signals(loop, stop, wanted if reload is not None else None)
    workers = settings.slow_threads or os.cpu_count() or 2
    executor = ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="worker", initializer=_yield_to_the_event_loop
    )
    if metrics is not None:
        handler = metrics.instrument(handler)
    listener = Listener(
        handler,
        FairScheduler(executor, workers, in_flight_per_tenant=settings.slow_requests_per_tenant),
        settings.limits,
        settings.connections,
        peer_start_time=settings.peer_start_time,
    )
    running: list[asyncio.Task[None]] = []
    applied = [settings]  # the drain timeout at stop is the one in force then
    try:
        await listener.start(settings.socket_path, settings.socket_group, listening=listening)
        if metrics is not None:
            _watch_listener(metrics, listener)
            await metrics.start()
        running = [asyncio.create_task(_guarded(task)) for task in tasks]
        if reload is not None:
            running.append(asyncio.create_task(_reloads(reload, wanted, listener, applied)))
        if on_ready is not None:
            on_ready()
        systemd.notify("READY=1")  # Type=notify: the socket accepts from now on
        await stop.wait()
        systemd.notify("STOPPING=1")
        log.info("stopping: answering requests in flight")
        if metrics is not None:
            metrics.stopping = True  # health answers "stopping" while the drain runs
        for task in running:
            task.cancel()  # once: a task may still await its own clean-up
        await listener.stop(applied[0].connections.drain_timeout)
    finally:
        for task in running:
            if not task.done() and not task.cancelling():
                task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        executor.shutdown(wait=True)
        if metrics is not None:
            await metrics.close()
        for signum in signals:
            loop.remove_signal_handler(signum)
    log.info("stopped")


async def _reloads(
    reload: ReloadHook, wanted: asyncio.Event, listener: Listener, applied: list[ListenerSettings]
) -> None:
    """Run `reload` each time it is wanted, one at a time (signals during one coalesce)."""
    while True:
        await wanted.wait()
        wanted.clear()
        try:
            settings = await reload()
        except Exception:  # a bug in one reload must not end reloading, nor the daemon
            log.exception("reload failed")
            continue
        if settings is None:
            continue
        listener.reconfigure(
            settings.limits,
            settings.connections,
            slow_requests_per_tenant=settings.slow_requests_per_tenant,
        )
        applied[0] = settings


def _watch_listener(metrics: DaemonMetrics, listener: Listener) -> None:
    metrics.gauge(
        "tessera_connections_open", "Client connections open now",
        lambda: listener.open_connections,
    )  # fmt: skip
    metrics.counter(
        "tessera_connections_accepted", "Client connections accepted", lambda: listener.accepted
    )
    metrics.counter(
        "tessera_connections_refused",
        "Client connections refused (over max_connections or a uid's share)",
        lambda: listener.refused,
    )


def _yield_to_the_event_loop() -> None:
    """Run each worker thread at a lower CPU priority than the event loop's thread.

    The workers do the slow operations (RSA generation, token and TPM calls); the event loop
    answers everyone's fast ones. With as many busy workers as cores, the loop would otherwise
    wait for time slices, and one tenant's flood of slow work would stretch every other
    tenant's latency tail.
    """
    with contextlib.suppress(OSError, AttributeError):  # not Linux, or not allowed: no change
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


async def _guarded(task: BackgroundTask) -> None:
    """A background task that fails is logged, not allowed to end the daemon silently."""
    try:
        await task()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task %s failed", getattr(task, "__name__", task))
