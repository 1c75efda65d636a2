"""One worker process of the service (`python -m tessera.service.worker`, started by the
master in service/workers.py).

It reads its Start order from stdin, builds its own assembly (key store connection, providers,
audit writer, authenticators) from the configuration, accepts on the socket the master passed
and serves exactly as a single-process service does. It says `ready` on stdout once it accepts,
or `error <reason>` if it cannot start. Later orders (Reload) arrive on stdin; the end of stdin
means the master has gone, and the worker stops as on SIGTERM: it stops accepting and answers
the requests in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys

from tessera.daemon import event_loop
from tessera.daemon.log_output import configure_logging
from tessera.daemon.metrics import DaemonMetrics
from tessera.service.builder import Assembly, build
from tessera.service.config import ServiceConfig
from tessera.service.daemon import serve, service_metrics
from tessera.service.run_lock import join_run
from tessera.service.worker_orders import (
    ERROR,
    PUBLISHED,
    READY,
    Publish,
    Reload,
    Start,
    read_first,
    read_order,
)

log = logging.getLogger(__name__)

EXIT_CANNOT_START = 3  # as the service's own start-up refusals


def main() -> int:
    """Serve as the worker the master's Start order describes."""
    # Unbuffered: a buffered reader could read ahead into the next order (a Reload sent while
    # this worker starts), which the event loop's reader would then never see.
    stdin = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    try:
        order = read_first(stdin)
    except (EOFError, ValueError) as error:
        print(f"tessera worker: no start order from the master: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
    config = order.config
    configure_logging(config.log_level, config.log_format, process=f"worker {order.index}")
    listening = socket.socket(fileno=order.fd)
    listening.setblocking(False)
    try:
        join_run(config, may_start=False)  # held for this process's life: it serves the run
        assembly = build(config)
    except Exception as error:
        _tell(f"{ERROR} {error}")
        return EXIT_CANNOT_START
    try:
        event_loop.run(_serve_orders(assembly, order, listening))
    finally:
        assembly.close()
    return 0


async def _serve_orders(assembly: Assembly, order: Start, listening: socket.socket) -> None:
    latest = [order.config]
    reload_requested = asyncio.Event()
    stop = asyncio.Event()
    metrics = service_metrics(assembly, publish=True)

    async def follow_master() -> None:
        await _follow(latest, reload_requested, stop, metrics)

    await serve(
        assembly,
        lambda: latest[0],
        reload_requested=reload_requested,
        stop=stop,
        tasks=[follow_master],
        listening=listening,
        on_ready=lambda: _tell(READY),
        metrics=metrics,
    )


async def _follow(
    latest: list[ServiceConfig],
    reload: asyncio.Event,
    stop: asyncio.Event,
    metrics: DaemonMetrics | None,
) -> None:
    """Take the master's orders until its end of the pipe closes, then stop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    while (order := await read_order(reader)) is not None:
        if isinstance(order, Reload):
            latest[0] = order.config
            reload.set()
        elif isinstance(order, Publish):
            if metrics is not None:
                metrics.publish()
            _tell(PUBLISHED)
    log.info("the master has gone: stopping")
    stop.set()


def _tell(line: str) -> None:
    """One line to the master (stdout is the pipe it reads)."""
    os.write(sys.stdout.fileno(), (line.replace("\n", " ") + "\n").encode())


if __name__ == "__main__":
    sys.exit(main())
