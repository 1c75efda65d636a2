"""`tessera up`: the security service, the identity provider and the orchestrator, together.

With no options it runs on embedded defaults under one state directory, with a demo manifest
of two applications. It prints the three endpoints and stops everything on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from tessera.cli._daemon import StartupError
from tessera.up.instance import (
    AlreadyRunningError,
    ComponentStatus,
    InstanceLock,
    SystemStatus,
    now,
    remove_status,
    write_status,
)

COMPONENT_STOP_TIMEOUT = 15.0


def register(commands: Any) -> None:
    """Add the `up` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "up", help="run the whole system (service, identity provider, orchestrator)"
    )
    parser.add_argument("--state-dir", type=Path, help="directory for all state")
    parser.add_argument("--manifest", type=Path, help="applications to run (default: the demo)")
    parser.add_argument("--no-demo", action="store_true", help="run no applications by default")
    parser.add_argument("--rotation-period", type=float, help="seconds between intermediates")
    parser.add_argument("--heartbeat", type=float, help="seconds between trust checks")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    parser.add_argument(
        "--allow-root", action="store_true", default=None, help="allow running as uid 0"
    )
    parser.set_defaults(run=run)


def demo_manifest(state_dir: Path) -> Path:
    """Write the demo manifest (with this interpreter) into the state directory."""
    template = resources.files("tessera.demo").joinpath("manifest.toml").read_text()
    path = state_dir / "demo-manifest.toml"
    path.write_text(template.replace("{python}", sys.executable.replace("\\", "\\\\")))
    return path


def run(args: argparse.Namespace) -> int:
    """Start, supervise and finally stop the three components."""
    from tessera._paths import default_state_dir

    state = (args.state_dir or default_state_dir()).expanduser().resolve()
    if os.geteuid() == 0 and not args.allow_root:
        raise StartupError("refusing to run as root (pass --allow-root to override)")
    try:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(f"cannot create the state directory {state}: {error}") from None
    lock = InstanceLock(state)
    try:
        lock.acquire()
    except AlreadyRunningError as error:
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError(f"cannot lock the state directory {state}: {error}") from None
    try:
        return _supervise(args, state)
    finally:
        remove_status(state)
        lock.release()


def _supervise(args: argparse.Namespace, state: Path) -> int:
    from tessera._paths import default_identity_socket, default_socket_path
    from tessera.cli.main import configure_logging
    from tessera.orchestrator.config import default_control_socket
    from tessera.up.supervisor import Component, SystemSupervisor

    level = args.log_level or "info"
    configure_logging(level)
    common = ["--state-dir", str(state), "--log-level", level]
    if args.allow_root:
        common.append("--allow-root")
    service_socket = default_socket_path(state)
    identity_socket = default_identity_socket(state)
    control_socket = default_control_socket(state)
    manifest = args.manifest
    if manifest is None and not args.no_demo:
        manifest = demo_manifest(state)
    rotation = ["--rotation-period", str(args.rotation_period)] if args.rotation_period else []
    if args.heartbeat:
        rotation += ["--heartbeat", str(args.heartbeat)]
    orchestrator_args = ["orchestrator", *common, *rotation]
    if manifest is not None:
        orchestrator_args += ["--manifest", str(manifest)]
    logs = state / "logs"
    components: list[Component] = []
    started = now()

    def record() -> None:
        write_status(
            state,
            SystemStatus(
                pid=os.getpid(),
                started=started,
                state_dir=str(state),
                components=[
                    ComponentStatus(
                        name=c.name,
                        pid=c.process.pid if c.process is not None else None,
                        started=c.started_wall,
                        restarts=c.restarts,
                        endpoint=f"unix:{c.socket}",
                        log=str(c.log_path),
                    )
                    for c in components
                ],
            ),
        )

    components.extend(
        [
            Component(
                "security service", ["service", *common], service_socket, logs / "service.log"
            ),
            Component(
                "identity provider",
                ["identity", *common, *rotation],
                identity_socket,
                logs / "identity.log",
            ),
            Component(
                "orchestrator",
                orchestrator_args,
                control_socket,
                logs / "orchestrator.log",
                inherit_stdout=True,  # the applications' output is the demo
            ),
        ]
    )
    supervisor = SystemSupervisor(components, stop_timeout=COMPONENT_STOP_TIMEOUT, on_change=record)

    def announce() -> None:
        print(f"tessera up: state in {state} (logs in {logs})", flush=True)
        print(f"  security service   unix:{service_socket}", flush=True)
        print(f"  identity provider  unix:{identity_socket}", flush=True)
        print(f"  orchestrator       unix:{control_socket}", flush=True)
        print(f"  export PARSEC_SERVICE_ENDPOINT=unix:{service_socket}", flush=True)
        print("Ctrl-C stops everything.", flush=True)

    code = supervisor.run(on_ready=announce)
    if code:
        raise StartupError(f"the system did not start; see the logs in {logs}")
    print("tessera up: stopped", flush=True)
    return 0
