"""Several worker processes serving the one socket, supervised by a master.

One Python process uses one core for the request path (the GIL), so the service runs a worker
process per core: the master binds the socket (or takes systemd's), starts the workers with the
listening descriptor, and each accepts on it and serves exactly as a single process does
(service/worker.py). The kernel hands each new connection to one waiting worker.

What the workers share lives in files, so that each process's view is current at every request:
the key store (SQLite: a key destroyed through one worker is unknown to all at once), and the
files of this run in `live_directory` (the trust store shared by ShareTrustBundle, the audit
log's head, per-tenant counters), which the first process of a run empties (run_lock.py: every
process of the run holds its lock, so none is ever emptied under a running one). Per-process are
only what is per connection anyway: the connection limits and the fair scheduler's turns apply
within each worker.

The master keeps no key, no store and no provider open: it starts every worker process at
once (their imports overlap) and lets worker 0 build first (it creates or migrates the key store
and the key-encryption key, and reports a configuration it cannot serve as one line), the others
once it serves. The socket gets its configured name only then, so clients never wait in the
queue of a service still starting. The master replaces a worker that dies (the shared
lifecycle's backoff: daemon/lifecycle.py), forwards SIGHUP's configuration to every worker, and
on SIGTERM stops them all, each draining its requests in flight, before removing the socket.
Worker processes run in their own session and get SIGTERM if the master dies, even by kill -9.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tessera.daemon import event_loop, systemd
from tessera.daemon.lifecycle import (
    Supervised,
    die_with_parent,
    keep_running,
    terminate,
    wait_exit,
)
from tessera.daemon.private_state import ensure_private_directory
from tessera.daemon.socket_file import bind_socket, remove_stale_socket, unlink_socket
from tessera.service.config import MAX_SOCKET_PATH, ConfigError, ServiceConfig, running_config
from tessera.service.worker_orders import (
    ERROR,
    PUBLISHED,
    READY,
    Order,
    Publish,
    Reload,
    Start,
    encode,
)

if TYPE_CHECKING:
    from tessera.daemon.metrics import DaemonMetrics

log = logging.getLogger(__name__)

WORKER_MODULE = "tessera.service.worker"
# How long a worker may take from its start to accepting (imports, building the providers).
START_TIMEOUT = 60.0
# How long a scrape waits for the workers to bring their metrics files up to date.
PUBLISH_WAIT = 1.0
# Beyond the drain timeout, how long a stopping worker may take before it is killed.
STOP_GRACE = 5.0
# Providers whose state lives outside the key store and that several processes cannot share.
_SINGLE_PROCESS_PROVIDERS = frozenset({"pkcs11", "tpm"})
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when a worker imports it


def worker_count(config: ServiceConfig) -> int:
    """How many processes serve the socket: the configured number, else one per core the
    service may run on; one with a provider that only one process may hold (a PKCS#11
    token's sessions and object handles, a TPM's connection)."""
    single = sorted({p.provider_type for p in config.providers} & _SINGLE_PROCESS_PROVIDERS)
    if config.workers is None:
        return 1 if single else max(1, len(os.sched_getaffinity(0)))
    if config.workers > 1 and single:
        raise ConfigError(
            f"core_settings.workers = {config.workers}: the {single[0]} provider is served "
            "by one process; set workers = 1"
        )
    return config.workers


@dataclass(kw_only=True)
class Worker(Supervised):
    """One worker process and its pipes."""

    index: int
    ready: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    published: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    failure: str = ""  # the one-line reason a worker gave for not serving

    @property
    def label(self) -> str:
        return f"worker {self.index}"


class Master:
    """Starts, watches, reconfigures and stops the workers of one service."""

    def __init__(self, config: ServiceConfig, listening: socket.socket, count: int) -> None:
        self.config = config
        self._listening = listening
        # The workers count in prometheus_client's multi-process files; the master serves them.
        self.metrics_directory = config.live_directory / "metrics" if config.metrics else None
        self._workers = [Worker(index=i) for i in range(count)]
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False  # every worker served once: from now on one that ends is replaced
        self._store_ready = asyncio.Event()  # worker 0 has built: the others may
        self._stopping = False

    @property
    def workers(self) -> list[Worker]:
        """The workers, by index."""
        return list(self._workers)

    # the lifecycle's hooks (daemon/lifecycle.py: Hooks[Worker])

    async def start(self, child: Worker) -> bool:
        child.ready.clear()
        child.failure = ""
        fd = self._listening.fileno()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=(fd,),
            start_new_session=True,  # the terminal's Ctrl-C is the master's to handle
            preexec_fn=die_with_parent(),
            env=_worker_environment(self.metrics_directory),
        )
        child.attach(process)
        # Worker 0 creates or migrates the key store and the key-encryption key: the others
        # build theirs once it serves (until then they import, then wait for their order).
        if child.index != 0:
            await self._store_ready.wait()  # at once, once the first start is over
        self._send(child, Start(share_of(self.config, len(self._workers)), child.index, fd))
        return True

    async def watch(self, child: Worker) -> int | None:
        process = child.process
        assert process is not None and process.stdout is not None
        deadline = asyncio.create_task(self._serving_within(child, START_TIMEOUT))
        try:
            return await self._follow(child, process)
        finally:
            deadline.cancel()

    async def _serving_within(self, child: Worker, seconds: float) -> None:
        """A worker that is not serving in time is stuck (its start hangs): it is killed, and
        so replaced like any worker that ends."""
        try:
            await asyncio.wait_for(child.ready.wait(), seconds)
        except TimeoutError:
            if child.process is not None and child.process.returncode is None:
                log.warning("%s is not serving after %.0f s: killing it", child.label, seconds)
                child.process.kill()

    async def _follow(self, child: Worker, process: asyncio.subprocess.Process) -> int | None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            word, _, rest = line.decode(errors="replace").strip().partition(" ")
            if word == READY:
                child.ready.set()
                log.debug("%s (pid %d) serving", child.label, process.pid)
            elif word == PUBLISHED:
                child.published.set()
            elif word == ERROR:
                child.failure = rest
        return await wait_exit(child)

    async def exited(self, child: Worker) -> None:
        child.ready.clear()
        if self.metrics_directory is not None and child.incarnation is not None:
            from prometheus_client.multiprocess import mark_process_dead

            # Its live gauges (connections open) go; what it counted stays in the sums.
            mark_process_dead(child.incarnation.pid, os.fspath(self.metrics_directory))  # type: ignore[no-untyped-call]
        if self._started and not self._stopping:
            pid = child.incarnation.pid if child.incarnation else 0
            log.warning(
                "%s (pid %d) ended (%s): starting another",
                child.label,
                pid,
                _describe(child.exit_status),
            )

    def restart_wanted(self, child: Worker) -> bool:
        return self._started and not self._stopping

    def ended(self, child: Worker) -> None:
        pass  # nothing beyond `exited`: the master's stop waits for every task itself

    # running them

    async def start_all(self) -> None:
        """Start every worker process at once (their imports overlap), worker 0 building
        first and the others once it serves; return once all serve. Raises ConfigError with
        a worker's own reason when one cannot start."""
        self._tasks = [asyncio.create_task(keep_running(w, self)) for w in self._workers]
        pairs = list(zip(self._workers, self._tasks, strict=True))
        await self._until_serving(pairs[:1])
        self._store_ready.set()
        await self._until_serving(pairs[1:])
        self._started = True

    async def _until_serving(self, pairs: list[tuple[Worker, asyncio.Task[None]]]) -> None:
        for worker, task in pairs:
            ready = asyncio.create_task(worker.ready.wait())
            try:
                await asyncio.wait(
                    {ready, task}, timeout=START_TIMEOUT, return_when="FIRST_COMPLETED"
                )
            finally:
                ready.cancel()
            if not worker.ready.is_set():
                why = worker.failure or (
                    _describe(worker.exit_status)
                    if task.done()
                    else f"not serving after {START_TIMEOUT:.0f} s"
                )
                raise ConfigError(f"the service's {worker.label} could not start: {why}")

    def reconfigure(self, config: ServiceConfig) -> None:
        """Pass a configuration read again to every worker (and to those started later)."""
        self.config = config
        for worker in self._workers:
            self._send(worker, Reload(share_of(config, len(self._workers))))

    async def stop(self, drain_timeout: float) -> None:
        """Stop every worker (each answers its requests in flight first) and wait for them."""
        self._stopping = True
        for worker in self._workers:
            worker.stopping = True
        await asyncio.gather(
            *(
                terminate(w.incarnation, w.process, drain_timeout + STOP_GRACE, w.label)
                for w in self._workers
                if w.incarnation is not None
                and w.process is not None
                and w.process.returncode is None
            )
        )
        for task in self._tasks:
            task.cancel()  # those waiting out a backoff
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def publish_metrics(self) -> None:
        """Have every serving worker copy its metrics into the shared files (a scrape is
        being answered); one that does not answer within PUBLISH_WAIT is not waited for."""
        serving = [w for w in self._workers if w.ready.is_set()]
        for worker in serving:
            worker.published.clear()
            self._send(worker, Publish())
        waits = [asyncio.create_task(w.published.wait()) for w in serving]
        if waits:
            _, late = await asyncio.wait(waits, timeout=PUBLISH_WAIT)
            for wait in late:
                wait.cancel()

    def _send(self, child: Worker, order: Order) -> None:
        process = child.process
        if process is None or process.stdin is None or process.returncode is not None:
            return  # it is being replaced: the new one gets the current configuration
        with contextlib.suppress(ConnectionError):
            process.stdin.write(encode(order))


