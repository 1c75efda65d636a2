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
timeout = 1000                # ms, and the other listener limits, as the service's [listener]

[[identity.rule]]             # first match wins; default path "/{name}"
name = "web-*"
user = "www-data"
path = "/web/{name}"
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tessera._paths import default_identity_socket, default_socket_path, default_state_dir
from tessera.config import ConfigError
from tessera.daemon.config_schema import (
    ConnectionSettings,
    Table,
    given_overrides,
    read_connections,
    read_limits,
    read_socket_group,
    read_toml,
)
from tessera.daemon.log_output import LOG_FORMATS, LOG_LEVELS
from tessera.daemon.metrics_config import MetricsConfig, parse_metrics
from tessera.trust.spiffe import spiffe_id
from tessera.wire.framing import Limits

IDENTITY_ENDPOINT_ENV = "TESSERA_IDENTITY_ENDPOINT"


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
    log_format: str = "text"  # or "json" (daemon/log_output.py)
    socket_group: str | None = None
    limits: Limits = field(default_factory=Limits)
    connections: ConnectionSettings = field(default_factory=ConnectionSettings)
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
        sockets = {"socket_path": default_identity_socket, "service_socket": default_socket_path}
        return replace(self, **given_overrides(changes, sockets)).validated()


def load_identity_config(path: Path | None) -> IdentityConfig:
    """Read and validate a TOML file; None gives the embedded defaults. A key or section the
    identity provider does not read is refused, with its line."""
    document, source = read_toml(path) if path is not None else ({}, None)
    root = Table(document, (), source)
    config = _identity(root.table("identity"))
    root.finish()
    return config.validated()


def _identity(section: Table) -> IdentityConfig:
    state_dir = section.path("state_dir", str(default_state_dir()))
    rules = tuple(_rule(entry) for entry in section.tables("rule")) or (MappingRule(),)
    # The listener's limits and timeouts, named and counted as in the service's config.
    connections = read_connections(section)
    return IdentityConfig(
        state_dir=state_dir,
        socket_path=section.path("socket_path", str(default_identity_socket(state_dir))),
        service_socket=section.path("service_socket", str(default_socket_path(state_dir))),
        trust_domain=section.string("trust_domain", "tessera.local"),
        token_lifetime=section.number("token_lifetime", 300, minimum=1),
        rotation_period=section.number("rotation_period", 600, minimum=1),
        heartbeat=section.number("heartbeat", 2, minimum=0.05),
        audience=section.string("audience", "tessera"),
        orchestrator_uid=section.integer("orchestrator_uid", os.geteuid(), minimum=0),
        orchestrator_exe=section.optional_string("orchestrator_exe"),
        payload_max_age=section.number("payload_max_age", 120, minimum=1),
        rules=rules,
        allow_root=section.boolean("allow_root", False),
        log_level=section.choice("log_level", "info", LOG_LEVELS),
        log_format=section.choice("log_format", "text", LOG_FORMATS),
        socket_group=read_socket_group(section),  # whose members may fetch tokens
        limits=read_limits(section),
        connections=connections,
        workload_api_socket=section.optional_path("workload_api_socket"),
        metrics=parse_metrics(section),
    )


def _rule(entry: Table) -> MappingRule:
    path = entry.string("path", "/{name}")
    if not path.startswith("/"):
        raise entry.error("identity.rule.path must be a template starting with '/'", "path")
    try:
        path.format(name="x", user="x", host="x")
    # "{name.x}" and "{name[x]}" reach attributes and indexes: AttributeError, TypeError.
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
        raise entry.error(f"identity.rule.path {path!r}: {error}", "path") from None
    # Glob patterns (an empty one matches only an empty value, as before).
    patterns = [entry.optional_string(key, empty=True) for key in ("name", "user", "host")]
    return MappingRule(path, *patterns)
