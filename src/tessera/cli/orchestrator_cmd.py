"""`tessera orchestrator`: run the orchestrator, or manage the applications of a running one.

`run NAME [OPTIONS] -- COMMAND [ARGS...]`: options may come before or after NAME; the
application's command is everything after `--`, and nothing else is. A refusal prints the
orchestrator's reason on one line, with an exit code by family (docs/cli.md).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from tessera.cli._commands import add_action, add_command
from tessera.cli._common import Context, command
from tessera.cli._daemon import add_daemon_options, run_daemon
from tessera.cli._errors import CliError, ExitCode

RUN_USAGE = "tessera orchestrator run [OPTIONS] NAME [OPTIONS] -- COMMAND [ARGS...]"
DEFAULT_LINES = 100


def register(commands: Any) -> None:
    """Add the `orchestrator` sub-command and its own sub-commands."""
    parser = add_command(
        commands,
        "orchestrator",
        "Without an action: run the orchestrator daemon. With one: manage the "
        "applications of a running orchestrator, through its control socket (found from "
        "--control-socket, else from --config / --state-dir, given before or after the action).",
        [
            "tessera orchestrator --config /etc/tessera/orchestrator.toml",
            "tessera orchestrator status",
            "tessera --json orchestrator status --state-dir /tmp/tessera",
        ],
    )
    _daemon_options(parser)
    parser.set_defaults(run=run_orchestrator_daemon)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    _register_run(actions)
    status = _action(
        actions,
        "status",
        "each application's state, pid, restarts, last exit status and identity",
        "Exit status 0; 11 when no orchestrator answers.",
        ["tessera orchestrator status", "tessera orchestrator status --json"],
    )
    status.set_defaults(run=run_status)
    stop = _action(
        actions,
        "stop",
        "stop an application and keep it stopped",
        "SIGTERM to each instance's process group, SIGKILL after the stop timeout. It stays "
        "stopped until `restart` (a manifest application: or the orchestrator's next start). "
        "Exit status 5 when there is no application of that name.",
        ["tessera orchestrator stop web"],
    )
    stop.add_argument("name", metavar="NAME", help="the application")
    stop.set_defaults(run=run_stop)
    restart = _action(
        actions,
        "restart",
        "stop an application if it runs, and start it again",
        "Same identity, same keys. Exit status 13 when it cannot be started, 5 when there is "
        "no application of that name.",
        ["tessera orchestrator restart web"],
    )
    restart.add_argument("name", metavar="NAME", help="the application")
    restart.set_defaults(run=run_restart)
    logs = _action(
        actions,
        "logs",
        "the last lines an application wrote (its standard output and error)",
        "Each instance's output goes to <state>/logs/apps/NAME.REPLICA.log (mode 0600).",
        ["tessera orchestrator logs web -n 20", "tessera orchestrator logs web --replica 1"],
    )
    logs.add_argument("name", metavar="NAME", help="the application")
    logs.add_argument(
        "-n",
        "--lines",
        type=_count,
        default=DEFAULT_LINES,
        metavar="N",
        help=f"how many lines from the end (default {DEFAULT_LINES}; 0: as many as fit)",
    )
    logs.add_argument(
        "--replica", type=_count, default=0, metavar="N", help="which instance (default 0)"
    )
    logs.set_defaults(run=run_logs)


def _register_run(actions: Any) -> None:
    launch = _action(
        actions,
        "run",
        "launch a one-off application: run NAME [OPTIONS] -- COMMAND [ARGS...]",
        "Start COMMAND as the application NAME (its identity derives from the name) in the "
        "running orchestrator, and wait until it runs with its identity. Options may come "
        "before or after NAME; the command is everything after '--'. The application is "
        "recorded in the orchestrator's state: it survives an orchestrator restart. Exit "
        "status 6 when NAME is in the manifest or already running, 13 when the command "
        "cannot be started.",
        [
            "tessera orchestrator run web --env PORT=8080 --restart on-failure -- ./server -v",
            "tessera orchestrator run batch -- python3 -m batch --once",
        ],
        usage=RUN_USAGE,
    )
    _run_options(launch)
    launch.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        action=_NameThenCommand,
        metavar="NAME [OPTIONS] -- COMMAND [ARGS...]",
        help="the application's name, more options, then '--' and its command",
    )
    launch.set_defaults(run=run_launch)


def _run_options(parser: argparse.ArgumentParser) -> None:
    """The options of `run` (declared once, read before and after NAME)."""
    parser.add_argument(
        "--restart",
        choices=("never", "on-failure", "always"),
        default=argparse.SUPPRESS,
        help="restart policy (default: never)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="an environment variable for the application (repeatable)",
    )
    parser.add_argument(
        "-C",
        "--working-dir",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="where it runs (default: the current directory)",
    )


def _action(
    actions: Any, name: str, summary: str, details: str, examples: list[str], **extra: Any
) -> Any:
    description = f"{summary[0].upper()}{summary[1:]}. {details}"
    parser = add_action(actions, name, summary, description, examples, **extra)
    _control_options(parser)
    _json_option(parser)
    return parser


def _json_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: `tessera --json orchestrator ACTION` counts too.
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object"
    )


def _control_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: when not given here, `orchestrator --state-dir X ACTION` still counts.
    parser.add_argument(
        "--control-socket",
        type=Path,
        default=argparse.SUPPRESS,
        help="the orchestrator's control socket",
    )
    parser.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help="the orchestrator's configuration"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=argparse.SUPPRESS, help="the orchestrator's state"
    )


class _MisuseError(Exception):
    """A usage mistake found by the parser of what follows NAME."""


class _QuietParser(argparse.ArgumentParser):
    """Parses what follows NAME; its mistakes are reported by the `run` parser."""

    def error(self, message: str) -> NoReturn:
        raise _MisuseError(message)


def _tail_parser() -> _QuietParser:
    tail = _QuietParser(prog="tessera orchestrator run", add_help=False)
    tail.add_argument("name", metavar="NAME")
    _run_options(tail)
    _control_options(tail)
    _json_option(tail)
    return tail


class _NameThenCommand(argparse.Action):
    """NAME, options, then `--` and the command: options after NAME are options, an unknown
    option is a mistake, and the command is only what follows `--`."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        words = [str(word) for word in values or ()]
        dashes = words.index("--") if "--" in words else len(words)
        head, command = words[:dashes], words[dashes + 1 :]
        try:
            _, unknown = _tail_parser().parse_known_args(head, namespace)
        except _MisuseError as misuse:
            parser.error(str(misuse))
        if unknown:
            hint = "" if "--" in words else " (the command goes after '--')"
            parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
        if not command:
            parser.error(f"no command: {RUN_USAGE}")
        namespace.app_command = command


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _daemon_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration (settings and [[app]]s)")
    parser.add_argument("--manifest", type=Path, help="TOML manifest of applications")
    parser.add_argument("--state-dir", type=Path, help="directory for state and sockets")
    parser.add_argument("--identity-socket", type=Path, help="the identity provider's socket")
    parser.add_argument("--service-socket", type=Path, help="the security service's socket")
    parser.add_argument("--control-socket", type=Path, help="where to serve control requests")
    parser.add_argument("--rotation-period", type=float, help="seconds between intermediates")
    parser.add_argument("--heartbeat", type=float, help="seconds between trust checks")
    add_daemon_options(parser)


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
            log_format=args.log_format,
            allow_root=args.allow_root,
        )
        if args.manifest is not None:
            config = config.with_apps(load_manifest(args.manifest))
        return config

    return run_daemon("orchestrator", load, run_orchestrator)


