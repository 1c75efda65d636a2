"""Service configuration: TOML sections like Parsec's `config.toml`, with embedded defaults.

Everything is validated here, once, at start-up; nonsense fails fast with a one-line message
(`ConfigError`) instead of surfacing on the request path.
"""

from __future__ import annotations

import grp
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from tessera._paths import default_socket_path, default_state_dir
from tessera.daemon.errors import ConfigError, config_path
from tessera.daemon.metrics_config import MetricsConfig, parse_metrics
from tessera.service.providers.pkcs11.config import Pkcs11Settings, parse_pkcs11
from tessera.service.providers.tpm.config import TpmSettings, parse_tpm
from tessera.trust.claims import DEFAULT_LEEWAY
from tessera.wire.framing import Limits
from tessera.wire.opcodes import AuthType

__all__ = ["ConfigError", "ServiceConfig", "load_config", "parse_config", "parse_tessera_config"]

_T = TypeVar("_T")

_MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes including the terminating NUL

AUTHENTICATOR_NAMES: dict[str, AuthType] = {
    "direct": AuthType.DIRECT,
    "jwt": AuthType.JWT,
    "unix-peer": AuthType.UNIX_PEER_CREDENTIALS,
    "jwt-svid": AuthType.JWT_SVID,
}
PROVIDER_TYPES = ("software", "pkcs11", "tpm")
LOG_LEVELS = ("debug", "info", "warning", "error")


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
    log_error_details: bool = False
    allow_deprecated: bool = False
    parsec_compatible: bool = False  # Parsec's answers where Tessera is stricter (compatibility.md)
    limits: Limits = field(default_factory=Limits)
    buffer_size_limit: int = 1 << 20
    request_timeout: float = 1.0
    idle_timeout: float = 60.0
    drain_timeout: float = 5.0
    max_connections: int = 1024
    max_connections_per_uid: int = 256
    first_byte_timeout: float = 5.0
    authenticators: tuple[AuthType, ...] = (AuthType.JWT, AuthType.UNIX_PEER_CREDENTIALS)
    admins: frozenset[Admin] = frozenset()
    trust: TrustConfig = field(default_factory=TrustConfig)
    jwt_svid: JwtSvidConfig | None = None
    providers: tuple[ProviderConfig, ...] = (ProviderConfig("software", 1, "software"),)
    database_path: Path | None = None
    audit: AuditConfig = field(default_factory=AuditConfig)
    quotas: QuotaConfig = field(default_factory=QuotaConfig)
    metrics: MetricsConfig | None = None  # the opt-in metrics endpoint (daemon/metrics.py)
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
        allow_root: bool | None = None,
    ) -> ServiceConfig:
        """Apply command-line overrides (which beat the file), re-validating what they touch."""
        updated = self
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
        if allow_root is not None:
            updated = replace(updated, allow_root=allow_root)
        return updated


def load_config(path: Path | None) -> ServiceConfig:
    """Read and validate a TOML file; `None` gives the embedded defaults."""
    if path is None:
        return parse_config({})
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:  # TOML is UTF-8
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    return parse_config(document)


def parse_config(document: dict[str, Any]) -> ServiceConfig:
    """Validate a parsed TOML document into a `ServiceConfig`: Tessera's schema, or Parsec's own
    `config.toml` as it is (recognised by keys only Parsec writes; see `parsec_config`)."""
    # Imported here: parsec_config builds on this module.
    from tessera.service.parsec_config import is_parsec_config, parse_parsec_config

    if is_parsec_config(document):
        return parse_parsec_config(document)
    return parse_tessera_config(document)


