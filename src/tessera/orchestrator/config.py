"""Orchestrator configuration and the application manifest (TOML).

[orchestrator]
state_dir = "~/.local/state/tessera"
identity_socket = "<state_dir>/run/identity.sock"
service_socket = "<state_dir>/run/parsec.sock"
control_socket = "<state_dir>/run/orchestrator.sock"
rotation_period = 600        # seconds between intermediates towards the identity provider
heartbeat = 2                # seconds between checks that the identity provider trusts us

[[app]]
name = "signer"
command = ["python3", "-m", "myapp"]
working_dir = "/srv/signer"   # default: the orchestrator's
env = { LOG_LEVEL = "info" }
user = "signer"               # run as this user (the orchestrator must be root to switch)
restart = "on-failure"        # never | on-failure | always
replicas = 1
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tessera._paths import default_identity_socket, default_socket_path, default_state_dir
from tessera.daemon.errors import ConfigError

RESTART_POLICIES = ("never", "on-failure", "always")
CONTROL_SOCKET_NAME = "orchestrator.sock"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def default_control_socket(state_dir: Path | None = None) -> Path:
    """The orchestrator's control socket under a state directory."""
    return (state_dir or default_state_dir()) / "run" / CONTROL_SOCKET_NAME


@dataclass(frozen=True)
class AppSpec:
    """One application of the manifest."""

    name: str
    command: tuple[str, ...]
    working_dir: Path | None = None
    env: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    restart: str = "on-failure"
    replicas: int = 1

    @property
    def uid(self) -> int:
        """The uid the application runs as."""
        return pwd.getpwnam(self.user).pw_uid if self.user else os.getuid()

    @property
    def user_name(self) -> str:
        """The user name the application runs as."""
        return self.user or pwd.getpwuid(os.getuid()).pw_name

    @property
    def fingerprint(self) -> str:
        """A digest of how the application starts (command, directory, environment, user): a
        process recorded with another fingerprint runs an old version, to be replaced rather
        than re-attached. A digest, so no environment value reaches the state file."""
        launch = [list(self.command), str(self.working_dir or ""), list(self.env), self.user]
        return hashlib.sha256(json.dumps(launch).encode()).hexdigest()


@dataclass(frozen=True)
class OrchestratorConfig:
    """The whole, validated orchestrator configuration."""

    state_dir: Path
    identity_socket: Path
    service_socket: Path
    control_socket: Path
    rotation_period: float = 600.0
    heartbeat: float = 2.0
    apps: tuple[AppSpec, ...] = ()
    allow_root: bool = False
    log_level: str = "info"
    stop_timeout: float = 5.0
    state_file_name: str = "orchestrator.json"
    extra_env: tuple[tuple[str, str], ...] = field(default=())

    @property
    def state_file(self) -> Path:
        """Where the (non-secret) record of running applications is kept."""
        return self.state_dir / self.state_file_name

    def with_overrides(self, **changes: Any) -> OrchestratorConfig:
        """Command-line overrides (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "state_dir" in given:
            state = given["state_dir"]
            given.setdefault("identity_socket", default_identity_socket(state))
            given.setdefault("service_socket", default_socket_path(state))
            given.setdefault("control_socket", default_control_socket(state))
        return replace(self, **given)

    def with_apps(self, apps: tuple[AppSpec, ...]) -> OrchestratorConfig:
        """The configuration with more applications (names must stay unique)."""
        combined = self.apps + apps
        _check_unique(combined)
        return replace(self, apps=combined)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def load_orchestrator_config(path: Path | None) -> OrchestratorConfig:
    """Read and validate a TOML file (settings and apps); None gives the embedded defaults."""
    document = _read(path) if path is not None else {}
    section = document.get("orchestrator", {})
    if not isinstance(section, dict):
        raise ConfigError("[orchestrator] must be a table")
    state_dir = Path(str(section.get("state_dir", default_state_dir()))).expanduser()

    def path_of(key: str, default: Path) -> Path:
        value = section.get(key, str(default))
        if not isinstance(value, str):
            raise ConfigError(f"orchestrator.{key} must be a path")
        return Path(value).expanduser()

    config = OrchestratorConfig(
        state_dir=state_dir,
        identity_socket=path_of("identity_socket", default_identity_socket(state_dir)),
        service_socket=path_of("service_socket", default_socket_path(state_dir)),
        control_socket=path_of("control_socket", default_control_socket(state_dir)),
        rotation_period=_number(section, "rotation_period", 600, minimum=1),
        heartbeat=_number(section, "heartbeat", 2, minimum=0.05),
        allow_root=bool(section.get("allow_root", False)),
        stop_timeout=_number(section, "stop_timeout", 5, minimum=0),
    )
    return config.with_apps(parse_apps(document))


def load_manifest(path: Path) -> tuple[AppSpec, ...]:
    """The applications of a manifest file."""
    return parse_apps(_read(path))


def parse_apps(document: dict[str, Any]) -> tuple[AppSpec, ...]:
    """Validate `[[app]]` tables."""
    entries = document.get("app", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("[[app]] must be an array of tables")
    apps = tuple(parse_app(entry) for entry in entries)
    _check_unique(apps)
    return apps


def parse_app(entry: dict[str, Any]) -> AppSpec:
    """One validated application."""
    unknown = set(entry) - {"name", "command", "working_dir", "env", "user", "restart", "replicas"}
    if unknown:
        raise ConfigError(f"app has unknown keys: {', '.join(sorted(unknown))}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"app name {name!r} must be 1-63 letters, digits, '.', '_' or '-'")
    command = entry.get("command")
    if isinstance(command, str):
        command = [command]
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise ConfigError(f"app {name}: command must be a non-empty list of strings")
    env = entry.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ConfigError(f"app {name}: env must be a table of strings")
    restart = entry.get("restart", "on-failure")
    if restart not in RESTART_POLICIES:
        raise ConfigError(f"app {name}: restart must be one of {', '.join(RESTART_POLICIES)}")
    replicas = entry.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= 64:
        raise ConfigError(f"app {name}: replicas must be an integer from 0 to 64")
    user = entry.get("user")
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise ConfigError(f"app {name}: no user named {user!r}") from None
    working_dir = entry.get("working_dir")
    return AppSpec(
        name=name,
        command=tuple(command),
        working_dir=Path(working_dir).expanduser() if working_dir else None,
        env=tuple(sorted(env.items())),
        user=user,
        restart=restart,
        replicas=replicas,
    )


def _check_unique(apps: tuple[AppSpec, ...]) -> None:
    names = [app.name for app in apps]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"two apps are named {', '.join(sorted(duplicates))}")


def _number(table: dict[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"orchestrator.{key} must be a number of at least {minimum}")
    return float(value)
