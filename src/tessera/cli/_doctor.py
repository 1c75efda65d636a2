"""`tessera doctor`'s course: find the daemons, run the checks in request-path order, print.

It finds the daemons as `tessera status` does for `tessera up` (the state directory), or from a
system deployment's configuration files (`/etc/tessera`, as `tessera install-units` writes them),
then asks each what any client may ask. Exit status 0 when nothing FAILs, 4 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tessera.cli import _doctor_checks as checks
from tessera.cli._doctor_checks import FAIL, OK, SKIP, Check
from tessera.cli._errors import CliError, ExitCode

SYSTEM_CONFIG_DIR = Path("/etc/tessera")
SECRETS = ("kek", "keys.sqlite3", "orchestrator.json")


def _present(path: Path) -> bool:
    """Whether something is at `path`; True when a directory above is closed to us (then the
    checks that follow say so, rather than a PermissionError ending the doctor)."""
    try:
        path.lstat()
    except PermissionError:
        return True
    except OSError:
        return False
    return True


@dataclass
class Targets:
    """Where the daemons are, as far as the doctor could learn."""

    source: str
    service_socket: Path
    identity_socket: Path | None = None
    control_socket: Path | None = None
    state_dirs: list[tuple[str, Path]] = field(default_factory=list)
    providers: tuple[Any, ...] = ()  # the service's configured providers, when known
    found: list[Check] = field(default_factory=list)  # config files read, or refused


def _from_state(state: Path) -> Targets:
    """The layout of `tessera up` (or of daemons run with --state-dir alone)."""
    from tessera._paths import default_identity_socket, default_socket_path
    from tessera.orchestrator.config import default_control_socket
    from tessera.up.instance import is_held, read_status

    targets = Targets(
        f"state directory {state}",
        default_socket_path(state),
        default_identity_socket(state),
        default_control_socket(state),
        [("state directory", state)],
    )
    status = read_status(state) if is_held(state) else None
    if status is not None:  # tessera up may have put sockets elsewhere (--containers)
        targets.source = f"tessera up (pid {status.pid}) on {state}"
        endpoints = {c.name: Path(c.endpoint.removeprefix("unix:")) for c in status.components}
        targets.service_socket = endpoints.get("security service", targets.service_socket)
        targets.identity_socket = endpoints.get("identity provider", targets.identity_socket)
        targets.control_socket = endpoints.get("orchestrator", targets.control_socket)
    return targets


def _from_configs(directory: Path) -> Targets:
    """A system deployment: each daemon's config file in `directory`, those that exist."""
    from tessera._paths import default_socket_path
    from tessera.config import ConfigError
    from tessera.identity.config import load_identity_config
    from tessera.orchestrator.config import load_orchestrator_config
    from tessera.service.config import load_config

    targets = Targets(f"config files in {directory}", default_socket_path())
    files = {name: directory / f"{name}.toml" for name in ("service", "identity", "orchestrator")}
    for name, path in files.items():
        if not _present(path):
            targets.found.append(Check(f"{name} config", SKIP, f"no {path}"))
            continue
        try:
            if name == "service":
                service = load_config(path)
                targets.service_socket = service.socket_path
                targets.providers = service.providers
                targets.state_dirs.append(("service state", service.state_dir))
                if service.key_store_path.parent != service.state_dir:
                    targets.state_dirs.append(("key store", service.key_store_path.parent))
            elif name == "identity":
                identity = load_identity_config(path)
                targets.identity_socket = identity.socket_path
                targets.state_dirs.append(("identity state", identity.state_dir))
            else:
                orchestrator = load_orchestrator_config(path)
                targets.control_socket = orchestrator.control_socket
                targets.state_dirs.append(("orchestrator state", orchestrator.state_dir))
        except ConfigError as error:
            targets.found.append(Check(f"{name} config", FAIL, str(error)))
        except OSError as error:
            targets.found.append(Check(f"{name} config", FAIL, f"{path}: {error.strerror}"))
        else:
            targets.found.append(Check(f"{name} config", OK, f"{path} is valid"))
    return targets


