"""Parsec's key-info stores: which application owns which key, in which provider, under which id.

Two formats, both Parsec 1.x:

- SQLite (`manager_type = "SQLite"`): table `kim_metadata` (`schema_version` = 1) and table
  `key_mapping` (authenticator_id, application_name, key_name, provider_uuid, provider_name,
  key_id, key_id_version, key_attributes, key_attributes_version), versions 1.
- on disk (`manager_type = "OnDisk"`, the older format): `<dir>/<app>/<provider id>/<key>`, the
  application and key names in URL-safe base64, each file a bincode `KeyInfo`: the key id as a
  byte vector, then the attributes. It does not record the authenticator: Parsec namespaces it
  by the one it is configured with, so the caller says which that was.

Entries are returned undecoded (key id and attributes as bytes), so one bad record fails only its
own key; a store that cannot be read at all is a MigrationError.
"""

from __future__ import annotations

import binascii
import enum
import os
import sqlite3
from base64 import urlsafe_b64decode
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tessera.service.migrate.errors import FormatError, MigrationError
from tessera.service.migrate.parsec_attributes import Reader

_SCHEMA_VERSION = 1
_RECORD_VERSION = 1
_MAX_MAPPING_FILE = 1 << 20  # a KeyInfo is a key id and ~60 bytes of attributes


class ParsecProvider(enum.Enum):
    """Parsec's providers: (UUID, provider id, display name)."""

    MBED_CRYPTO = ("1c1139dc-ad7c-47dc-ad6b-db6fdb466552", 1, "Mbed Crypto")
    PKCS11 = ("30e39502-eba6-4d60-a4af-c518b7f5e38f", 2, "PKCS#11")
    TPM = ("1e4954a4-ff21-46d3-ab0c-661eeb667e1d", 3, "TPM")
    TRUSTED_SERVICE = ("71129441-508a-4da6-b6e8-7b98a777e4c0", 4, "Trusted Service")
    CRYPTOAUTHLIB = ("b8ba81e2-e9f7-4bdd-b096-a29d0019960c", 5, "CryptoAuthLib")

    @property
    def label(self) -> str:
        """The provider's name for people."""
        return self.value[2]

    @classmethod
    def by_uuid(cls, uuid: str) -> ParsecProvider | None:
        """The provider with this UUID, if Parsec 1.x has one."""
        return next((p for p in cls if p.value[0] == uuid), None)

    @classmethod
    def by_id(cls, provider_id: int) -> ParsecProvider | None:
        """The provider with this id (the on-disk store's folder name)."""
        return next((p for p in cls if p.value[1] == provider_id), None)


@dataclass(frozen=True, slots=True)
class ParsecKey:
    """One key-info entry, as stored."""

    app_name: str
    auth_type: int
    provider: ParsecProvider | None
    provider_label: str  # what the store names the provider (for unknown providers)
    key_name: str
    key_id: bytes = field(repr=False)
    attributes: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class KimContents:
    """A whole store: its entries, and one line per entry that could not even be named."""

    path: Path
    kind: str  # "SQLite" or "on-disk"
    keys: list[ParsecKey]
    unreadable: list[str]


def read_kim(path: Path, on_disk_auth_type: int) -> KimContents:
    """Either store format, told apart by `path` being a directory (on disk) or a file."""
    if path.is_dir():
        return read_on_disk_kim(path, on_disk_auth_type)
    if not path.exists():
        raise MigrationError(f"Parsec's key-info store {path} does not exist")
    return read_sqlite_kim(path)


