"""`tessera status` and `tessera down`: look at and stop the system `tessera up` runs."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import time
from dataclasses import asdict
from pathlib import Path

from tessera.cli._commands import Commands, add_command
from tessera.cli._errors import CliError, ExitCode
from tessera.up.instance import ComponentStatus, holder_pid, is_held, read_status

DOWN_TIMEOUT = 60.0


def register(commands: Commands) -> None:
    """Add the `status` and `down` sub-commands."""
    if commands.wants("status"):
        status = add_command(
            commands,
            "status",
            "Show the system that `tessera up` runs on a state directory: each "
            "component's pid, uptime, restarts and endpoint, and whether it answers. Exit status 0 "
            "when all answer, 4 when some do not, 5 when nothing runs there.",
            ["tessera status", "tessera status --state-dir /tmp/tessera --json"],
        )
        status.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object"
        )
        status.add_argument("--state-dir", type=Path, help="the state directory tessera up uses")
        status.set_defaults(run=run_status)
    if commands.wants("down"):
        down = add_command(
            commands,
            "down",
            "Ask the `tessera up` of a state directory to stop everything in order, "
            "and wait until it has. Exit status 5 when nothing runs there.",
            ["tessera down", "tessera down --state-dir /tmp/tessera --timeout 120"],
        )
        down.add_argument("--state-dir", type=Path, help="the state directory tessera up uses")
        down.add_argument(
            "--timeout", type=float, default=DOWN_TIMEOUT, help="seconds to wait (default 60)"
        )
        down.set_defaults(run=run_down)


def _state(args: argparse.Namespace) -> Path:
    """--state-dir, else the one PARSEC_SERVICE_ENDPOINT points into, else the default."""
    from tessera._paths import default_state_dir
    from tessera.cli._exported import exported_state_dir

    chosen = args.state_dir or exported_state_dir() or default_state_dir()
    state: Path = chosen.expanduser().resolve()
    return state


def _answers(endpoint: str) -> bool:
    path = endpoint.removeprefix("unix:")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def _line(component: ComponentStatus, answering: bool, now: float) -> str:
    pid = str(component.pid) if component.pid is not None else "-"
    uptime = _duration(now - component.started) if component.started else "-"
    state = "answering" if answering else "NOT ANSWERING"
    return (
        f"  {component.name:<18} pid {pid:<7} up {uptime:<7} restarts {component.restarts:<3} "
        f"{component.endpoint}  {state}"
    )


def _not_running(state: Path) -> CliError:
    """Why nothing was found on `state`: nothing runs there, or this user may not look."""
    try:
        owner = f" (it belongs to uid {state.stat().st_uid})"
        closed = not os.access(state, os.R_OK | os.X_OK)
    except PermissionError:  # a directory above it is closed too
        owner, closed = "", True
    except OSError:
        owner, closed = "", False
    if closed:
        return CliError(
            f"the state directory {state} is closed to uid {os.getuid()}{owner}: run this as "
            "the user who runs tessera up",
            ExitCode.NOT_PERMITTED,
        )
    return CliError(f"no tessera up is running on {state}", ExitCode.NOT_FOUND)


def run_status(args: argparse.Namespace) -> int:
    """Print the system's status; the exit status says whether all of it answers."""
    state = _state(args)
    status = read_status(state) if is_held(state) else None
    if status is None:
        raise _not_running(state)
    now = time.time()
    answering = {c.name: _answers(c.endpoint) for c in status.components}
    if getattr(args, "json", False):
        data = asdict(status)
        for entry in data["components"]:
            entry["answering"] = answering[entry["name"]]
        print(json.dumps(data))
    else:
        print(f"tessera up (pid {status.pid}) on {state}, up {_duration(now - status.started)}")
        for component in status.components:
            print(_line(component, answering[component.name], now))
    return 0 if all(answering.values()) else int(ExitCode.SERVICE)


def run_down(args: argparse.Namespace) -> int:
    """SIGTERM the state directory's `tessera up` and wait until it has stopped everything."""
    state = _state(args)
    pid = holder_pid(state) if is_held(state) else None
    if pid is None:
        raise _not_running(state)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # it ended on its own meanwhile
    except PermissionError:
        raise CliError(
            f"tessera up (pid {pid}) runs as another user: not allowed to stop it",
            ExitCode.NOT_PERMITTED,
        ) from None
    deadline = time.monotonic() + args.timeout
    while is_held(state):
        if time.monotonic() > deadline:
            raise CliError(
                f"tessera up (pid {pid}) did not stop within {args.timeout:.0f} s",
                ExitCode.SERVICE,
            )
        time.sleep(0.1)
    print(f"tessera up (pid {pid}) on {state}: stopped")
    return 0
