"""`tessera up`: run the whole system on embedded defaults under one state directory.

Today the system is the security service; the identity provider and orchestrator join here as
they are built, so that this stays the one command that runs everything.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tessera.cli.service_cmd import StartupError
from tessera.daemon.socket_file import SocketInUseError
from tessera.service.config import ConfigError, load_config


def register(commands: Any) -> None:
    """Add the `up` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "up", help="run the whole system with embedded defaults"
    )
    parser.add_argument("--state-dir", type=Path, help="directory for all state")
    parser.add_argument(
        "--allow-root", action="store_true", default=None, help="allow running as uid 0"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Start every component and print where to reach them."""
    from tessera.cli.main import configure_logging
    from tessera.service.daemon import run_service

    try:
        config = load_config(None).with_overrides(
            state_dir=args.state_dir, allow_root=args.allow_root
        )
        configure_logging(config.log_level)
        print(f"security service: unix:{config.socket_path}", flush=True)
        print(f"  export PARSEC_SERVICE_ENDPOINT=unix:{config.socket_path}", flush=True)
        run_service(config)
    except (ConfigError, SocketInUseError) as error:
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError(f"cannot start: {error}") from None
    return 0