def read_sqlite_kim(path: Path) -> KimContents:
    """Every row of a SQLite store, read in one transaction (a consistent snapshot)."""
    uri = f"file:{quote(os.fspath(path.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise MigrationError(f"cannot open Parsec's key-info store {path}: {error}") from None
    try:
        db.execute("BEGIN")
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        if not {"kim_metadata", "key_mapping"} <= tables:
            raise MigrationError(f"{path} is not a Parsec SQLite key-info store")
        versions = db.execute(
            "SELECT int_value FROM kim_metadata WHERE id = 'schema_version'"
        ).fetchall()
        if versions != [(_SCHEMA_VERSION,)]:
            found = ", ".join(str(v) for (v,) in versions) or "none"
            raise MigrationError(f"{path}: unknown key-info store schema version ({found})")
        rows = db.execute(
            "SELECT authenticator_id, application_name, key_name, provider_uuid, provider_name,"
            " key_id, key_id_version, key_attributes, key_attributes_version FROM key_mapping"
            " ORDER BY application_name, key_name, authenticator_id"
        ).fetchall()
        db.execute("COMMIT")
    except sqlite3.Error as error:
        raise MigrationError(f"cannot read Parsec's key-info store {path}: {error}") from None
    finally:
        db.close()
    keys: list[ParsecKey] = []
    unreadable: list[str] = []
    for auth, app, name, uuid, provider_name, key_id, id_version, attributes, attr_version in rows:
        texts = (app, name, uuid, provider_name)
        if not all(isinstance(t, str) for t in texts) or not isinstance(auth, int):
            unreadable.append(f"a row of {path} has a malformed name or authenticator")
            continue
        if not (isinstance(key_id, bytes) and isinstance(attributes, bytes)):
            unreadable.append(f"key {name!r} of {app!r}: its id or attributes are not bytes")
            continue
        if id_version != _RECORD_VERSION or attr_version != _RECORD_VERSION:
            unreadable.append(
                f"key {name!r} of {app!r}: unknown record versions {id_version}/{attr_version}"
            )
            continue
        provider = ParsecProvider.by_uuid(uuid)
        label = provider.label if provider else f"{provider_name} ({uuid})"
        keys.append(ParsecKey(app, auth, provider, label, name, key_id, attributes))
    return KimContents(path, "SQLite", keys, unreadable)


def read_on_disk_kim(root: Path, auth_type: int) -> KimContents:
    """Every mapping file under an on-disk store's directory."""
    keys: list[ParsecKey] = []
    unreadable: list[str] = []
    try:
        app_dirs = sorted(p for p in root.iterdir() if p.is_dir())
        for app_dir in app_dirs:
            for provider_dir in sorted(p for p in app_dir.iterdir() if p.is_dir()):
                for mapping in sorted(p for p in provider_dir.iterdir() if p.is_file()):
                    try:
                        keys.append(_mapping_file(mapping, auth_type))
                    except FormatError as error:
                        unreadable.append(f"{mapping.relative_to(root)}: {error}")
                    except OSError as error:
                        unreadable.append(f"{mapping.relative_to(root)}: {error.strerror}")
    except OSError as error:
        raise MigrationError(f"cannot read Parsec's key-info store {root}: {error}") from None
    return KimContents(root, "on-disk", keys, unreadable)


def _mapping_file(path: Path, auth_type: int) -> ParsecKey:
    app = _base64_name(path.parent.parent.name, "application")
    name = _base64_name(path.name, "key")
    try:
        provider_id = int(path.parent.name)
    except ValueError:
        raise FormatError(f"{path.parent.name!r} is not a provider id") from None
    provider = ParsecProvider.by_id(provider_id)
    label = provider.label if provider else f"provider {provider_id}"
    with path.open("rb") as file:
        blob = file.read(_MAX_MAPPING_FILE + 1)
    if len(blob) > _MAX_MAPPING_FILE:
        raise FormatError("too large for a key-info file")
    reader = Reader(blob, "the key-info file")
    key_id = reader.byte_vector()
    attributes = blob[len(key_id) + 8 :]  # the rest: decoded (and checked) per key later
    return ParsecKey(app, auth_type, provider, label, name, key_id, attributes)


def _base64_name(text: str, what: str) -> str:
    try:
        return urlsafe_b64decode(text.encode("ascii")).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        raise FormatError(f"the {what} name {text!r} is not base64 of UTF-8 text") from None
