"""Running the security service: refuse root, build, serve, close in order."""

from __future__ import annotations

import os

from tessera.daemon import runner
from tessera.service.builder import Assembly, build
from tessera.service.config import ConfigError, ServiceConfig


def listener_settings(config: ServiceConfig) -> runner.ListenerSettings:
    """The front-end settings of the service."""
    return runner.ListenerSettings(
        socket_path=config.socket_path,
        socket_group=config.socket_group,
        limits=config.limits,
        request_timeout=config.request_timeout,
        idle_timeout=config.idle_timeout,
        drain_timeout=config.drain_timeout,
        max_connections=config.max_connections,
        max_connections_per_uid=config.max_connections_per_uid,
        first_byte_timeout=config.first_byte_timeout,
    )


def run_service(config: ServiceConfig) -> None:
    """Run until SIGTERM or SIGINT. Raises ConfigError for an unusable configuration."""
    if os.geteuid() == 0 and not config.allow_root:
        raise ConfigError("refusing to run as root (set core_settings.allow_root to override)")
    config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    assembly = build(config)
    try:
        runner.run(serve(assembly))
    finally:
        assembly.close()


async def serve(assembly: Assembly) -> None:
    """Serve one assembled service until a termination signal."""
    await runner.serve(assembly.dispatcher, listener_settings(assembly.config))
