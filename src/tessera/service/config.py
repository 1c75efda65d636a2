"""Service configuration: TOML sections like Parsec's `config.toml`, with embedded defaults.

Everything is validated here, once, at start-up; nonsense fails fast with a one-line message
(`ConfigError`) instead of surfacing on the request path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tessera._paths import default_socket_path, default_state_dir
from tessera.config import ConfigError, config_path
from tessera.daemon.config_schema import (
    ConnectionSettings,
    Source,
    Table,
    read_connections,
    read_limits,
    read_socket_group,
    read_toml,
)
from tessera.daemon.log_output import LOG_FORMATS, LOG_LEVELS
from tessera.daemon.metrics_config import MetricsConfig, parse_metrics
from tessera.service.providers.pkcs11.config import Pkcs11Settings, parse_pkcs11
from tessera.service.providers.tpm.config import TpmSettings, parse_tpm
from tessera.trust.claims import DEFAULT_LEEWAY
from tessera.wire.framing import Limits
from tessera.wire.opcodes import AuthType

__all__ = ["ConfigError", "ServiceConfig", "load_config", "parse_config", "parse_tessera_config"]

MAX_WORKERS = 256
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes including the terminating NUL

AUTHENTICATOR_NAMES: dict[str, AuthType] = {
    "direct": AuthType.DIRECT,
    "jwt": AuthType.JWT,
    "unix-peer": AuthType.UNIX_PEER_CREDENTIALS,
    "jwt-svid": AuthType.JWT_SVID,
}
PROVIDER_TYPES = ("software", "pkcs11", "tpm")


@dataclass(frozen=True)
class ProviderConfig:
    """One `[[provider]]` table."""

    provider_type: str
    provider_id: int
    name: str
    settings: Pkcs11Settings | TpmSettings | None = None  # type-specific settings


@dataclass(frozen=True)
class Admin:
    """An administrator: an application name, proven by `auth` (None: see `admin_identities`)."""

    name: str
    auth: AuthType | None = None


@dataclass(frozen=True)
class TrustConfig:
    """`[trust]`: who may share the root of trust (the identity provider) and token audience.

    `uid` None means the service's own uid: the identity provider runs as the same user.
    """

    uid: int | None = None
    exe: str | None = None
    audience: str = "tessera"
    leeway: float = DEFAULT_LEEWAY.total_seconds()

    @property
    def allowed_uid(self) -> int:
        """The uid whose processes may share the root."""
        return os.geteuid() if self.uid is None else self.uid


@dataclass(frozen=True)
class JwtSvidConfig:
    """JWT-SVID authentication (auth type 4) against a SPIFFE JWT bundle file."""

    bundle: Path
    audience: str = "parsec"
    trust_domain: str | None = None  # when set, tokens of other trust domains are refused


@dataclass(frozen=True)
class AuditConfig:
    """The audit log of key use (docs/audit.md)."""

    enabled: bool = True
    directory: Path | None = None  # default: <state_dir>/audit
    max_file_bytes: int = 16 << 20
    checkpoint_records: int = 1000
    checkpoint_seconds: float = 60.0


@dataclass(frozen=True)
class QuotaConfig:
    """`[quotas]`: what one application may use (docs/configuration.md). The defaults are
    ceilings only a runaway client reaches; operators lower them to what their apps need."""

    max_concurrent: int = 64  # slow requests waiting for or holding a worker
    requests_per_second: int = 20000  # sustained; bursts of one second's worth
    max_keys: int = 10000
    max_bytes: int = 64 << 20  # stored attributes + material, summed over its keys


@dataclass(frozen=True)
class ServiceConfig:
    """The whole, validated service configuration."""

    state_dir: Path
    socket_path: Path
    socket_group: str | None = None
    allow_root: bool = False
    log_level: str = "info"
    log_format: str = "text"  # or "json": one object per line (daemon/log_output.py)
    log_error_details: bool = False
    allow_deprecated: bool = False
    parsec_compatible: bool = False  # Parsec's answers where Tessera is stricter (compatibility.md)
    limits: Limits = field(default_factory=Limits)
    buffer_size_limit: int = 1 << 20
    connections: ConnectionSettings = field(default_factory=ConnectionSettings)
    authenticators: tuple[AuthType, ...] = (AuthType.JWT, AuthType.UNIX_PEER_CREDENTIALS)
    admins: frozenset[Admin] = frozenset()
    trust: TrustConfig = field(default_factory=TrustConfig)
    jwt_svid: JwtSvidConfig | None = None
    providers: tuple[ProviderConfig, ...] = (ProviderConfig("software", 1, "software"),)
    database_path: Path | None = None
    audit: AuditConfig = field(default_factory=AuditConfig)
    quotas: QuotaConfig = field(default_factory=QuotaConfig)
    metrics: MetricsConfig | None = None  # the opt-in metrics endpoint (daemon/metrics.py)
    # Processes serving the socket; None: one per core when every provider can be shared by
    # several processes, else one (service/workers.py decides).
    workers: int | None = None
    warnings: tuple[str, ...] = ()  # settings read but ignored: logged once at start

    def admin_identities(self) -> frozenset[tuple[AuthType, str]]:
        """Who is an administrator, as (authenticator, name).

        An entry without an authenticator names the application under the only authenticator
        when there is one (Parsec's case), else under every authenticator but direct: a name
        anyone can claim must not grant administration beside authenticators that prove it.
        """
        active = self.authenticators
        granted: set[tuple[AuthType, str]] = set()
        for admin in self.admins:
            if admin.auth is not None:
                granted.add((admin.auth, admin.name))
            elif len(active) == 1:
                granted.add((active[0], admin.name))
            else:
                granted.update((a, admin.name) for a in active if a is not AuthType.DIRECT)
        return frozenset(granted)

    @property
    def audit_directory(self) -> Path:
        """Where the audit log lives."""
        return self.audit.directory or self.state_dir / "audit"

    @property
    def live_directory(self) -> Path:
        """What the processes of one run of the service share (trust store, counters): emptied
        at every start, since a new service holds no root until the identity provider shares
        one."""
        return self.state_dir / "live"

    @property
    def key_store_path(self) -> Path:
        """The SQLite key store (defaults to `keys.sqlite3` under the state directory)."""
        return self.database_path or self.state_dir / "keys.sqlite3"

    def with_overrides(
        self,
        *,
        socket_path: Path | None = None,
        state_dir: Path | None = None,
        authenticators: list[str] | None = None,
        admins: list[str] | None = None,
        log_level: str | None = None,
        log_format: str | None = None,
        allow_root: bool | None = None,
        workers: int | None = None,
    ) -> ServiceConfig:
        """Apply command-line overrides (which beat the file), re-validating what they touch."""
        updated = self
        if workers is not None:
            if not 0 <= workers <= MAX_WORKERS:
                raise ConfigError(f"--workers must be between 0 and {MAX_WORKERS}")
            updated = replace(updated, workers=workers or None)
        if state_dir is not None:
            moved_socket = self.socket_path == default_socket_path(self.state_dir)
            updated = replace(updated, state_dir=state_dir)
            if moved_socket and socket_path is None:
                updated = replace(updated, socket_path=default_socket_path(state_dir))
        if socket_path is not None:
            updated = replace(updated, socket_path=_socket_path(str(socket_path)))
        if authenticators is not None:
            updated = replace(updated, authenticators=_authenticators(authenticators))
        if admins is not None:
            extra = frozenset(parse_admin(a) for a in admins)
            updated = replace(updated, admins=self.admins | extra)
        if log_level is not None:
            updated = replace(updated, log_level=_choice("log_level", log_level, LOG_LEVELS))
        if log_format is not None:
            updated = replace(updated, log_format=_choice("log_format", log_format, LOG_FORMATS))
        if allow_root is not None:
            updated = replace(updated, allow_root=allow_root)
        return updated


def load_config(path: Path | None) -> ServiceConfig:
    """Read and validate a TOML file; `None` gives the embedded defaults."""
    document, source = read_toml(path) if path is not None else ({}, None)
    return parse_config(document, source)


def parse_config(document: dict[str, Any], source: Source | None = None) -> ServiceConfig:
    """Validate a parsed TOML document (`source`: its file, for line numbers): Tessera's schema, or
    Parsec's own `config.toml` as it is (recognised by keys only Parsec writes; parsec_config)."""
    # Imported here: parsec_config builds on this module.
    from tessera.service.parsec_config import is_parsec_config, parse_parsec_config

    if is_parsec_config(document):
        return parse_parsec_config(document, source)
    return parse_tessera_config(document, source)


def parse_tessera_config(document: dict[str, Any], source: Source | None = None) -> ServiceConfig:
    """Validate a document in Tessera's own schema; a key or section it does not read is refused."""
    root = Table(document, (), source)
    config = read_tessera_config(root)
    root.finish()
    return config


def read_tessera_config(root: Table) -> ServiceConfig:
    """The settings of Tessera's schema, read from `root` (the caller deals with unread keys)."""
    core = root.table("core_settings")
    listener = root.table("listener")
    auth = root.table("authenticator")
    key_manager = root.table("key_manager", array_of_one=True)
    state_dir = core.path("state_dir", str(default_state_dir()))
    connections = read_connections(listener)
    store_path = key_manager.string("store_path", "", empty=True)  # "": the default
    group = read_socket_group(listener)
    socket_path = listener.string("socket_path", str(default_socket_path(state_dir)))
    allow_deprecated = core.boolean("allow_deprecated", False)
    return ServiceConfig(
        state_dir=state_dir,
        socket_path=_socket_path(socket_path),
        socket_group=group,
        allow_root=core.boolean("allow_root", False),
        log_level=core.choice("log_level", "info", LOG_LEVELS),
        log_format=core.choice("log_format", "text", LOG_FORMATS),
        log_error_details=core.boolean("log_error_details", False),
        allow_deprecated=allow_deprecated,
        limits=read_limits(core),
        buffer_size_limit=core.integer("buffer_size_limit", 1 << 20, minimum=1),
        connections=connections,
        authenticators=_authenticators(auth.strings("auth_types", ["jwt", "unix-peer"])),
        admins=frozenset(_admins(auth)),
        trust=_trust(root.table("trust")),
        audit=_audit(root.table("audit")),
        quotas=_quotas(root.table("quotas")),
        jwt_svid=_jwt_svid(auth),
        providers=_providers(root),
        database_path=config_path(store_path, "key_manager.store_path") if store_path else None,
        # Allowing deprecated primitives is how Parsec itself is set up for compatibility (its
        # own suite needs it): Parsec's other answers come with it, unless said otherwise.
        parsec_compatible=core.boolean("parsec_compatible", allow_deprecated),
        metrics=parse_metrics(listener),
        workers=_workers(core),
    )


def _workers(core: Table) -> int | None:
    """`workers`: 0 (the default) lets the service choose."""
    count = core.integer("workers", 0, minimum=0, maximum=MAX_WORKERS)
    return count or None


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _socket_path(value: str) -> Path:
    path = config_path(value, "socket_path")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ConfigError(f"socket path {str(path)!r} is longer than {MAX_SOCKET_PATH} bytes")
    return path


def _authenticators(names: list[Any]) -> tuple[AuthType, ...]:
    chosen: list[AuthType] = []
    for name in names:
        if not isinstance(name, str) or name not in AUTHENTICATOR_NAMES:
            known = ", ".join(AUTHENTICATOR_NAMES)
            raise ConfigError(f"unknown authenticator {name!r} (known: {known})")
        auth_type = AUTHENTICATOR_NAMES[name]
        if auth_type not in chosen:
            chosen.append(auth_type)
    return tuple(chosen)


def _audit(table: Table) -> AuditConfig:
    return AuditConfig(
        enabled=table.boolean("enabled", True),
        directory=table.optional_path("directory"),
        max_file_bytes=table.integer("max_file_bytes", 16 << 20, minimum=4096),
        checkpoint_records=table.integer("checkpoint_records", 1000, minimum=1),
        checkpoint_seconds=float(table.integer("checkpoint_seconds", 60, minimum=1)),
    )


def _quotas(table: Table) -> QuotaConfig:
    default = QuotaConfig()
    return QuotaConfig(
        max_concurrent=table.integer("max_concurrent", default.max_concurrent, minimum=1),
        requests_per_second=table.integer(
            "requests_per_second", default.requests_per_second, minimum=1
        ),
        max_keys=table.integer("max_keys", default.max_keys, minimum=0),
        max_bytes=table.integer("max_bytes", default.max_bytes, minimum=0),
    )


def _trust(table: Table) -> TrustConfig:
    uid = table.optional_integer("identity_uid", minimum=0)
    exe = table.optional_string("identity_exe")
    default_leeway = int(DEFAULT_LEEWAY.total_seconds())
    leeway = table.integer("leeway", default_leeway, minimum=0, maximum=60)
    return TrustConfig(uid, exe, table.string("audience", "tessera"), float(leeway))


def _jwt_svid(table: Table) -> JwtSvidConfig | None:
    # All read before deciding, so none is refused as unknown when the bundle is missing.
    bundle = table.optional_path("jwt_svid_bundle")
    audience = table.string("jwt_svid_audience", "parsec")
    trust_domain = table.optional_string("jwt_svid_trust_domain")
    return None if bundle is None else JwtSvidConfig(bundle, audience, trust_domain)


def _admins(auth: Table) -> list[Admin]:
    entries = auth.value("admins", [])
    if not isinstance(entries, list):
        raise auth.error("authenticator.admins must be a list", "admins")
    admins = []
    for entry in entries:
        # Parsec writes `admins = [{ name = "x" }]`; Tessera adds an optional `auth`, since
        # several authenticators may be active. A bare "NAME" or "AUTH:NAME" string works too.
        try:
            if isinstance(entry, dict) and set(entry) - {"name", "auth"}:
                unknown = min(set(entry) - {"name", "auth"})
                raise ConfigError(f"unknown key {unknown!r} in an admins entry (known: auth, name)")
            if isinstance(entry, dict):
                admins.append(_admin(entry.get("name"), entry.get("auth")))
            else:
                admins.append(parse_admin(entry))
        except ConfigError as error:
            raise auth.error(str(error), "admins") from None
    return admins


def parse_admin(text: Any) -> Admin:
    """An administrator from "NAME" or "AUTH:NAME" (AUTH an authenticator name)."""
    if not isinstance(text, str):
        raise ConfigError("each authenticator.admins entry needs a non-empty name")
    prefix, sep, rest = text.partition(":")
    if sep and prefix in AUTHENTICATOR_NAMES:
        return _admin(rest, prefix)
    return _admin(text, None)


def _admin(name: Any, auth: Any) -> Admin:
    if not isinstance(name, str) or not name:
        raise ConfigError("each authenticator.admins entry needs a non-empty name")
    if auth is None:
        return Admin(name, None)
    if not isinstance(auth, str) or auth not in AUTHENTICATOR_NAMES:
        raise ConfigError(f"admin {name!r}: unknown authenticator {auth!r}")
    return Admin(name, AUTHENTICATOR_NAMES[auth])


def _providers(root: Table) -> tuple[ProviderConfig, ...]:
    present = "provider" in root
    entries = root.tables("provider")
    if not present:
        return (ProviderConfig("software", 1, "software"),)
    if not entries:
        raise root.error("[[provider]] must be a non-empty array of tables", "provider")
    providers: list[ProviderConfig] = []
    for entry in entries:
        written = entry.string("provider_type", "", empty=True)
        kind = written.lower()
        if kind not in PROVIDER_TYPES:
            allowed = ", ".join(PROVIDER_TYPES)
            message = f"provider_type must be one of {allowed}, not {kind!r}"
            raise entry.error(message, "provider_type")
        default_id = {"software": 1, "pkcs11": 2, "tpm": 3}[kind]
        provider_id = entry.integer("provider_id", default_id, minimum=1, maximum=255)
        name = entry.string("name", kind)
        if any(p.provider_id == provider_id for p in providers):
            raise entry.error(f"two providers share the id {provider_id}", "provider_id")
        if any(p.name == name for p in providers):
            raise entry.error(f"two providers share the name {name!r}", "name")
        settings: Pkcs11Settings | TpmSettings | None = None
        if kind != "software":  # its module checks a hardware provider's keys, unknown ones too
            fields = {key: entry.value(key) for key in entry.written()}
            try:
                settings = parse_pkcs11(fields) if kind == "pkcs11" else parse_tpm(fields)
            except ConfigError as error:
                raise entry.error(str(error)) from None
        providers.append(ProviderConfig(kind, provider_id, name, settings))
    return tuple(providers)


# Settings a running service cannot take up: what it listens on, where its state is, what is
# already open (key store, audit log, metrics endpoint, trust policy) and what existing providers
# were built with. A reload keeps their old values and says so.
RESTART_ONLY = (
    "state_dir",
    "socket_path",
    "socket_group",
    "database_path",
    "allow_root",
    "log_format",  # the handler is set up once, at start
    "allow_deprecated",
    "buffer_size_limit",
    "parsec_compatible",
    "audit",
    "metrics",
    "workers",
)


def running_config(old: ServiceConfig, new: ServiceConfig) -> tuple[ServiceConfig, list[str]]:
    """`new` with what cannot change live kept from `old`; also the names of those changed."""
    kept_back = [name for name in RESTART_ONLY if getattr(old, name) != getattr(new, name)]
    config = replace(new, **{name: getattr(old, name) for name in RESTART_ONLY})
    if (old.trust.uid, old.trust.exe) != (new.trust.uid, new.trust.exe):
        kept_back.append("trust.identity_uid/identity_exe")  # the trust store's policy
        config = replace(config, trust=replace(new.trust, uid=old.trust.uid, exe=old.trust.exe))
    # A provider whose table changed would need a second instance of itself (two sessions on
    # one token, two users of one TPM): it keeps running as it is until a restart.
    old_entries = {entry.provider_id: entry for entry in old.providers}
    entries = []
    for entry in config.providers:
        previous = old_entries.get(entry.provider_id)
        if previous is not None and previous != entry:
            kept_back.append(f"provider {entry.provider_id}")
        entries.append(previous if previous is not None else entry)
    return replace(config, providers=tuple(entries)), kept_back
