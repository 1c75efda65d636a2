"""Running the identity provider: trust towards the service, clients from the orchestrator."""

from __future__ import annotations

import asyncio
import os

from tessera._extras import require_extra
from tessera.config import ConfigError
from tessera.daemon import event_loop, runner
from tessera.daemon.link import Link
from tessera.daemon.metrics import DaemonMetrics, watch_trusted_side
from tessera.daemon.private_state import ensure_private_directory
from tessera.identity.config import IdentityConfig
from tessera.identity.handler import IdentityHandler
from tessera.identity.registry import Registry
from tessera.identity.revocations import Revocations
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.trust.trusted_side import TrustedSide

PURGE_PERIOD = 5.0  # seconds between sweeps of exited proven processes


def run_identity(config: IdentityConfig) -> None:
    """Run until SIGTERM or SIGINT."""
    if os.geteuid() == 0 and not config.allow_root:
        raise ConfigError("refusing to run as root (set identity.allow_root to override)")
    ensure_private_directory(
        config.state_dir, "state directory", group_may_read=config.socket_group is not None
    )
    event_loop.run(serve(config))


async def serve(config: IdentityConfig) -> None:
    """Serve the identity protocol until a termination signal."""
    store = TrustStore(TrustPolicy(uid=config.orchestrator_uid, exe=config.orchestrator_exe))
    registry = Registry()
    revocations = Revocations(config.token_lifetime)
    issuer = TrustedSide(
        Link(config.service_socket),
        rotation_period=config.rotation_period,
        name="identity provider",
        attach=revocations.signed_for,  # a restarted service gets the revocations back too
    )
    handler = IdentityHandler(config, store, registry, issuer, revocations)

    async def keep_service_trusting() -> None:
        await issuer.keep_trusted(config.heartbeat)

    async def keep_revocations_told() -> None:
        await revocations.keep_service_told(issuer)

    async def purge_exited() -> None:
        while True:
            await asyncio.sleep(PURGE_PERIOD)
            revocations.revoke(registry.purge_dead(), issuer.current)

    settings = runner.ListenerSettings.configured(config, peer_start_time=True)
    tasks = [keep_service_trusting, keep_revocations_told, purge_exited]
    # Bound now, so a Workload API socket in use stops the start-up like the main one.
    workload = None
    if config.workload_api_socket is not None:
        try:
            from tessera.identity.workload_server import WorkloadApiServer  # gRPC only when used
        except ImportError as error:
            require_extra("spiffe", error, ConfigError)

        workload = WorkloadApiServer(config, registry, issuer, revocations)
        tasks.append(workload.serve)
    metrics = None
    if config.metrics is not None:
        metrics = DaemonMetrics("identity", config.metrics)
        watch_trusted_side(metrics, issuer, "security service")
        metrics.counter(
            "tessera_tokens_issued", "Tokens (JWT-SVIDs) signed, over both APIs",
            lambda: issuer.tokens_issued,
        )  # fmt: skip
        metrics.gauge("tessera_proven_processes", "Processes proven now", registry.proven_count)
    try:
        await runner.serve(handler, settings, tasks=tasks, metrics=metrics)
    finally:
        if workload is not None:
            workload.close()