def parse_tessera_config(document: dict[str, Any]) -> ServiceConfig:
    """Validate a document in Tessera's own schema."""
    core = _table(document, "core_settings")
    listener = _table(document, "listener")
    auth = _table(document, "authenticator")
    key_manager = _table(document, "key_manager")
    state_dir = config_path(_get(core, "state_dir", str, str(default_state_dir())), "state_dir")
    socket_default = str(default_socket_path(state_dir))
    limits = Limits(
        max_header_size=_get(core, "header_size_limit", int, 64, minimum=30, maximum=65535),
        max_body_size=_get(core, "body_len_limit", int, 1 << 20, minimum=0),
        max_auth_size=_get(core, "auth_len_limit", int, 65535, minimum=0, maximum=65535),
    )
    store_path = key_manager.get("store_path")
    if store_path is not None and not isinstance(store_path, str):
        raise ConfigError("key_manager.store_path must be a string")
    group = _get(listener, "socket_group", str, "") or None
    if group is not None:
        try:
            grp.getgrnam(group)
        except (KeyError, ValueError):  # ValueError: a NUL in the name
            raise ConfigError(f"listener.socket_group: no group named {group!r}") from None
    return ServiceConfig(
        state_dir=state_dir,
        socket_path=_socket_path(_get(listener, "socket_path", str, socket_default)),
        socket_group=group,
        allow_root=_get(core, "allow_root", bool, False),
        log_level=_choice("log_level", _get(core, "log_level", str, "info"), LOG_LEVELS),
        log_error_details=_get(core, "log_error_details", bool, False),
        allow_deprecated=_get(core, "allow_deprecated", bool, False),
        limits=limits,
        buffer_size_limit=_get(core, "buffer_size_limit", int, 1 << 20, minimum=1),
        request_timeout=_get(listener, "timeout", int, 1000, minimum=1) / 1000,
        idle_timeout=_get(listener, "idle_timeout", int, 60000, minimum=1) / 1000,
        drain_timeout=_get(listener, "drain_timeout", int, 5000, minimum=0) / 1000,
        max_connections=_get(listener, "max_connections", int, 1024, minimum=1),
        max_connections_per_uid=_get(listener, "max_connections_per_uid", int, 256, minimum=1),
        first_byte_timeout=_get(listener, "first_byte_timeout", int, 5000, minimum=1) / 1000,
        authenticators=_authenticators(_get(auth, "auth_types", list, ["jwt", "unix-peer"])),
        admins=frozenset(_admins(auth.get("admins", []))),
        trust=_trust(_table(document, "trust")),
        audit=_audit(_table(document, "audit")),
        quotas=_quotas(_table(document, "quotas")),
        jwt_svid=_jwt_svid(auth),
        providers=_providers(document.get("provider")),
        database_path=config_path(store_path, "key_manager.store_path") if store_path else None,
        parsec_compatible=_get(core, "parsec_compatible", bool, False),
        metrics=parse_metrics(listener, "listener"),
    )