def _control_socket(args: argparse.Namespace) -> Path:
    """--control-socket, else where the daemon's --config and --state-dir put it."""
    from tessera.config import ConfigError
    from tessera.orchestrator.config import load_orchestrator_config

    if args.control_socket is not None:
        return Path(args.control_socket)
    try:
        config = load_orchestrator_config(args.config).with_overrides(state_dir=args.state_dir)
    except ConfigError as error:
        raise CliError(str(error), ExitCode.CONFIG) from None
    return config.control_socket


def _closed_to_me(path: Path) -> bool:
    """True when `path` (or a directory above it) exists but this user may not use it."""
    try:
        path.stat()
    except PermissionError:
        return True
    except OSError:
        return False
    return not os.access(path, os.R_OK | os.W_OK)


def _call(args: argparse.Namespace, opcode: Any, body: Any, timeout: float) -> Any:
    """One control request; a refusal or no answer becomes a one-line CliError."""
    import asyncio

    from tessera.daemon import link
    from tessera.orchestrator.refusals import decode_detail
    from tessera.wire.status import StatusError

    path = _control_socket(args)
    try:
        return asyncio.run(link.call(path, opcode, body, timeout=timeout))
    except link.LinkError as error:
        if _closed_to_me(path):
            raise CliError(
                f"the orchestrator's socket {path} is closed to uid {os.getuid()}: run this as "
                "the user who runs the orchestrator (or one of its socket's group)",
                ExitCode.NOT_PERMITTED,
            ) from None
        raise CliError(f"no orchestrator at {path}: {error}", ExitCode.TRANSPORT) from None
    except link.RefusedError as refused:
        refusal = decode_detail(refused.status, refused.body)
        raise CliError(f"orchestrator {args.action}: {refusal}", _exit_code(refusal)) from None
    except StatusError as error:
        raise CliError(f"orchestrator {args.action}: {error}", ExitCode.SERVICE) from None


def _exit_code(refusal: Any) -> ExitCode:
    """The exit code of a refusal: by its reason, else by its status."""
    from tessera.orchestrator.refusals import Reason
    from tessera.wire.status import Status

    by_reason = {
        Reason.NAME_IN_MANIFEST: ExitCode.ALREADY_EXISTS,
        Reason.ALREADY_RUNNING: ExitCode.ALREADY_EXISTS,
        Reason.NO_SUCH_APP: ExitCode.NOT_FOUND,
        Reason.INVALID_REQUEST: ExitCode.USAGE,
        Reason.START_FAILED: ExitCode.APP_FAILED,
    }
    by_status = {
        Status.PSA_ERROR_ALREADY_EXISTS: ExitCode.ALREADY_EXISTS,
        Status.PSA_ERROR_DOES_NOT_EXIST: ExitCode.NOT_FOUND,
        Status.PSA_ERROR_INVALID_ARGUMENT: ExitCode.USAGE,
        Status.OPCODE_DOES_NOT_EXIST: ExitCode.NOT_SUPPORTED,  # an older orchestrator
    }
    return by_reason.get(refusal.reason) or by_status.get(refusal.status, ExitCode.SERVICE)


