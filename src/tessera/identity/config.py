"""Identity provider configuration: TOML, validated once at start-up, with embedded defaults.

[identity]
trust_domain = "tessera.local"
socket_path = "<state_dir>/run/identity.sock"
service_socket = "<state_dir>/run/parsec.sock"   # the security service to trust us
token_lifetime = 300          # seconds
rotation_period = 600         # seconds between intermediates towards the service
heartbeat = 2                 # seconds between checks that the service still trusts us
audience = "tessera"          # default token audience
orchestrator_uid = 1000       # who may share the orchestrator's root (default: our uid)
workload_api_socket = "<state_dir>/run/workload.sock"  # SPIFFE Workload API (unset: off)

[[identity.rule]]             # first match wins; default path "/{name}"
name = "web-*"
user = "www-data"
path = "/web/{name}"
"""

from __future__ import annotations

import fnmatch
import grp
import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tessera._paths import default_identity_socket, default_socket_path, default_state_dir
from tessera.daemon.errors import ConfigError, config_path
from tessera.daemon.metrics_config import MetricsConfig, parse_metrics
from tessera.trust.spiffe import spiffe_id
from tessera.wire.framing import Limits

IDENTITY_ENDPOINT_ENV = "TESSERA_IDENTITY_ENDPOINT"
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class MappingRule:
    """Maps matching client definitions to a SPIFFE ID path template."""

    path: str = "/{name}"
    name: str | None = None
    user: str | None = None
    host: str | None = None

    def matches(self, definition: dict[str, Any]) -> bool:
        """True when every pattern the rule sets matches the definition (globs)."""
        for key in ("name", "user", "host"):
            pattern = getattr(self, key)
            if pattern is not None and not fnmatch.fnmatchcase(
                str(definition.get(key, "")), pattern
            ):
                return False
        return True

    def render(self, trust_domain: str, definition: dict[str, Any]) -> str:
        """The SPIFFE ID for a definition this rule matches."""
        values = {k: str(definition.get(k, "")) for k in ("name", "user", "host")}
        return spiffe_id(trust_domain, self.path.format(**values))