def find_targets(args: argparse.Namespace) -> Targets:
    """Where to look, by the order the command's description gives."""
    from tessera._paths import default_state_dir
    from tessera.cli._exported import exported_service_socket, exported_state_dir
    from tessera.up.instance import is_held

    exported_state = exported_state_dir()
    if args.config_dir is not None:
        targets = _from_configs(args.config_dir)
    elif args.state_dir is not None:
        targets = _from_state(args.state_dir.expanduser().resolve())
    elif exported_state is not None:
        # The socket a client here would use is in a state directory (STATE/run/parsec.sock,
        # as `tessera up` lays it out): examine that one.
        targets = _from_state(exported_state)
        targets.service_socket = exported_service_socket() or targets.service_socket
    else:
        state = default_state_dir().expanduser()
        system = _present(SYSTEM_CONFIG_DIR / "service.toml") and not is_held(state)
        targets = _from_configs(SYSTEM_CONFIG_DIR) if system else _from_state(state)
    endpoint: str | None = getattr(args, "endpoint", None)
    if endpoint:
        from tessera.client._endpoint import parse_endpoint
        from tessera.client._errors import UsageError

        try:
            path = parse_endpoint(endpoint) if ":" in endpoint.split("/")[0] else Path(endpoint)
        except UsageError as error:
            raise CliError(str(error), ExitCode.USAGE) from None
        targets.service_socket = path
    return targets


def examine(targets: Targets) -> list[Check]:
    """Every check, in the order a reader follows the request path."""
    from tessera.cli._doctor_backends import backend
    from tessera.wire.opcodes import AuthType

    found = list(targets.found)
    found.append(checks.socket_permissions("service socket", targets.service_socket))
    reached = checks.reach("service", targets.service_socket)
    found.append(reached)
    offered: set[int] = set()
    if reached.level == OK:
        authenticators, offered = checks.authenticators(targets.service_socket)
        found.append(authenticators)
        configured = {p.provider_id: p.provider_type for p in targets.providers}
        found += checks.providers(targets.service_socket, configured)
    else:
        found.append(Check("authenticators, providers", SKIP, "the service does not answer"))
    found += [c for c in map(backend, targets.providers) if c is not None]
    found += _identity(targets, reached.level == OK, AuthType.JWT in offered)
    if targets.control_socket is not None:
        found.append(checks.orchestrator(targets.control_socket))
    sockets = [targets.service_socket, targets.identity_socket, targets.control_socket]
    found.append(checks.clock([s for s in sockets if s is not None]))
    for name, path in targets.state_dirs:
        found.append(checks.state_directory(name, path, SECRETS))
    return found


def _identity(targets: Targets, service_answers: bool, tokens_accepted: bool) -> list[Check]:
    """The identity provider and the trust between it, the service and the orchestrator."""
    path = targets.identity_socket
    if path is None or not (_present(path) or tokens_accepted):
        return [Check("identity provider", SKIP, "not deployed here")]
    found = [checks.socket_permissions("identity socket", path)]
    reached = checks.reach("identity provider", path)
    found.append(reached)
    if service_answers and tokens_accepted:
        trust = checks.trust("service trust", targets.service_socket, "identity provider",
                             needed=True)  # fmt: skip
        found.append(trust)
    elif service_answers:
        found.append(Check("service trust", SKIP, "the service accepts no identity tokens"))
    if reached.level == OK:
        control = targets.control_socket
        orchestrated = control is not None and _present(control)
        found.append(checks.trust("identity trust", path, "orchestrator", needed=orchestrated))
    return found


def run(args: argparse.Namespace) -> int:
    """Run the checks; print them; 4 when one failed."""
    targets = find_targets(args)
    found = examine(targets)
    failed = any(c.level == FAIL for c in found)
    if getattr(args, "json", False):
        document = {
            "source": targets.source,
            "ok": not failed,
            "checks": [{"check": c.name, **{k: v for k, v in asdict(c).items() if k != "name"}}
                       for c in found],
        }  # fmt: skip
        print(json.dumps(document))
    else:
        print(f"checking the deployment found from {targets.source}")
        width = max(len(c.name) for c in found)
        for check in found:
            print(f"{check.level:<4}  {check.name:<{width}}  {check.reason}")
    sys.stdout.flush()
    return int(ExitCode.SERVICE) if failed else 0
