"""Orchestrator configuration and the application manifest (TOML).

[orchestrator]
state_dir = "~/.local/state/tessera"
identity_socket = "<state_dir>/run/identity.sock"
service_socket = "<state_dir>/run/parsec.sock"
control_socket = "<state_dir>/run/orchestrator.sock"
rotation_period = 600        # seconds between intermediates towards the identity provider
heartbeat = 2                # seconds between checks that the identity provider trusts us
stop_timeout = 5             # seconds an application has to exit before it is killed
allow_root = false
log_level = "info"           # debug, info, warning, error
log_format = "text"          # text, or json: one object per line

[[app]]
name = "signer"
command = ["python3", "-m", "myapp"]
working_dir = "/srv/signer"   # default: the orchestrator's
env = { LOG_LEVEL = "info" }
user = "signer"               # run as this user (the orchestrator must be root to switch)
group = "signer"              # its primary group (default: the user's)
groups = ["tessera-clients"]  # its supplementary groups (default: the user's, as initgroups)
restart = "on-failure"        # never | on-failure | always
replicas = 1
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tessera._paths import default_identity_socket, default_socket_path, default_state_dir
from tessera.config import ConfigError, config_path
from tessera.containers.config import ContainersConfig, read_containers
from tessera.daemon.config_schema import Table, given_overrides, read_toml
from tessera.daemon.log_output import LOG_FORMATS, LOG_LEVELS
from tessera.daemon.metrics_config import MetricsConfig, parse_metrics

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
    group: str | None = None
    groups: tuple[str, ...] | None = None  # None: the user's own (initgroups)

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
        launch: list[Any] = [
            list(self.command),
            str(self.working_dir or ""),
            list(self.env),
            self.user,
        ]
        if self.group is not None or self.groups is not None:  # unchanged digests without them
            launch.append([self.group, None if self.groups is None else list(self.groups)])
        return hashlib.sha256(json.dumps(launch).encode()).hexdigest()

    def credentials(self) -> Credentials | None:
        """Who the application runs as; None to run as the orchestrator itself.

        The user's primary group and its groups from the group database (initgroups), unless
        the manifest names `group` / `groups`. KeyError names what no longer exists."""
        if not self.user:
            return None
        entry = pwd.getpwnam(self.user)
        gid = grp.getgrnam(self.group).gr_gid if self.group else entry.pw_gid
        if self.groups is None:
            extra = os.getgrouplist(entry.pw_name, gid)
        else:
            extra = [gid, *(grp.getgrnam(name).gr_gid for name in self.groups)]
        return Credentials(entry.pw_uid, gid, tuple(sorted(set(extra))))


@dataclass(frozen=True)
class Credentials:
    """The uid, primary gid and supplementary gids an application is started with."""

    uid: int
    gid: int
    groups: tuple[int, ...]


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
    log_format: str = "text"  # or "json" (daemon/log_output.py)
    stop_timeout: float = 5.0
    state_file_name: str = "orchestrator.json"
    extra_env: tuple[tuple[str, str], ...] = field(default=())
    containers: ContainersConfig | None = None  # [containers]: follow an engine (containers.md)
    metrics: MetricsConfig | None = None  # the opt-in metrics endpoint (daemon/metrics.py)

    @property
    def state_file(self) -> Path:
        """Where the (non-secret) record of running applications is kept."""
        return self.state_dir / self.state_file_name

    @property
    def containers_state_file(self) -> Path:
        """The record of the containers registered (containers/watcher.py)."""
        return self.state_dir / "containers.json"

    def with_overrides(self, **changes: Any) -> OrchestratorConfig:
        """Command-line overrides (None values are ignored)."""
        sockets = {
            "identity_socket": default_identity_socket,
            "service_socket": default_socket_path,
            "control_socket": default_control_socket,
        }
        return replace(self, **given_overrides(changes, sockets))

    def with_apps(self, apps: tuple[AppSpec, ...]) -> OrchestratorConfig:
        """The configuration with more applications (names must stay unique)."""
        combined = self.apps + apps
        _check_unique(combined)
        return replace(self, apps=combined)


def load_orchestrator_config(path: Path | None) -> OrchestratorConfig:
    """Read and validate a TOML file (settings and apps); None gives the embedded defaults. A key
    or section the orchestrator does not read is refused, with its line."""
    document, source = read_toml(path) if path is not None else ({}, None)
    root = Table(document, (), source)
    section = root.table("orchestrator")
    state_dir = section.path("state_dir", str(default_state_dir()))
    config = OrchestratorConfig(
        state_dir=state_dir,
        identity_socket=section.path("identity_socket", str(default_identity_socket(state_dir))),
        service_socket=section.path("service_socket", str(default_socket_path(state_dir))),
        control_socket=section.path("control_socket", str(default_control_socket(state_dir))),
        rotation_period=section.number("rotation_period", 600, minimum=1),
        heartbeat=section.number("heartbeat", 2, minimum=0.05),
        allow_root=section.boolean("allow_root", False),
        log_level=section.choice("log_level", "info", LOG_LEVELS),
        log_format=section.choice("log_format", "text", LOG_FORMATS),
        stop_timeout=section.number("stop_timeout", 5, minimum=0),
        containers=read_containers(root.optional_table("containers")),
        metrics=parse_metrics(section),
    )
    config = config.with_apps(_apps(root))
    root.finish()
    return config


def load_manifest(path: Path) -> tuple[AppSpec, ...]:
    """The applications of a manifest file (only `[[app]]` tables)."""
    document, source = read_toml(path)
    root = Table(document, (), source)
    apps = _apps(root)
    root.finish()
    return apps


def parse_apps(document: dict[str, Any]) -> tuple[AppSpec, ...]:
    """Validate `[[app]]` tables (other sections are the caller's)."""
    return _apps(Table(document))


def _apps(root: Table) -> tuple[AppSpec, ...]:
    apps = tuple(_app(entry) for entry in root.tables("app"))
    _check_unique(apps)
    return apps


def parse_app(entry: dict[str, Any]) -> AppSpec:
    """One validated application (a manifest entry, or one a client sent)."""
    table = Table(entry, ("app",))
    app = _app(table)
    table.finish()
    return app


def _app(entry: Table) -> AppSpec:
    name = entry.value("name")
    if not isinstance(name, str) or not _NAME.match(name):
        message = f"app name {name!r} must be 1-63 letters, digits, '.', '_' or '-'"
        raise entry.error(message, "name")
    command = entry.value("command")
    if command is None:
        raise entry.missing("command", f"app {name}: no command")
    if isinstance(command, str):
        command = [command]
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise entry.error(f"app {name}: command must be a non-empty list of strings", "command")
    env = entry.value("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise entry.error(f"app {name}: env must be a table of strings", "env")
    restart = entry.value("restart", "on-failure")
    if restart not in RESTART_POLICIES:
        policies = ", ".join(RESTART_POLICIES)
        raise entry.error(f"app {name}: restart must be one of {policies}", "restart")
    replicas = entry.value("replicas", 1)
    if type(replicas) is not int or not 0 <= replicas <= 64:
        raise entry.error(f"app {name}: replicas must be an integer from 0 to 64", "replicas")
    user = entry.value("user")
    if user is not None:
        if not isinstance(user, str):
            raise entry.error(f"app {name}: user must be a user name", "user")
        try:
            pwd.getpwnam(user)
        except (KeyError, ValueError):  # ValueError: a NUL in the name
            raise entry.error(f"app {name}: no user named {user!r}", "user") from None
    try:
        group, groups = _groups(name, entry.value("group"), entry.value("groups"), user)
    except ConfigError as error:
        raise entry.error(str(error), "group" if "group" in entry else "groups") from None
    working_dir = entry.value("working_dir")
    if working_dir is not None and not isinstance(working_dir, str):
        raise entry.error(f"app {name}: working_dir must be a path", "working_dir")
    return AppSpec(
        name=name,
        command=tuple(command),
        working_dir=config_path(working_dir, f"app {name}: working_dir") if working_dir else None,
        env=tuple(sorted(env.items())),
        user=user,
        restart=restart,
        replicas=replicas,
        group=group,
        groups=groups,
    )


def _groups(
    name: str, group: Any, groups: Any, user: str | None
) -> tuple[str | None, tuple[str, ...] | None]:
    """The `group` and `groups` of an app: group names that exist, and only with a `user`."""
    if (group is not None or groups is not None) and user is None:
        raise ConfigError(f"app {name}: group and groups need user")
    if group is not None and not isinstance(group, str):
        raise ConfigError(f"app {name}: group must be a group name")
    if groups is not None and (
        not isinstance(groups, list) or not all(isinstance(g, str) for g in groups)
    ):
        raise ConfigError(f"app {name}: groups must be a list of group names")
    for group_name in ([group] if group is not None else []) + (groups or []):
        try:
            grp.getgrnam(group_name)
        except (KeyError, ValueError):
            raise ConfigError(f"app {name}: no group named {group_name!r}") from None
    return group, None if groups is None else tuple(groups)


def _check_unique(apps: tuple[AppSpec, ...]) -> None:
    names = [app.name for app in apps]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"two apps are named {', '.join(sorted(duplicates))}")