@dataclass(frozen=True)
class IdentityConfig:
    """The whole, validated identity provider configuration."""

    state_dir: Path
    socket_path: Path
    service_socket: Path
    trust_domain: str = "tessera.local"
    token_lifetime: float = 300.0
    rotation_period: float = 600.0
    heartbeat: float = 2.0
    audience: str = "tessera"
    orchestrator_uid: int = field(default_factory=os.geteuid)
    orchestrator_exe: str | None = None
    payload_max_age: float = 120.0
    rules: tuple[MappingRule, ...] = (MappingRule(),)
    allow_root: bool = False
    log_level: str = "info"
    socket_group: str | None = None
    limits: Limits = field(default_factory=Limits)
    request_timeout: float = 1.0
    idle_timeout: float = 60.0
    drain_timeout: float = 5.0
    workload_api_socket: Path | None = None  # the SPIFFE Workload API's socket; None: not served
    metrics: MetricsConfig | None = None  # the opt-in metrics endpoint (daemon/metrics.py)

    def spiffe_id_for(self, definition: dict[str, Any]) -> str:
        """The application identity of a client definition (first matching rule)."""
        for rule in self.rules:
            if rule.matches(definition):
                return rule.render(self.trust_domain, definition)
        return MappingRule().render(self.trust_domain, definition)

    def validated(self) -> IdentityConfig:
        """Itself, once a probe identity renders (fails fast on a bad trust domain or rule)."""
        try:
            self.spiffe_id_for({"name": "probe"})
        except ValueError as error:
            raise ConfigError(f"identity.trust_domain or rule: {error}") from None
        return self

    def with_overrides(self, **changes: Any) -> IdentityConfig:
        """Command-line overrides (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "state_dir" in given:
            state = given["state_dir"]
            given.setdefault("socket_path", default_identity_socket(state))
            given.setdefault("service_socket", default_socket_path(state))
        return replace(self, **given).validated()


def load_identity_config(path: Path | None) -> IdentityConfig:
    """Read and validate a TOML file; None gives the embedded defaults."""
    document: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as file:
                document = tomllib.load(file)
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:  # TOML is UTF-8
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    section = document.get("identity", {})
    if not isinstance(section, dict):
        raise ConfigError("[identity] must be a table")
    state_dir = config_path(_text(section, "state_dir", str(default_state_dir())), "state_dir")
    rules = tuple(_rule(entry) for entry in _list(section, "rule")) or (MappingRule(),)
    config = IdentityConfig(
        state_dir=state_dir,
        socket_path=Path(_text(section, "socket_path", str(default_identity_socket(state_dir)))),
        service_socket=Path(_text(section, "service_socket", str(default_socket_path(state_dir)))),
        trust_domain=_text(section, "trust_domain", "tessera.local"),
        token_lifetime=_seconds(section, "token_lifetime", 300, minimum=1),
        rotation_period=_seconds(section, "rotation_period", 600, minimum=1),
        heartbeat=_seconds(section, "heartbeat", 2, minimum=0.05),
        audience=_text(section, "audience", "tessera"),
        orchestrator_uid=int(_seconds(section, "orchestrator_uid", os.geteuid(), minimum=0)),
        orchestrator_exe=_optional_text(section, "orchestrator_exe"),
        payload_max_age=_seconds(section, "payload_max_age", 120, minimum=1),
        rules=rules,
        allow_root=bool(section.get("allow_root", False)),
        log_level=_log_level(section),
        socket_group=_group(section.get("socket_group")),
        workload_api_socket=_workload_api_socket(section),
        metrics=parse_metrics(section, "identity"),
    )
    return config.validated()


def _group(value: Any) -> str | None:
    """The group whose members may fetch tokens (applications running as other users)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError("identity.socket_group must be a group name")
    try:
        grp.getgrnam(value)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise ConfigError(f"identity.socket_group: no group named {value!r}") from None
    return value


def _workload_api_socket(table: dict[str, Any]) -> Path | None:
    value = _optional_text(table, "workload_api_socket")
    return None if value is None else config_path(value, "identity.workload_api_socket")


def _text(table: dict[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"identity.{key} must be a non-empty string")
    return value


def _optional_text(table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"identity.{key} must be a non-empty string")
    return value


def _log_level(table: dict[str, Any]) -> str:
    level = _text(table, "log_level", "info")
    if level not in LOG_LEVELS:
        raise ConfigError(f"identity.log_level must be one of {', '.join(LOG_LEVELS)}")
    return level


def _seconds(table: dict[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = table.get(key, default)
    # Not NaN or infinite either (TOML has both): they fail later, as timers or a uid.
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
        raise ConfigError(f"identity.{key} must be a number of at least {minimum}")
    if not math.isfinite(value) or value >= 1 << 63:
        raise ConfigError(f"identity.{key} is out of range")
    return float(value)


def _list(table: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"identity.{key} must be an array of tables")
    return value


def _rule(entry: dict[str, Any]) -> MappingRule:
    unknown = set(entry) - {"path", "name", "user", "host"}
    if unknown:
        raise ConfigError(f"identity.rule has unknown keys: {', '.join(sorted(unknown))}")
    path = entry.get("path", "/{name}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError("identity.rule.path must be a template starting with '/'")
    try:
        path.format(name="x", user="x", host="x")
    # "{name.x}" and "{name[x]}" reach attributes and indexes: AttributeError, TypeError.
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
        raise ConfigError(f"identity.rule.path {path!r}: {error}") from None
    patterns = [entry.get(key) for key in ("name", "user", "host")]
    if not all(p is None or isinstance(p, str) for p in patterns):
        raise ConfigError("identity.rule: name, user and host must be glob patterns (strings)")
    return MappingRule(path, *patterns)
