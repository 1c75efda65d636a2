"""Parsec's own `config.toml`, accepted as it is.

A file is Parsec's when it holds keys only Parsec writes (`listener_type`, `auth_type`,
`manager_type`, `key_info_manager`, `provider_type = "MbedCrypto"`...). Each of Parsec's settings
is honoured (translated into Tessera's schema, so one set of checks applies), ignored with one
warning where ignoring is harmless, or refused with one line where Tessera cannot give its
meaning. Parsec's defaults apply where they differ from Tessera's (socket path, PKCS#11
`allow_export`, provider names). Tessera's own keys may stand beside Parsec's; keys neither
reads are ignored with a warning, as Parsec ignores them.

Parsec's key-info stores are not opened: Tessera keeps its own key store (another schema) in its
state directory. `parsec_key_stores` says where Parsec's are, for `tessera migrate-parsec`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tessera._paths import PARSEC_DEFAULT_SOCKET
from tessera.config import ConfigError
from tessera.daemon.config_schema import Source, Table
from tessera.service.config import (
    PROVIDER_TYPES,
    ProviderConfig,
    ServiceConfig,
    read_tessera_config,
)
from tessera.service.providers.pkcs11.config import Pkcs11Settings, parse_pkcs11
from tessera.service.providers.tpm.config import TpmSettings, parse_auth, parse_tpm

__all__ = ["ParsecKeyStore", "is_parsec_config", "parse_parsec_config", "parsec_key_stores"]

# Parsec's provider types and their Tessera counterparts; Parsec's wire id per type.
_PROVIDERS = {"MbedCrypto": "software", "Pkcs11": "pkcs11", "Tpm": "tpm"}
_UNSUPPORTED_PROVIDERS = ("CryptoAuthLib", "TrustedService")
_DEFAULT_IDS = {"software": 1, "pkcs11": 2, "tpm": 3}
_DEFAULT_NAMES = {
    "software": "mbed-crypto-provider",
    "pkcs11": "pkcs11-provider",
    "tpm": "tpm-provider",
}
_COMMON_KEYS = frozenset({"provider_type", "provider_id", "name", "key_info_manager"})
_PROVIDER_KEYS = {
    "software": _COMMON_KEYS,
    "pkcs11": _COMMON_KEYS
    | {"library_path", "slot_number", "serial_number", "user_pin", "software_public_operations"}
    | {"allow_export", "token_label", "user_pin_file"},
    "tpm": _COMMON_KEYS
    | {"tcti", "owner_hierarchy_auth", "owner_hierarchy_auth_file", "skip_if_no_tpm"}
    | {"endorsement_hierarchy_auth"},
}

_AUTH_TYPES = {"Direct": "direct", "UnixPeerCredentials": "unix-peer", "JwtSvid": "jwt-svid"}
# Parsec's log level filter (any case) as Tessera's level; Tessera has nothing below debug.
_LOG_LEVELS = {
    "off": "error",
    "error": "error",
    "warn": "warning",
    "warning": "warning",
    "info": "info",
    "debug": "debug",
    "trace": "debug",
}
# Settings Tessera has no use for: their type (checked, as Parsec does) and why that is harmless.
_IGNORED_CORE: dict[str, tuple[type, str]] = {
    "thread_pool_size": (int, "Tessera shares the cores between its worker processes (workers)"),
    "idle_listener_sleep_duration": (int, "Tessera's listener waits without polling"),
    "log_timestamp": (bool, "Tessera's log lines always carry a timestamp"),
}

# Where each kind of key-info manager keeps its mappings: the key Parsec reads, its default.
_STORE_KEYS = {"SQLite": "sqlite_db_path", "OnDisk": "store_path"}
_STORE_DEFAULTS = {
    "SQLite": "/var/lib/parsec/kim-mappings/sqlite/sqlite-key-info-manager.sqlite3",
    "OnDisk": "/var/lib/parsec/mappings",
}
# Keys only Parsec's schema has, per table, and provider types only Parsec names: any of them
# makes a file Parsec's. ("Pkcs11" and "Tpm" do not: Tessera reads provider_type in any case.)
_MARKERS = {
    "core_settings": frozenset(_IGNORED_CORE),
    "listener": frozenset({"listener_type"}),
    "authenticator": frozenset({"auth_type", "workload_endpoint"}),
    "key_manager": frozenset({"manager_type", "name", "sqlite_db_path"}),
    "provider": frozenset({"key_info_manager"}),
}
_PARSEC_ONLY_PROVIDERS = ("MbedCrypto", *_UNSUPPORTED_PROVIDERS)
_TABLES = ("core_settings", "listener", "authenticator", "trust", "key_manager", "provider")


@dataclass(frozen=True)
class ParsecKeyStore:
    """One of Parsec's key-info managers: where Parsec kept its key mappings.

    `path` is as written (relative paths are relative to Parsec's working directory).
    """

    name: str
    manager_type: str  # "SQLite" or "OnDisk"
    path: Path


def is_parsec_config(document: dict[str, Any]) -> bool:
    """True when the document holds a key that only Parsec's schema has."""
    for name, markers in _MARKERS.items():
        for table in _entries(document, name):
            if markers & set(table) or table.get("provider_type") in _PARSEC_ONLY_PROVIDERS:
                return True
    return False


def parse_parsec_config(document: dict[str, Any], source: Source | None = None) -> ServiceConfig:
    """Validate Parsec's `config.toml` into Tessera's settings (`warnings`: what it ignores)."""
    warnings: list[str] = []
    for name in document:
        if name not in _TABLES:
            warnings.append(f"[{name}] is ignored: neither Parsec nor Tessera reads it")
    core = _core(_table(document, "core_settings"), warnings)
    listener = _listener(_table(document, "listener"))
    auth = _authenticator(_table(document, "authenticator"), warnings)
    sections = {"core_settings": core, "listener": listener, "authenticator": auth}
    if "trust" in document:
        sections["trust"] = _table(document, "trust")
    # Tessera's own keys pass through; which ones it reads is learnt from the reader's record,
    # so this module cannot drift from its parser. Unread keys are warned, as Parsec ignores them.
    root = Table(sections, (), source)
    config = read_tessera_config(root)
    for table, key in root.unread():
        warnings.append(f"{table.setting(key)} is ignored: Tessera does not read it here")
    stores = _key_stores(document, warnings)
    providers = _providers(document.get("provider"), {s.name for s in stores}, warnings)
    return replace(config, providers=providers, warnings=tuple(warnings))


def parsec_key_stores(document: dict[str, Any]) -> tuple[ParsecKeyStore, ...]:
    """Parsec's key-info stores named by its `config.toml` (with Parsec's default paths)."""
    return _key_stores(document, [])


def _entries(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The tables under `name` (one, or an array), for a look that must not fail."""
    value = document.get(name)
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _table(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return dict(value)


def _core(core: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    # A drop-in for Parsec answers as Parsec (CanDoCrypto's shape; PKCS#1 v1.5 padding errors
    # only where deprecated primitives are allowed too), unless the file says otherwise.
    core.setdefault("parsec_compatible", True)
    for key, (kind, why) in _IGNORED_CORE.items():
        if key in core:
            value = core.pop(key)
            if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
                raise ConfigError(f"core_settings.{key} must be of type {kind.__name__}")
            warnings.append(f"core_settings.{key} is ignored: {why}")
    level = core.get("log_level")
    if level is not None:
        if not isinstance(level, str) or level.lower() not in _LOG_LEVELS:
            raise ConfigError(
                f"log_level must be one of off, error, warn, info, debug, trace, not {level!r}"
            )
        if level.lower() == "off":
            warnings.append('core_settings.log_level "off" is taken as "error": errors are logged')
        core["log_level"] = _LOG_LEVELS[level.lower()]
    return core


def _listener(listener: dict[str, Any]) -> dict[str, Any]:
    kind = listener.pop("listener_type", "DomainSocket")
    if kind != "DomainSocket":
        raise ConfigError(
            f"listener.listener_type {kind!r} is not supported: Tessera listens on a Unix socket, "
            'listener_type = "DomainSocket"'
        )
    listener.setdefault("socket_path", str(PARSEC_DEFAULT_SOCKET))  # Parsec's clients look there
    return listener


def _authenticator(auth: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    kind = auth.pop("auth_type", None)
    endpoint = auth.pop("workload_endpoint", None)
    if kind is not None:
        if "auth_types" in auth:
            raise ConfigError("authenticator: give auth_type (Parsec's) or auth_types, not both")
        if not isinstance(kind, str) or kind not in _AUTH_TYPES:  # a list is unhashable
            known = ", ".join(_AUTH_TYPES)
            message = f"authenticator.auth_type must be one of {known}, not {kind!r}"
            if kind in (*_AUTH_TYPES.values(), "jwt"):  # Tessera's spelling, in Parsec's key
                message += f""" (Parsec's key; Tessera's is auth_types = ["{kind}"])"""
            raise ConfigError(message)
        auth["auth_types"] = [_AUTH_TYPES[kind]]  # Parsec has one authenticator
    jwt_svid = kind == "JwtSvid"
    if jwt_svid and "jwt_svid_bundle" not in auth:
        raise ConfigError(
            "authenticator: Tessera does not use the SPIFFE Workload API (workload_endpoint); set "
            "jwt_svid_bundle to the trust domain's JWT bundle file (as `spire-server bundle show "
            "-format spiffe` writes it) instead"
        )
    if endpoint is not None:
        why = (
            "JWT-SVIDs are checked against jwt_svid_bundle" if jwt_svid else "only JwtSvid reads it"
        )
        warnings.append(f"authenticator.workload_endpoint is ignored: {why}")
    return auth


def _key_stores(document: dict[str, Any], warnings: list[str]) -> tuple[ParsecKeyStore, ...]:
    entries = document.get("key_manager", [])
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("[[key_manager]] must be an array of tables")
    return tuple(_key_store(entry, warnings) for entry in entries)


def _key_store(entry: dict[str, Any], warnings: list[str]) -> ParsecKeyStore:
    name, kind = entry.get("name"), entry.get("manager_type")
    if not isinstance(name, str) or not name:
        raise ConfigError("each [[key_manager]] needs a name, as in Parsec")
    if not isinstance(kind, str) or kind not in _STORE_KEYS:
        raise ConfigError(
            f"key_manager {name!r}: manager_type must be SQLite or OnDisk, not {kind!r}"
        )
    path_key = _STORE_KEYS[kind]
    path = entry.get(path_key, _STORE_DEFAULTS[kind])
    if not isinstance(path, str) or not path:
        raise ConfigError(f"key_manager {name!r}: {path_key} must be a path")
    where = path if path_key in entry else f"{path}, Parsec's default"
    for key in entry:
        if key in _STORE_KEYS.values() and key != path_key:
            warnings.append(
                f"key_manager {name!r}: {key} is ignored, as Parsec ignores it: a {kind} "
                f"manager's store is {path_key} ({where})"
            )
        elif key not in ("name", "manager_type", path_key):
            warnings.append(f"key_manager {name!r}: {key} is ignored: Parsec does not read it")
    warnings.append(
        f"key_manager {name!r} ({kind}, {where}) is not used: Tessera keeps keys in its own store "
        "in its state directory; keys Parsec stored there must be migrated (tessera migrate-parsec)"
    )
    return ParsecKeyStore(name, kind, Path(path))


def _providers(entries: Any, managers: set[str], warnings: list[str]) -> tuple[ProviderConfig, ...]:
    if entries is None:
        raise ConfigError('no [[provider]]: add one (e.g. provider_type = "MbedCrypto")')
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("[[provider]] must be an array of tables")
    providers: list[ProviderConfig] = []
    for entry in entries:
        provider = _provider(entry, managers, warnings)
        for other in providers:
            if other.name == provider.name:
                raise ConfigError(f"two providers are named {provider.name!r}: set name on one")
            if other.provider_id == provider.provider_id:
                raise ConfigError(
                    f"providers {other.name!r} and {provider.name!r} share the wire id "
                    f"{provider.provider_id} (one per type, in Parsec): set provider_id on one"
                )
        providers.append(provider)
    return tuple(providers)


def _provider(entry: dict[str, Any], managers: set[str], warnings: list[str]) -> ProviderConfig:
    written = entry.get("provider_type")
    kind = _provider_kind(written)
    name = entry.get("name", _DEFAULT_NAMES[kind])
    if not isinstance(name, str) or not name:
        raise ConfigError(f"[[provider]] {written}: name must be a non-empty string")
    label = f"provider {name!r}"
    manager = entry.get("key_info_manager")
    if manager is not None and (not isinstance(manager, str) or manager not in managers):
        raise ConfigError(f"{label}: key_info_manager {manager!r} names no [[key_manager]]")
    fields: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in _PROVIDER_KEYS[kind]:
            warnings.append(f"{label}: {key} is ignored: {written} providers do not read it")
        elif key != "key_info_manager":  # Tessera's providers share its one key store
            fields[key] = value
    fields.update(provider_type=kind, name=name)
    provider_id = fields.get("provider_id", _DEFAULT_IDS[kind])
    if (
        not isinstance(provider_id, int)
        or isinstance(provider_id, bool)
        or not 1 <= provider_id <= 255
    ):
        raise ConfigError(f"{label}: provider_id must be an integer from 1 to 255")
    settings: Pkcs11Settings | TpmSettings | None = None
    if kind == "pkcs11":
        settings = _pkcs11(fields, label, warnings)
    elif kind == "tpm":
        settings = _tpm(fields, label)
    return ProviderConfig(kind, provider_id, name, settings)


def _provider_kind(written: Any) -> str:
    if isinstance(written, str) and written in _PROVIDERS:  # not a list: unhashable
        return _PROVIDERS[written]
    if isinstance(written, str) and written.lower() in PROVIDER_TYPES:
        return written.lower()  # Tessera's own names are welcome too
    if written in _UNSUPPORTED_PROVIDERS:
        raise ConfigError(
            f"provider_type {written!r} is not supported: Tessera's providers are MbedCrypto "
            "(software), Pkcs11 and Tpm"
        )
    raise ConfigError(f"provider_type must be MbedCrypto, Pkcs11 or Tpm, not {written!r}")


def _pkcs11(fields: dict[str, Any], label: str, warnings: list[str]) -> Pkcs11Settings:
    fields.setdefault("allow_export", True)  # Parsec's default
    pin = fields.get("user_pin")
    if isinstance(pin, str):
        fields["user_pin"] = _pin(pin, label)
    elif pin is None and "user_pin_file" not in fields:
        raise ConfigError(
            f"{label}: user_pin is required: Tessera logs in to the token (Parsec without a PIN "
            "does not)"
        )
    serial = fields.get("serial_number")
    if isinstance(serial, str):
        fields["serial_number"] = serial.strip()  # Parsec compares serial numbers trimmed
        if fields.pop("slot_number", None) is not None:
            warnings.append(f"{label}: slot_number is ignored: serial_number picks the token")
    return parse_pkcs11(fields, only_token=True)


def _pin(pin: str, label: str) -> str:
    """A PIN as Parsec writes it: "hex:..." for its bytes, "str:..." or plain text."""
    if pin.startswith("hex:"):
        try:
            return bytes.fromhex(pin[4:]).decode("utf-8")
        except ValueError:
            raise ConfigError(f"{label}: user_pin after hex: must be hex of UTF-8 text") from None
    return pin.removeprefix("str:")


def _tpm(fields: dict[str, Any], label: str) -> TpmSettings:
    endorsement = fields.pop("endorsement_hierarchy_auth", None)
    if endorsement is not None:
        try:
            empty = isinstance(endorsement, str) and not parse_auth(endorsement)
        except ConfigError:
            empty = False
        if not empty:
            raise ConfigError(
                f"{label}: endorsement_hierarchy_auth is not supported: Tessera's key attestation "
                "needs the endorsement hierarchy's authorization empty; remove the setting (and "
                "clear that authorization to attest keys)"
            )
    return parse_tpm(fields)
