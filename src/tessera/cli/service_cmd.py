"""`tessera service`: run the security service daemon."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tessera.daemon.socket_file import SocketInUseError
from tessera.service.config import LOG_LEVELS, ConfigError, load_config


class StartupError(Exception):
    """The daemon cannot start; the message is one line for the user."""


def register(commands: Any) -> None:
    """Add the `service` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "service", help="run the security service (Parsec wire protocol on a Unix socket)"
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
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="logging verbosity")
    parser.add_argument(
        "--allow-root", action="store_true", default=None, help="allow running as uid 0"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the configuration, apply overrides, serve until a signal."""
    from tessera.cli.main import configure_logging
    from tessera.service.daemon import run_service

    try:
        config = load_config(args.config).with_overrides(
            socket_path=args.socket,
            state_dir=args.state_dir,
            authenticators=_names(args.auth),
            admins=args.admin,
            log_level=args.log_level,
            allow_root=args.allow_root,
        )
        configure_logging(config.log_level)
        run_service(config)
    except (ConfigError, SocketInUseError) as error:
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError(f"cannot start the service: {error}") from None
    return 0


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]