def _table(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]  # a single [[key_manager]] array entry, as in Parsec's file
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _get(
    table: dict[str, Any],
    key: str,
    kind: type[_T],
    default: _T,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> _T:
    value = table.get(key, default)
    # bool is an int subclass; a boolean where a number belongs is a mistake, not a 0 or 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be of type {kind.__name__}, not {type(value).__name__}")
    if isinstance(value, int) and not isinstance(value, bool):
        # TOML integers are 64-bit; tomllib reads longer ones, which overflow as seconds.
        if not -(1 << 63) <= value < 1 << 63:
            raise ConfigError(f"{key} is out of range")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{key} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{key} must be at most {maximum}")
    return value


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _socket_path(value: str) -> Path:
    path = config_path(value, "socket_path")
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise ConfigError(f"socket path {str(path)!r} is longer than {_MAX_SOCKET_PATH} bytes")
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


def _audit_directory(value: object) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError("audit.directory must be a path")
    return Path(value).expanduser()


def _audit(table: dict[str, Any]) -> AuditConfig:
    directory = table.get("directory")
    return AuditConfig(
        enabled=_get(table, "enabled", bool, True),
        directory=_audit_directory(directory),
        max_file_bytes=_get(table, "max_file_bytes", int, 16 << 20, minimum=4096),
        checkpoint_records=_get(table, "checkpoint_records", int, 1000, minimum=1),
        checkpoint_seconds=float(_get(table, "checkpoint_seconds", int, 60, minimum=1)),
    )


def _quotas(table: dict[str, Any]) -> QuotaConfig:
    unknown = set(table) - {"max_concurrent", "requests_per_second", "max_keys", "max_bytes"}
    if unknown:
        raise ConfigError(f"quotas: unknown setting {sorted(unknown)[0]!r}")
    default = QuotaConfig()
    return QuotaConfig(
        max_concurrent=_get(table, "max_concurrent", int, default.max_concurrent, minimum=1),
        requests_per_second=_get(
            table, "requests_per_second", int, default.requests_per_second, minimum=1
        ),
        max_keys=_get(table, "max_keys", int, default.max_keys, minimum=0),
        max_bytes=_get(table, "max_bytes", int, default.max_bytes, minimum=0),
    )


def _trust(table: dict[str, Any]) -> TrustConfig:
    uid = table.get("identity_uid")
    if uid is not None and (not isinstance(uid, int) or isinstance(uid, bool) or uid < 0):
        raise ConfigError("trust.identity_uid must be a non-negative integer")
    exe = table.get("identity_exe")
    if exe is not None and not isinstance(exe, str):
        raise ConfigError("trust.identity_exe must be a path")
    default_leeway = int(DEFAULT_LEEWAY.total_seconds())
    leeway = _get(table, "leeway", int, default_leeway, minimum=0, maximum=60)
    return TrustConfig(uid, exe, _get(table, "audience", str, "tessera"), float(leeway))


def _jwt_svid(table: dict[str, Any]) -> JwtSvidConfig | None:
    bundle = table.get("jwt_svid_bundle")
    if bundle is None:
        return None
    if not isinstance(bundle, str):
        raise ConfigError("authenticator.jwt_svid_bundle must be a path")
    audience = _get(table, "jwt_svid_audience", str, "parsec")
    trust_domain = table.get("jwt_svid_trust_domain")
    if trust_domain is not None and (not isinstance(trust_domain, str) or not trust_domain):
        raise ConfigError("authenticator.jwt_svid_trust_domain must be a trust domain name")
    bundle_path = config_path(bundle, "authenticator.jwt_svid_bundle")
    return JwtSvidConfig(bundle_path, audience, trust_domain)


def _admins(entries: Any) -> list[Admin]:
    if not isinstance(entries, list):
        raise ConfigError("authenticator.admins must be a list")
    admins = []
    for entry in entries:
        # Parsec writes `admins = [{ name = "x" }]`; Tessera adds an optional `auth`, since
        # several authenticators may be active. A bare "NAME" or "AUTH:NAME" string works too.
        if isinstance(entry, dict):
            admins.append(_admin(entry.get("name"), entry.get("auth")))
        else:
            admins.append(parse_admin(entry))
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


def _providers(entries: Any) -> tuple[ProviderConfig, ...]:
    if entries is None:
        return (ProviderConfig("software", 1, "software"),)
    if not isinstance(entries, list) or not entries:
        raise ConfigError("[[provider]] must be a non-empty array of tables")
    providers: list[ProviderConfig] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ConfigError("each [[provider]] must be a table")
        kind = _choice("provider_type", str(entry.get("provider_type", "")).lower(), PROVIDER_TYPES)
        default_id = {"software": 1, "pkcs11": 2, "tpm": 3}[kind]
        provider_id = _get(entry, "provider_id", int, default_id, minimum=1, maximum=255)
        name = _get(entry, "name", str, kind)
        if any(p.provider_id == provider_id for p in providers):
            raise ConfigError(f"two providers share the id {provider_id}")
        if any(p.name == name for p in providers):
            raise ConfigError(f"two providers share the name {name!r}")
        settings: Pkcs11Settings | TpmSettings | None = None
        if kind == "pkcs11":
            settings = parse_pkcs11(entry)
        elif kind == "tpm":
            settings = parse_tpm(entry)
        providers.append(ProviderConfig(kind, provider_id, name, settings))
    return tuple(providers)