@command
def run_launch(context: Context, args: argparse.Namespace) -> None:
    """Ask the running orchestrator to start one application."""
    from tessera.wire.opcodes import Opcode
    from tessera.wire.proto import launch_app_pb2

    env = {}
    for item in getattr(args, "env", []):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"orchestrator run: --env wants KEY=VALUE, not {item!r}")
        env[key] = value
    working_dir = getattr(args, "working_dir", None) or Path.cwd()
    body = launch_app_pb2.Operation(
        name=args.name,
        command=args.app_command,
        env=env,
        restart=getattr(args, "restart", "never"),
        working_dir=os.fspath(working_dir.absolute()),
    )
    result = _call(args, Opcode.LAUNCH_APP, body, timeout=90)
    if context.json:
        print(
            json.dumps(
                {"client_id": result.client_id, "pid": result.pid, "spiffe_id": result.spiffe_id}
            )
        )
    else:
        print(f"{result.client_id} pid {result.pid} {result.spiffe_id or '(identity pending)'}")


@command
def run_stop(context: Context, args: argparse.Namespace) -> None:
    """Stop an application."""
    from tessera.wire.opcodes import Opcode
    from tessera.wire.proto import stop_app_pb2

    result = _call(args, Opcode.STOP_APP, stop_app_pb2.Operation(name=args.name), timeout=90)
    _show([result.app], as_json=context.json)


@command
def run_restart(context: Context, args: argparse.Namespace) -> None:
    """Restart an application."""
    from tessera.wire.opcodes import Opcode
    from tessera.wire.proto import restart_app_pb2

    body = restart_app_pb2.Operation(name=args.name)
    result = _call(args, Opcode.RESTART_APP, body, timeout=90)
    _show([result.app], as_json=context.json)


@command
def run_logs(context: Context, args: argparse.Namespace) -> None:
    """Print the end of an application's output."""
    from tessera.wire.opcodes import Opcode
    from tessera.wire.proto import app_logs_pb2

    body = app_logs_pb2.Operation(name=args.name, lines=args.lines, replica=args.replica)
    result = _call(args, Opcode.APP_LOGS, body, timeout=20)
    if context.json:
        output = result.output.decode(errors="replace")
        print(
            json.dumps(
                {"log_file": result.log_file, "truncated": result.truncated, "output": output}
            )
        )
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(result.output)
    sys.stdout.buffer.flush()


@command
def run_status(context: Context, args: argparse.Namespace) -> None:
    """Print the applications a running orchestrator manages."""
    from tessera.wire.opcodes import Opcode
    from tessera.wire.proto import list_apps_pb2

    result = _call(args, Opcode.LIST_APPS, list_apps_pb2.Operation(), timeout=10)
    _show(list(result.apps), as_json=context.json)


def _show(apps: list[Any], *, as_json: bool) -> None:
    """Applications as a table (one line per instance), or as JSON."""
    if as_json:
        print(json.dumps({"apps": [_app_json(app) for app in apps]}))
        return
    rows = [["INSTANCE", "STATE", "PID", "RESTARTS", "LAST EXIT", "IDENTITY"]]
    notes = [""]
    for app in apps:
        identity = app.spiffe_id or "(no identity yet)"
        if app.one_off:
            identity += " (one-off)"
        if not app.instances:
            rows.append([app.name, "(no instances)", "-", "-", "-", identity])
            notes.append("")
        for i in app.instances:
            last = _last_exit(i.exit_status) if i.HasField("exit_status") else "-"
            pid = str(i.pid) if i.pid else "-"
            rows.append([i.client_id, i.state, pid, str(i.restarts), last, identity])
            notes.append(f"  {i.error}" if i.error else "")
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    for row, note in zip(rows, notes, strict=True):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]) + note)


def _last_exit(status: int) -> str:
    """An exit status in words: the code, or the signal that ended it."""
    if status >= 0:
        return str(status)
    try:
        return signal.Signals(-status).name
    except ValueError:
        return f"signal {-status}"


def _app_json(app: Any) -> dict[str, Any]:
    return {
        "name": app.name,
        "spiffe_id": app.spiffe_id,
        "command": list(app.command),
        "restart": app.restart,
        "one_off": app.one_off,
        "instances": [
            {
                "client_id": i.client_id,
                "pid": i.pid,
                "state": i.state,
                "restarts": i.restarts,
                "exit_status": i.exit_status if i.HasField("exit_status") else None,
                "last_exit": _last_exit(i.exit_status) if i.HasField("exit_status") else None,
                "error": i.error,
                "log_file": i.log_file,
            }
            for i in app.instances
        ],
    }
