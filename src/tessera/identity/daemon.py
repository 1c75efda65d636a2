"""Running the identity provider: trust towards the service, clients from the orchestrator."""

from __future__ import annotations

import asyncio
import os

from tessera.daemon import runner
from tessera.daemon.errors import ConfigError
from tessera.daemon.trusted_side import TrustedSide
from tessera.identity.config import IdentityConfig
from tessera.identity.handler import IdentityHandler
from tessera.identity.registry import Registry
from tessera.trust.store import TrustPolicy, TrustStore

PURGE_PERIOD = 5.0  # seconds between sweeps of exited proven processes


def run_identity(config: IdentityConfig) -> None:
    """Run until SIGTERM or SIGINT."""
    if os.geteuid() == 0 and not config.allow_root:
        raise ConfigError("refusing to run as root (set identity.allow_root to override)")
    config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    runner.run(serve(config))


async def serve(config: IdentityConfig) -> None:
    """Serve the identity protocol until a termination signal."""
    store = TrustStore(TrustPolicy(uid=config.orchestrator_uid, exe=config.orchestrator_exe))
    registry = Registry()
    issuer = TrustedSide(
        config.service_socket, rotation_period=config.rotation_period, name="identity provider"
    )
    handler = IdentityHandler(config, store, registry, issuer)

    async def keep_service_trusting() -> None:
        await issuer.keep_trusted(config.heartbeat)

    async def purge_exited() -> None:
        while True:
            await asyncio.sleep(PURGE_PERIOD)
            registry.purge_dead()

    settings = runner.ListenerSettings(
        socket_path=config.socket_path,
        socket_group=config.socket_group,
        limits=config.limits,
        request_timeout=config.request_timeout,
        idle_timeout=config.idle_timeout,
        drain_timeout=config.drain_timeout,
        peer_start_time=True,
    )
    await runner.serve(handler, settings, tasks=[keep_service_trusting, purge_exited])