async def run_master(
    config: ServiceConfig,
    reload: Callable[[], ServiceConfig] | None,
    count: int,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve `config` with `count` worker processes until SIGTERM/SIGINT (or `stop`); SIGHUP
    reads the configuration again with `reload` and passes it on."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    wanted = asyncio.Event()
    signals = event_loop.handle_signals(loop, stop, wanted if reload is not None else None)
    listening, bound = _listening_socket(config)
    inode = bound.lstat().st_ino if bound is not None else 0
    owned = bound  # where the socket file is now: ours to remove at the end
    master = Master(config, listening, count)
    metrics = _master_metrics(master)
    try:
        if metrics is not None:
            await metrics.start()
        starting = asyncio.create_task(master.start_all())
        await _first_done(starting, stop)  # a SIGTERM during the start is not kept waiting
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return  # the finally below stops whatever started
        starting.result()  # a worker that could not start: its reason
        if bound is not None and bound != config.socket_path:
            _publish(bound, config.socket_path)
            owned = config.socket_path
        log.info("serving on %s with %d worker processes", config.socket_path, count)
        systemd.notify("READY=1")
        if on_ready is not None:
            on_ready()
        while not stop.is_set():
            await _first(stop, wanted)
            if wanted.is_set() and not stop.is_set() and reload is not None:
                wanted.clear()
                _reload(master, reload)
        systemd.notify("STOPPING=1")
        log.info("stopping: the workers answer their requests in flight")
        if metrics is not None:
            metrics.stopping = True
    finally:
        await master.stop(master.config.connections.drain_timeout)
        if metrics is not None:
            await metrics.close()
        listening.close()
        if owned is not None:
            unlink_socket(owned, inode)
        for signum in signals:
            loop.remove_signal_handler(signum)
    log.info("stopped")


def _master_metrics(master: Master) -> DaemonMetrics | None:
    """The endpoint serving what the workers count, healthy while a worker serves."""
    config = master.config.metrics
    directory = master.metrics_directory
    if config is None or directory is None:
        return None
    from tessera.daemon.metrics import DaemonMetrics  # the front end's: loaded only when asked

    ensure_private_directory(directory, "metrics directory")
    metrics = DaemonMetrics("service", config, collect_from=directory)
    metrics.gauge(
        "tessera_workers_serving",
        "Worker processes accepting connections",
        lambda: sum(w.ready.is_set() for w in master.workers),
    )
    metrics.counter(
        "tessera_worker_restarts",
        "Worker processes started again after one ended",
        lambda: sum(w.restarts for w in master.workers),
    )
    # Serving while any worker accepts (one being replaced shows in the gauge, not as down).
    metrics.check("workers", lambda: any(w.ready.is_set() for w in master.workers))
    metrics.before_scrape = master.publish_metrics
    return metrics


def _reload(master: Master, reload: Callable[[], ServiceConfig]) -> None:
    """Read the configuration again; what only a restart can change keeps its value."""
    try:
        new = reload()
    except ConfigError as error:
        log.error("configuration reload refused, the running one stays: %s", error)
        return
    config, kept_back = running_config(master.config, new)
    if kept_back:
        log.warning("configuration reload: kept until a restart: %s", ", ".join(kept_back))
    master.reconfigure(config)


async def _first_done(task: asyncio.Task[None], event: asyncio.Event) -> None:
    waiting = asyncio.create_task(event.wait())
    try:
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def share_of(config: ServiceConfig, count: int) -> ServiceConfig:
    """What one of `count` workers enforces of `config`: limits that hold for the service as
    a whole are split between its processes (each counts only its own connections and slow
    requests), rounded up, so one user holds at most its configured share of all connections
    (plus at most one per extra worker) and cannot lock the others out of any worker."""

    def part(total: int) -> int:
        return max(1, -(-total // count))

    connections = config.connections
    return replace(
        config,
        workers=count,
        connections=replace(
            connections,
            max_connections=part(connections.max_connections),
            max_connections_per_uid=part(connections.max_connections_per_uid),
        ),
        quotas=replace(config.quotas, max_concurrent=part(config.quotas.max_concurrent)),
    )


def _worker_environment(metrics: Path | None) -> dict[str, str]:
    """The master's environment without what systemd meant for the master alone; with the
    directory of the workers' metrics files when metrics are on."""
    environment = dict(os.environ)
    for name in ("NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", MULTIPROCESS):
        environment.pop(name, None)
    if metrics is not None:
        environment[MULTIPROCESS] = os.fspath(metrics)
    return environment


def _describe(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exit status {status}"


def _listening_socket(config: ServiceConfig) -> tuple[socket.socket, Path | None]:
    """systemd's socket, or one bound here (with where its file is: ours to remove at the end).

    Bound under a name of its own in the socket's directory and given the configured name only
    once a worker serves (`_publish`): a client that finds the socket gets answered, instead of
    waiting in the kernel's queue while the workers start (a short client timeout would expire).
    """
    inherited = systemd.inherited_listener(config.socket_path)
    if inherited is not None:
        log.info("socket passed by systemd")
        return inherited, None
    final = config.socket_path
    remove_stale_socket(final)  # refused now, before any worker starts, if a service answers
    starting = final.with_name(f".{final.name}.{os.getpid()}")
    if len(os.fsencode(starting)) > MAX_SOCKET_PATH:
        starting = final  # no room for a longer name: bound where clients look, at once
    return bind_socket(starting, config.socket_group), starting


def _publish(starting: Path, final: Path) -> None:
    """Give the serving socket the name clients use."""
    remove_stale_socket(final)  # still nobody else there
    os.replace(starting, final)
