"""SQLite key info store.

One row per key, named by (owner name, owner auth type, provider id, key name). The owner is part
of every query's key, so one application can never reach another's rows. SQLite in WAL mode with
full synchronous commits gives atomic, durable single-row changes that several worker processes
can share.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.wire.status import Status, StatusError

MAX_KEY_NAME_BYTES = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    owner_name  TEXT    NOT NULL,
    owner_auth  INTEGER NOT NULL,
    provider_id INTEGER NOT NULL,
    key_name    TEXT    NOT NULL,
    attributes  BLOB    NOT NULL,
    material    BLOB    NOT NULL,
    created_at  REAL    NOT NULL,
    sequence    INTEGER NOT NULL,  -- creation order, exact where clock readings tie
    PRIMARY KEY (owner_name, owner_auth, provider_id, key_name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_sequence ON keys (sequence);
"""


@dataclass(frozen=True, slots=True)
class Owner:
    """The application a key belongs to: its name and the authenticator that proved it."""

    name: str
    auth_type: int


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One stored key. `material` is provider data (wrapped key bytes, a token handle, ...)."""

    owner: Owner
    provider_id: int
    name: str
    attributes: bytes
    material: bytes = field(repr=False)
    created_at: float = 0.0


def check_key_name(name: str) -> None:
    """Key names are non-empty UTF-8 of bounded length, without NUL."""
    if not name:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "empty key name")
    if "\x00" in name:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "key name contains NUL")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_KEY_NAME_BYTES:
        raise StatusError(
            Status.PSA_ERROR_INVALID_ARGUMENT, f"key name longer than {MAX_KEY_NAME_BYTES} bytes"
        )


class KeyStore:
    """Thread-safe access to the key table of one SQLite database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Create the file with owner-only permissions before SQLite opens it.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database; later calls fail."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StatusError(Status.KEY_INFO_MANAGER_ERROR, f"key store: {error}") from None
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise StatusError(Status.KEY_INFO_MANAGER_ERROR, f"key store: {error}") from None

    def insert(self, record: KeyRecord) -> None:
        """Add a key; PsaErrorAlreadyExists if the owner already has one of that name there."""
        check_key_name(record.name)
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, "
                    "(SELECT COALESCE(MAX(sequence), 0) + 1 FROM keys))",
                    (
                        record.owner.name,
                        record.owner.auth_type,
                        record.provider_id,
                        record.name,
                        record.attributes,
                        record.material,
                        record.created_at or time.time(),
                    ),
                )
            except sqlite3.IntegrityError:
                raise StatusError(
                    Status.PSA_ERROR_ALREADY_EXISTS, "a key with this name exists"
                ) from None

    def get(self, owner: Owner, provider_id: int, name: str) -> KeyRecord:
        """The owner's key; PsaErrorDoesNotExist if there is none (or it is someone else's)."""
        rows = self._query(
            "SELECT attributes, material, created_at FROM keys WHERE owner_name = ? AND "
            "owner_auth = ? AND provider_id = ? AND key_name = ?",
            (owner.name, owner.auth_type, provider_id, name),
        )
        if not rows:
            raise StatusError(Status.PSA_ERROR_DOES_NOT_EXIST, "no such key")
        attributes, material, created_at = rows[0]
        return KeyRecord(owner, provider_id, name, attributes, material, created_at)

    def delete(self, owner: Owner, provider_id: int, name: str) -> None:
        """Remove the owner's key; PsaErrorDoesNotExist if there is none."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM keys WHERE owner_name = ? AND owner_auth = ? AND provider_id = ? "
                "AND key_name = ?",
                (owner.name, owner.auth_type, provider_id, name),
            )
            if cursor.rowcount == 0:
                raise StatusError(Status.PSA_ERROR_DOES_NOT_EXIST, "no such key")

    def list_keys(self, owner: Owner) -> list[KeyRecord]:
        """Every key of one owner, in every provider, ordered by provider and name."""
        rows = self._query(
            "SELECT provider_id, key_name, attributes, material, created_at FROM keys "
            "WHERE owner_name = ? AND owner_auth = ? ORDER BY provider_id, key_name",
            (owner.name, owner.auth_type),
        )
        return [
            KeyRecord(owner, provider_id, name, attributes, material, created_at)
            for provider_id, name, attributes, material, created_at in rows
        ]

    def provider_has_keys(self, provider_id: int) -> bool:
        """True if any application has a key in that provider."""
        rows = self._query("SELECT 1 FROM keys WHERE provider_id = ? LIMIT 1", (provider_id,))
        return bool(rows)

    def list_clients(self) -> list[str]:
        """Names of every application that owns at least one key, oldest first.

        Ordered by each name's first key, so the answer is stable and follows the order in
        which clients appeared (the parsec-mock vectors expect this; Parsec's service sorts).
        """
        rows = self._query(
            "SELECT owner_name FROM keys GROUP BY owner_name ORDER BY MIN(sequence)",
            (),
        )
        return [name for (name,) in rows]
