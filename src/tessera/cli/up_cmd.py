"""`tessera up`: the security service, the identity provider and the orchestrator, together.

With no options it runs on embedded defaults under one state directory, with a demo manifest
of two applications. It prints the three endpoints and stops everything on SIGINT/SIGTERM.
With --containers the demo's applications run as podman containers instead (up/containers.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.cli._commands import add_command
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

if TYPE_CHECKING:
    from tessera.up.containers import ContainerDemo
    from tessera.up.supervisor import Component

COMPONENT_STOP_TIMEOUT = 15.0


def register(commands: Any) -> None:
    """Add the `up` sub-command."""
    parser = add_command(
        commands,
        "up",
        "Run the whole system on embedded defaults: the security service, the identity "
        "provider and the orchestrator with its applications (the demo's unless --manifest or "
        "--no-demo), supervised and restarted if they die, until Ctrl-C or `tessera down`. "
        "State lives under --state-dir (default $TESSERA_STATE_DIR, else "
        "~/.local/state/tessera); one `tessera up` per state directory.",
        [
            "tessera up",
            "tessera up --no-demo --state-dir /tmp/tessera",
            "tessera up --manifest apps.toml --log-level debug",
        ],
    )
    parser.add_argument("--state-dir", type=Path, help="directory for all state")
    parser.add_argument("--manifest", type=Path, help="applications to run (default: the demo)")
    parser.add_argument("--no-demo", action="store_true", help="run no applications by default")
    parser.add_argument(
        "--containers",
        action="store_true",
        help="run the demo's applications as podman containers (root; docs/containers.md)",
    )
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


def _container_demo(state: Path) -> ContainerDemo:
    """The container demo, ready to start; StartupError (one line) where it cannot run."""
    from tessera.up.containers import ContainerDemo, ContainerDemoError

    containers = ContainerDemo(state)
    try:
        containers.prepare()
    except ContainerDemoError as error:
        raise StartupError(str(error)) from None
    return containers


def run(args: argparse.Namespace) -> int:
    """Start, supervise and finally stop the three components."""
    from tessera._paths import default_state_dir

    state = (args.state_dir or default_state_dir()).expanduser().resolve()
    if os.geteuid() == 0 and not args.allow_root:
        raise StartupError("refusing to run as root (pass --allow-root to override)")
    if args.containers and args.no_demo:
        raise StartupError("--containers runs the demo: it cannot go with --no-demo")
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


def _status_recorder(state: Path, components: list[Component]) -> Callable[[], None]:
    """What keeps `tessera status`'s file current: the components as they are now."""
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

    return record


def _supervise(args: argparse.Namespace, state: Path) -> int:
    from tessera._paths import default_identity_socket, default_socket_path
    from tessera.cli.main import configure_logging
    from tessera.daemon.lifecycle import die_with_parent
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
    containers = _container_demo(state) if args.containers else None
    config = ["--config", str(containers.config)] if containers is not None else []
    if containers is not None:
        # Sockets a container may reach live apart from the orchestrator's control socket.
        service_socket, identity_socket = containers.sockets
    manifest = args.manifest
    if manifest is None and not args.no_demo and containers is None:
        manifest = demo_manifest(state)
    rotation = ["--rotation-period", str(args.rotation_period)] if args.rotation_period else []
    if args.heartbeat:
        rotation += ["--heartbeat", str(args.heartbeat)]
    sockets = ["--service-socket", str(service_socket), "--identity-socket", str(identity_socket)]
    orchestrator_args = ["orchestrator", *common, *rotation, *config, *sockets]
    if manifest is not None:
        orchestrator_args += ["--manifest", str(manifest)]
    logs = state / "logs"
    components: list[Component] = []
    record = _status_recorder(state, components)

    if containers is not None:
        components.append(containers.engine_component(logs / "engine.log"))
    components.extend(
        [
            Component(
                "security service",
                ["service", *common, "--socket", str(service_socket)],
                service_socket,
                logs / "service.log",
            ),
            Component(
                "identity provider",
                [
                    "identity",
                    *common,
                    *rotation,
                    "--socket",
                    str(identity_socket),
                    "--service-socket",
                    str(service_socket),
                ],
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
    pre_exec = die_with_parent()
    supervisor = SystemSupervisor(
        components, stop_timeout=COMPONENT_STOP_TIMEOUT, on_change=record, pre_exec=pre_exec
    )

    def announce() -> None:
        print(f"tessera up: state in {state} (logs in {logs})", flush=True)
        print(f"  security service   unix:{service_socket}", flush=True)
        print(f"  identity provider  unix:{identity_socket}", flush=True)
        print(f"  orchestrator       unix:{control_socket}", flush=True)
        if containers is not None:
            print(f"  container engine   unix:{containers.engine_socket}", flush=True)
        print(f"  export PARSEC_SERVICE_ENDPOINT=unix:{service_socket}", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        if containers is not None:
            containers.start(pre_exec)

    code = supervisor.run(
        on_ready=announce, before_stop=containers.stop if containers is not None else None
    )
    if code:
        raise StartupError(f"the system did not start; see the logs in {logs}")
    print("tessera up: stopped", flush=True)
    return 0
