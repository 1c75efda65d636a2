"""`tessera orchestrator`: run the orchestrator, launch one-off applications, show status."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tessera.cli._daemon import StartupError, run_daemon
from tessera.service.config import LOG_LEVELS


def register(commands: Any) -> None:
    """Add the `orchestrator` sub-command and its own sub-commands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "orchestrator", help="run the orchestrator, or talk to a running one"
    )
    _daemon_options(parser)
    parser.set_defaults(run=run_orchestrator_daemon)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    launch = actions.add_parser("run", help="launch a one-off application: run NAME -- COMMAND")
    launch.add_argument("name", help="application name (its identity derives from it)")
    launch.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    launch.add_argument("--restart", choices=("never", "on-failure", "always"), default="never")
    launch.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    _control_option(launch)
    launch.set_defaults(run=run_launch)
    status = actions.add_parser("status", help="applications with their identities")
    _control_option(status)
    status.add_argument("--json", action="store_true", dest="as_json", help="JSON output")
    status.set_defaults(run=run_status)


def _control_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: when not given here, `orchestrator --control-socket X ACTION` still counts.
    parser.add_argument(
        "--control-socket",
        type=Path,
        default=argparse.SUPPRESS,
        help="the orchestrator's control socket",
    )


def _daemon_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration (settings and [[app]]s)")
    parser.add_argument("--manifest", type=Path, help="TOML manifest of applications")
    parser.add_argument("--state-dir", type=Path, help="directory for state and sockets")
    parser.add_argument("--identity-socket", type=Path, help="the identity provider's socket")
    parser.add_argument("--service-socket", type=Path, help="the security service's socket")
    parser.add_argument("--control-socket", type=Path, help="where to serve control requests")
    parser.add_argument("--rotation-period", type=float, help="seconds between intermediates")
    parser.add_argument("--heartbeat", type=float, help="seconds between trust checks")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="logging verbosity")
    parser.add_argument(
        "--allow-root", action="store_true", default=None, help="allow running as uid 0"
    )


def run_orchestrator_daemon(args: argparse.Namespace) -> int:
    """Run the orchestrator until a signal."""
    from tessera.orchestrator.config import (
        OrchestratorConfig,
        load_manifest,
        load_orchestrator_config,
    )
    from tessera.orchestrator.daemon import run_orchestrator

    def load() -> OrchestratorConfig:
        config = load_orchestrator_config(args.config).with_overrides(
            state_dir=args.state_dir,
            identity_socket=args.identity_socket,
            service_socket=args.service_socket,
            control_socket=args.control_socket,
            rotation_period=args.rotation_period,
            heartbeat=args.heartbeat,
            log_level=args.log_level,
            allow_root=args.allow_root,
        )
        if args.manifest is not None:
            config = config.with_apps(load_manifest(args.manifest))
        return config

    return run_daemon("orchestrator", load, run_orchestrator)


def _control_socket(args: argparse.Namespace) -> Path:
    """--control-socket, else where the daemon's --config and --state-dir put it."""
    from tessera.daemon.errors import ConfigError
    from tessera.orchestrator.config import load_orchestrator_config

    if args.control_socket is not None:
        return Path(args.control_socket)
    try:
        config = load_orchestrator_config(args.config).with_overrides(state_dir=args.state_dir)
    except ConfigError as error:
        raise StartupError(str(error)) from None
    return config.control_socket


def _call(path: Path, opcode: Any, body: Any, timeout: float) -> Any:
    import asyncio

    from tessera.daemon import link
    from tessera.wire.status import StatusError

    try:
        return asyncio.run(link.call(path, opcode, body, timeout=timeout))
    except link.LinkError as error:
        raise StartupError(f"no orchestrator at {path}: {error}") from None
    except StatusError as error:
        raise StartupError(f"the orchestrator refused: {error}") from None


def run_launch(args: argparse.Namespace) -> int:
    """Ask the running orchestrator to start one application."""
    from tessera.wire.opcodes import Opcode
    from tessera.wire.proto import launch_app_pb2

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise StartupError("usage: tessera orchestrator run NAME -- COMMAND [ARGS...]")
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StartupError(f"--env wants KEY=VALUE, not {item!r}")
        env[key] = value
    body = launch_app_pb2.Operation(name=args.name, command=command, env=env, restart=args.restart)
    result = _call(_control_socket(args), Opcode.LAUNCH_APP, body, timeout=90)
    print(f"{result.client_id} pid {result.pid} {result.spiffe_id or '(identity pending)'}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the applications a running orchestrator manages."""
    from tessera.wire.opcodes import Opcode
    from tessera.wire.proto import list_apps_pb2

    result = _call(_control_socket(args), Opcode.LIST_APPS, list_apps_pb2.Operation(), timeout=10)
    if args.as_json:
        apps = [
            {
                "name": a.name,
                "spiffe_id": a.spiffe_id,
                "command": list(a.command),
                "restart": a.restart,
                "instances": [
                    {
                        "client_id": i.client_id,
                        "pid": i.pid,
                        "state": i.state,
                        "restarts": i.restarts,
                    }
                    for i in a.instances
                ],
            }
            for a in result.apps
        ]
        print(json.dumps({"apps": apps}))
        return 0
    for app in result.apps:
        print(f"{app.name}  {app.spiffe_id or '(no identity yet)'}")
        for i in app.instances:
            print(f"  {i.client_id}  pid {i.pid}  {i.state}  restarts {i.restarts}")
    sys.stdout.flush()
    return 0
