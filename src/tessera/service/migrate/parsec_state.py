"""Where a Parsec installation keeps its state, and whether Parsec is still using it.

Parsec runs in its working directory (`/var/lib/parsec` under its systemd unit): Mbed Crypto's key
files land there, and relative paths in its `config.toml` are relative to it. The key-info stores
come from `[[key_manager]]` tables (SQLite: `sqlite_db_path`; on disk: `store_path`; each with
Parsec's default when unset: note that Parsec 1.x ignores `store_path` for SQLite managers).

Migrating while Parsec runs could copy a store mid-change, so the run refuses when any of these
cheap signs show: Parsec answers on its socket; a process named `parsec` has the directory as its
working directory (visible for our own processes, or all as root); Mbed TLS's temporary key file
or a SQLite journal is present (a write in progress, or one a crash cut short).
"""

from __future__ import annotations

import contextlib
import os
import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.service.migrate.errors import MigrationError
from tessera.service.migrate.mbed_storage import ITS_TEMPORARY

DEFAULT_CONFIG = Path("/etc/parsec/config.toml")
DEFAULT_SOCKET = Path("/run/parsec/parsec.sock")
_DEFAULT_STORES = {
    "sqlite": Path("/var/lib/parsec/kim-mappings/sqlite/sqlite-key-info-manager.sqlite3"),
    "ondisk": Path("/var/lib/parsec/mappings"),
}
# Without a config file: Parsec's default store locations, relative to its working directory.
_GUESSES = ("kim-mappings/sqlite/sqlite-key-info-manager.sqlite3", "mappings")
# Parsec's `auth_type` names, and the wire auth type (Tessera's numbering is the same).
AUTH_TYPES = {"Direct": 1, "UnixPeerCredentials": 3, "JwtSvid": 4}
_DIRECT = 1


@dataclass(frozen=True, slots=True)
class ParsecState:
    """A located Parsec installation."""

    directory: Path  # Parsec's working directory: Mbed Crypto's key files
    config_path: Path | None
    stores: tuple[Path, ...]  # key-info stores: SQLite files or on-disk directories
    socket_path: Path
    auth_type: int  # the authenticator Parsec used (on-disk stores do not record it)


def locate(
    directory: Path,
    *,
    config: Path | None = None,
    kim: Path | None = None,
    auth_type: int | None = None,
) -> ParsecState:
    """Find the config file, stores and socket; MigrationError if no store can be found."""
    if not directory.is_dir():
        raise MigrationError(f"Parsec's directory {directory} does not exist")
    directory = directory.resolve()
    if config is None:
        config = next((p for p in (directory / "config.toml", DEFAULT_CONFIG) if p.is_file()), None)
    document = _read_config(config) if config else {}
    if kim is not None:
        stores: tuple[Path, ...] = (kim.expanduser().absolute(),)  # the operator's cwd
    elif config is not None:
        stores = _configured_stores(document, directory)
    else:
        stores = tuple(p for p in (directory / g for g in _GUESSES) if p.exists())
    if not stores:
        raise MigrationError(
            f"no Parsec key-info store found in {directory}: name it with --kim "
            "(or --parsec-config)"
        )
    for store in stores:
        if not store.exists():
            raise MigrationError(f"Parsec's key-info store {store} does not exist")
    listener = _section(document, "listener")
    socket_path = _under(directory, Path(_text(listener, "socket_path", str(DEFAULT_SOCKET))))
    if auth_type is None:
        name = _text(_section(document, "authenticator"), "auth_type", "Direct")
        auth_type = AUTH_TYPES.get(name, _DIRECT)
    return ParsecState(directory, config, stores, socket_path, auth_type)


def check_not_running(state: ParsecState) -> None:
    """MigrationError if Parsec appears to be running or writing its state."""
    if (state.directory / ITS_TEMPORARY).exists():
        raise MigrationError(
            f"{state.directory / ITS_TEMPORARY} exists: Mbed Crypto is writing a key (stop "
            "Parsec; if it is stopped, the file is a leftover of an interrupted write: remove it)"
        )
    for store in state.stores:
        for suffix in ("-journal", "-wal"):
            journal = store.with_name(store.name + suffix)
            if journal.exists():
                raise MigrationError(
                    f"{journal} exists: Parsec's key-info store is being written "
                    "(stop Parsec, and start and stop it once if it crashed)"
                )
    if _answers(state.socket_path):
        raise MigrationError(f"Parsec is running (it answers on {state.socket_path}): stop it")
    pid = _parsec_process_in(state.directory)
    if pid is not None:
        raise MigrationError(f"Parsec is running in {state.directory} (pid {pid}): stop it")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise MigrationError(f"cannot read Parsec's config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise MigrationError(f"Parsec's config {path} is not valid TOML: {error}") from None


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    return value if isinstance(value, dict) else {}


def _tables(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = document.get(name, [])
    return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []


def _text(table: dict[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    return value if isinstance(value, str) else default


def _under(directory: Path, path: Path) -> Path:
    """Relative paths in Parsec's config are relative to its working directory."""
    return directory / path.expanduser()


def _configured_stores(document: dict[str, Any], directory: Path) -> tuple[Path, ...]:
    used = {p.get("key_info_manager") for p in _tables(document, "provider")}
    stores: list[Path] = []
    for manager in _tables(document, "key_manager"):
        if used and manager.get("name") not in used:
            continue
        kind = _text(manager, "manager_type", "").lower()
        if kind == "sqlite":
            path = manager.get("sqlite_db_path")
        elif kind == "ondisk":
            path = manager.get("store_path")
        else:
            raise MigrationError(f"unknown Parsec key-info manager type {kind!r}")
        chosen = _under(directory, Path(path)) if isinstance(path, str) else _DEFAULT_STORES[kind]
        if chosen not in stores:
            stores.append(chosen)
    return tuple(stores)


def _answers(path: Path) -> bool:
    if not path.is_socket():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(os.fspath(path))
        except OSError:
            return False  # a stale socket of a stopped Parsec
    return True


def _parsec_process_in(directory: Path) -> int | None:
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return None  # no procfs: the socket check has to do
    for entry in entries:
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() != "parsec":
                continue
            if Path(os.readlink(entry / "cwd")) == directory:
                return int(entry.name)
    return None
