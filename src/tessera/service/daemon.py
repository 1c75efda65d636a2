"""Running the service: refuse root, build, listen, and shut down in order on a signal.

Signal handlers only set a flag; the main coroutine then stops accepting, lets requests in flight
finish (bounded by the drain timeout), and closes providers and the key store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

from tessera.service.builder import Assembly, build
from tessera.service.config import ConfigError, ServiceConfig
from tessera.service.front.server import Listener

log = logging.getLogger(__name__)


def install_event_loop_policy() -> None:
    """Use uvloop when it is installed: same semantics, faster I/O."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_service(config: ServiceConfig) -> None:
    """Run until SIGTERM or SIGINT. Raises ConfigError for an unusable configuration."""
    if os.geteuid() == 0 and not config.allow_root:
        raise ConfigError("refusing to run as root (set core_settings.allow_root to override)")
    config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    assembly = build(config)
    try:
        install_event_loop_policy()
        asyncio.run(serve(assembly))
    finally:
        assembly.close()


async def serve(assembly: Assembly, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or a termination signal arrives)."""
    config = assembly.config
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="provider")
    listener = Listener(
        assembly.dispatcher,
        executor,
        config.limits,
        request_timeout=config.request_timeout,
        idle_timeout=config.idle_timeout,
    )
    try:
        await listener.start(config.socket_path, config.socket_group)
        _notify_ready()
        await stop.wait()
        log.info("stopping: answering requests in flight")
        await listener.stop(config.drain_timeout)
    finally:
        executor.shutdown(wait=True)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")


def _notify_ready() -> None:
    """Tell systemd (Type=notify) that the socket is accepting."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        try:
            notify.sendto(b"READY=1", address)
        except OSError as error:
            log.warning("could not notify systemd: %s", error)
