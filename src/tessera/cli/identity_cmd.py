"""`tessera identity`: run the identity provider."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tessera.cli._commands import add_command
from tessera.cli._daemon import add_daemon_options, run_daemon


def register(commands: Any) -> None:
    """Add the `identity` sub-command."""
    parser = add_command(
        commands,
        "identity",
        "Run the identity provider: it holds the trust root and intermediates, learns from the "
        "orchestrator which processes are which applications, and issues their tokens. "
        "Options override the configuration file.",
        [
            "tessera identity --config /etc/tessera/identity.toml",
            "tessera identity --state-dir /tmp/t --service-socket /tmp/t/run/parsec.sock",
        ],
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--socket", type=Path, help="listen on this Unix socket path")
    parser.add_argument("--state-dir", type=Path, help="directory for runtime files")
    parser.add_argument("--service-socket", type=Path, help="the security service's socket")
    parser.add_argument(
        "--workload-api-socket", type=Path, help="serve the SPIFFE Workload API on this socket"
    )
    parser.add_argument("--trust-domain", help="SPIFFE trust domain of issued identities")
    parser.add_argument("--rotation-period", type=float, help="seconds between intermediates")
    parser.add_argument("--token-lifetime", type=float, help="seconds a token lives at most")
    parser.add_argument("--heartbeat", type=float, help="seconds between trust checks")
    add_daemon_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the configuration, apply overrides, serve until a signal."""
    from tessera.identity.config import IdentityConfig, load_identity_config
    from tessera.identity.daemon import run_identity

    def load() -> IdentityConfig:
        return load_identity_config(args.config).with_overrides(
            state_dir=args.state_dir,
            socket_path=args.socket,
            service_socket=args.service_socket,
            workload_api_socket=args.workload_api_socket,
            trust_domain=args.trust_domain,
            rotation_period=args.rotation_period,
            token_lifetime=args.token_lifetime,
            heartbeat=args.heartbeat,
            log_level=args.log_level,
            log_format=args.log_format,
            allow_root=args.allow_root,
        )

    return run_daemon("identity provider", load, run_identity)
