"""`tessera service`: run the security service daemon."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from tessera.cli._commands import add_command
from tessera.cli._daemon import add_daemon_options, run_daemon
from tessera.service.config import ServiceConfig, load_config

log = logging.getLogger("tessera.service.config")


def register(commands: Any) -> None:
    """Add the `service` sub-command."""
    parser = add_command(
        commands,
        "service",
        "Run the security service: Parsec's wire protocol on a Unix socket, until SIGTERM or "
        "Ctrl-C (SIGHUP reloads its configuration). 'tessera service rotate-kek' (service "
        "stopped) re-wraps every software key under a new key-encryption key. Options override "
        "the configuration file (docs/configuration.md).",
        [
            "tessera service --config /etc/tessera/service.toml",
            "tessera service --socket /tmp/t/parsec.sock --state-dir /tmp/t --auth unix-peer",
            "tessera service rotate-kek --config /etc/tessera/service.toml",
        ],
    )
    parser.add_argument(
        "action", nargs="?", choices=("rotate-kek",), help="instead of running: rotate the KEK"
    )
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--socket", type=Path, help="listen on this Unix socket path")
    parser.add_argument("--state-dir", type=Path, help="directory for keys and runtime files")
    parser.add_argument(
        "--auth",
        help="comma-separated authenticators to enable (direct, unix-peer)",
    )
    parser.add_argument(
        "--admin", action="append", default=None, help="an administrator's application name"
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes serving the socket (0: one per core; the default)",
    )
    add_daemon_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the configuration, apply overrides, serve until a signal."""
    from tessera.service.daemon import run_service

    def load() -> ServiceConfig:
        return load_config(args.config).with_overrides(
            socket_path=args.socket,
            state_dir=args.state_dir,
            authenticators=_names(args.auth),
            admins=args.admin,
            log_level=args.log_level,
            log_format=args.log_format,
            allow_root=args.allow_root,
            workers=args.workers,
        )

    def serve(config: ServiceConfig) -> None:
        for warning in config.warnings:  # now that logging is set up: each once, at start
            log.warning("%s", warning)
        run_service(config, reload=load)  # SIGHUP reads the file again, same overrides

    if args.action == "rotate-kek":
        return run_daemon("key-encryption key rotation", load, _rotate)
    return run_daemon("service", load, serve)


def _rotate(config: ServiceConfig) -> None:
    """Re-wrap every software key under a new KEK, with the service stopped."""
    from tessera.cli._daemon import StartupError
    from tessera.service.keystore import KeyStore
    from tessera.service.providers.software.kek_rotation import rotate_kek
    from tessera.service.run_lock import hold_offline
    from tessera.wire.status import StatusError

    if not (config.state_dir / "kek").exists():
        raise StartupError(f"no key-encryption key in {config.state_dir}: nothing to rotate")
    # Asked of the run's lock, not of the socket: under systemd, a connection to the socket
    # would start the service. Held until done: a service started meanwhile waits.
    held = hold_offline(config.state_dir)
    if held is None:
        raise StartupError(
            f"the service is running on {config.state_dir}: stop it before rotating the KEK"
        )
    software = frozenset(p.provider_id for p in config.providers if p.provider_type == "software")
    keystore = KeyStore(config.key_store_path)
    try:
        count = rotate_kek(config.state_dir, keystore, software)
    except StatusError as error:
        raise StartupError(
            f"nothing was changed: a stored key cannot be opened ({error})"
        ) from None
    finally:
        keystore.close()
        os.close(held)
    print(f"key-encryption key rotated: {count} keys re-wrapped")


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]
