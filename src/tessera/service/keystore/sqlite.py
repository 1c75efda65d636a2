"""SQLite key info store.

One row per key, named by (owner name, owner auth type, provider id, key name). The owner is part
of every query's key, so one application can never reach another's rows. SQLite in WAL mode with
full synchronous commits gives atomic, durable single-row changes that several worker processes
can share: one writer at a time (`BEGIN IMMEDIATE`, waiting up to the busy timeout), readers never
blocked.

Rows read by `get` are cached, and the cache is dropped whole as soon as any connection, in this
process or another, has committed anything (`_ChangeWatch`): a key destroyed or replaced through
one worker is never served from another's cache once that destruction was acknowledged, because
the commit changed what the watch reads before the destroying worker answered.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.daemon.private_state import check_private_file_at
from tessera.psa.key_names import key_name_problem
from tessera.wire.status import Status, StatusError

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

# What each owner stores, kept by triggers so that a quota check at key creation reads one row
# instead of summing the owner's keys (and stays right whichever process or tool writes).
_USAGE_SCHEMA = (
    """CREATE TABLE owner_usage (
        owner_name TEXT    NOT NULL,
        owner_auth INTEGER NOT NULL,
        keys       INTEGER NOT NULL,
        bytes      INTEGER NOT NULL,
        PRIMARY KEY (owner_name, owner_auth)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER owner_usage_insert AFTER INSERT ON keys BEGIN
        INSERT INTO owner_usage VALUES (new.owner_name, new.owner_auth, 1,
            length(new.attributes) + length(new.material))
        ON CONFLICT (owner_name, owner_auth) DO UPDATE SET keys = keys + 1,
            bytes = bytes + excluded.bytes;
    END""",
    """CREATE TRIGGER owner_usage_delete AFTER DELETE ON keys BEGIN
        UPDATE owner_usage SET keys = keys - 1,
            bytes = bytes - length(old.attributes) - length(old.material)
        WHERE owner_name = old.owner_name AND owner_auth = old.owner_auth;
        DELETE FROM owner_usage
        WHERE owner_name = old.owner_name AND owner_auth = old.owner_auth AND keys <= 0;
    END""",
    """CREATE TRIGGER owner_usage_update AFTER UPDATE OF attributes, material ON keys BEGIN
        UPDATE owner_usage SET bytes = bytes - length(old.attributes) - length(old.material)
            + length(new.attributes) + length(new.material)
        WHERE owner_name = old.owner_name AND owner_auth = old.owner_auth;
    END""",
    # A store made before the table existed: count what is there.
    """INSERT INTO owner_usage SELECT owner_name, owner_auth, COUNT(*),
        SUM(length(attributes) + length(material)) FROM keys GROUP BY owner_name, owner_auth""",
)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one owner stores: how many keys, and their attributes and material in bytes."""

    keys: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class StorageLimits:
    """The most one owner may store; an insert beyond either is PsaErrorInsufficientStorage."""

    max_keys: int
    max_bytes: int


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
    """Key names are non-empty UTF-8 of bounded length, without NUL (psa/key_names.py)."""
    problem = key_name_problem(name)
    if problem is not None:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, problem)


RESERVE_BYTES = 1 << 20

_SELECT_KEY = (
    "SELECT attributes, material, created_at FROM keys WHERE owner_name = ? AND "
    "owner_auth = ? AND provider_id = ? AND key_name = ?"
)
_SELECT_PROVIDER = (
    "SELECT owner_name, owner_auth, provider_id, key_name, attributes, material, created_at "
    "FROM keys WHERE provider_id = ?"
)


def _record(row: tuple[Any, ...]) -> KeyRecord:
    owner_name, owner_auth, provider_id, key_name, attributes, material, created_at = row
    return KeyRecord(
        Owner(owner_name, owner_auth), provider_id, key_name, attributes, material, created_at
    )


def _keep_reserve(path: Path) -> None:
    """Hold a megabyte in a file beside the store, to give back when the disk is full."""
    if path.exists():
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return
    try:
        os.write(fd, bytes(RESERVE_BYTES))
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)  # no room now: try again after the next checkpoint
        return
    os.close(fd)


def _create_or_check(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it; refuse (ConfigError) an
    existing one, or its journal, that another user owns or may read (docs/security.md)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
        return
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        check_private_file_at(file, "key store")


# The write-ahead log's index header (SQLite's file format, walformat.html section 2.1, fixed
# because processes running different SQLite versions share one database): two copies of 48
# bytes at the start of the `-shm` file, rewritten by every commit of every connection before the
# commit returns (its change counter, frame count, checksums and salts all move).
_WAL_INDEX_HEADER = 48
_WAL_INDEX_VERSION = 3007000
_WAL_INDEX_START = struct.Struct("<IIIB")  # version, unused, change counter, initialised


class _ChangeWatch:
    """A cheap value that differs once any connection to the database has committed.

    Normally the write-ahead log index header, read from shared memory (about 0.1 us); where that
    is not mapped as expected, `PRAGMA data_version` (about 3 us), which moves on other
    connections' commits only, so the store forgets its own writes itself in either case.
    """

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._map: mmap.mmap | None = None
        # Held open until the connection has closed: closing any descriptor of a file drops
        # every POSIX lock this process holds on it, SQLite's own on the -shm file included
        # (another process would then take the index for unused and rebuild it under us).
        self._fd = -1
        try:
            self._fd = os.open(path.with_name(path.name + "-shm"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if os.fstat(self._fd).st_size >= 2 * _WAL_INDEX_HEADER:
                shared = mmap.mmap(self._fd, 2 * _WAL_INDEX_HEADER, prot=mmap.PROT_READ)
                version, _unused, _change, initialised = _WAL_INDEX_START.unpack_from(shared)
                if version == _WAL_INDEX_VERSION and initialised == 1:
                    self._map = shared
                else:
                    shared.close()
        except (OSError, ValueError):
            self._map = None

    @property
    def shared_memory(self) -> bool:
        """True when the watch reads the index header (not the pragma)."""
        return self._map is not None

    def read(self) -> object:
        """The current value (compare with ==); the caller holds the connection's lock."""
        shared = self._map
        if shared is not None:
            return shared[:_WAL_INDEX_HEADER]
        return self._db.execute("PRAGMA data_version").fetchone()

    def close(self) -> None:
        """Unmap and let the -shm file go: call once the connection is closed."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


#: Rows `get` keeps (the oldest goes first); each holds a key's attributes and wrapped material.
ROW_CACHE_SIZE = 1024
_RowKey = tuple[str, int, int, str]


class KeyStore:
    """Thread-safe access to the key table of one SQLite database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_or_check(path)
        self._lock = threading.Lock()
        # Oldest first (popitem(last=False) is O(1); a dict's first key after many deletions
        # at its front is found by skipping them).
        self._rows: OrderedDict[_RowKey, KeyRecord] = OrderedDict()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # First, so that every statement after it (the journal mode change of a new store made
        # by several workers at once included) waits for another process's write, not fails.
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # Deleted rows are overwritten, not left in free pages: a destroyed key's wrapped
        # material must not stay in the file for whoever later holds it and the KEK.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)
        self._add_usage_table()
        self.limits: StorageLimits | None = None  # per owner, checked by insert
        self._reserve = path.with_name(path.name + ".reserve")
        _keep_reserve(self._reserve)
        self._watch = _ChangeWatch(self._db, path)
        self._rows_seen = self._watch.read()  # the value the cached rows were read under

    def _add_usage_table(self) -> None:
        """Create the usage table and its triggers, filled from the keys already stored (once,
        in one transaction, whichever process gets there first)."""
        if self._query("SELECT 1 FROM sqlite_master WHERE name = 'owner_usage'", ()):
            return  # the usual case: no write lock taken at start-up
        with self._transaction() as db:
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'owner_usage'"
            ).fetchone()
            if exists:
                return
            for statement in _USAGE_SCHEMA:
                db.execute(statement)

    def usage(self, owner: Owner) -> Usage:
        """How many keys `owner` has, and how many bytes they take."""
        rows = self._query(
            "SELECT keys, bytes FROM owner_usage WHERE owner_name = ? AND owner_auth = ?",
            (owner.name, owner.auth_type),
        )
        return Usage(*rows[0]) if rows else Usage()

    def close(self) -> None:
        """Close the database; later calls fail."""
        with self._lock:
            self._rows.clear()
            self._db.close()
            self._watch.close()  # after: its descriptor must not drop SQLite's locks

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
            finally:
                # This connection may have written (its own commits do not move data_version):
                # the cached rows go, whatever the outcome.
                self._rows.clear()

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
            if self.limits is not None:
                self._check_room(db, record)  # in the transaction: exact under concurrency
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

    def _check_room(self, db: sqlite3.Connection, record: KeyRecord) -> None:
        assert self.limits is not None
        row = db.execute(
            "SELECT keys, bytes FROM owner_usage WHERE owner_name = ? AND owner_auth = ?",
            (record.owner.name, record.owner.auth_type),
        ).fetchone()
        usage = Usage(*row) if row else Usage()
        size = len(record.attributes) + len(record.material)
        if usage.keys + 1 > self.limits.max_keys:
            raise StatusError(Status.PSA_ERROR_INSUFFICIENT_STORAGE, "key count quota reached")
        if usage.bytes + size > self.limits.max_bytes:
            raise StatusError(Status.PSA_ERROR_INSUFFICIENT_STORAGE, "storage quota reached")

    def get(self, owner: Owner, provider_id: int, name: str) -> KeyRecord:
        """The owner's key; PsaErrorDoesNotExist if there is none (or it is someone else's).

        Served from the row cache unless any connection committed since the rows were read;
        the watch is read before the row, so a row is never kept under a newer value than it
        was read at.
        """
        key = (owner.name, owner.auth_type, provider_id, name)
        with self._lock:
            seen = self._watch.read()
            if seen != self._rows_seen:
                self._rows.clear()
                self._rows_seen = seen
            else:
                record = self._rows.get(key)
                if record is not None:
                    return record
            try:
                rows = self._db.execute(_SELECT_KEY, key).fetchall()
            except sqlite3.Error as error:
                raise StatusError(Status.KEY_INFO_MANAGER_ERROR, f"key store: {error}") from None
            if not rows:
                raise StatusError(Status.PSA_ERROR_DOES_NOT_EXIST, "no such key")
            attributes, material, created_at = rows[0]
            record = KeyRecord(owner, provider_id, name, attributes, material, created_at)
            if len(self._rows) >= ROW_CACHE_SIZE:
                self._rows.popitem(last=False)
            self._rows[key] = record
            return record

    def delete(self, owner: Owner, provider_id: int, name: str) -> None:
        """Remove the owner's key; PsaErrorDoesNotExist if there is none.

        The row's bytes are overwritten (secure_delete) and the write-ahead log is emptied, so
        no copy of the material stays in the files. On a full disk the reserve file is given
        up so that destroying keys, the way to free space through the API, still works.
        """
        try:
            self._delete(owner, provider_id, name)
        except StatusError as error:
            if error.status is not Status.KEY_INFO_MANAGER_ERROR or not self._release_reserve():
                raise
            self._delete(owner, provider_id, name)
        self.checkpoint()

    def _delete(self, owner: Owner, provider_id: int, name: str) -> None:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM keys WHERE owner_name = ? AND owner_auth = ? AND provider_id = ? "
                "AND key_name = ?",
                (owner.name, owner.auth_type, provider_id, name),
            )
            if cursor.rowcount == 0:
                raise StatusError(Status.PSA_ERROR_DOES_NOT_EXIST, "no such key")

    def _release_reserve(self) -> bool:
        """Delete the reserve file (room for SQLite's journal); True if there was one."""
        try:
            self._reserve.unlink()
        except FileNotFoundError:
            return False
        return True

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database and truncate it (best effort: a reader
        in another process can hold it back until its next checkpoint)."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                return
        _keep_reserve(self._reserve)

    def rewrap(self, provider_ids: frozenset[int], change: Callable[[KeyRecord], bytes]) -> int:
        """Replace the material of every key of these providers, in one transaction: all of
        them change or none does. Returns how many changed."""
        changed = 0
        with self._transaction() as db:
            for provider_id in sorted(provider_ids):
                rows = db.execute(_SELECT_PROVIDER, (provider_id,)).fetchall()
                for row in rows:
                    record = _record(row)
                    db.execute(
                        "UPDATE keys SET material = ? WHERE owner_name = ? AND owner_auth = ? "
                        "AND provider_id = ? AND key_name = ?",
                        (
                            change(record),
                            record.owner.name,
                            record.owner.auth_type,
                            provider_id,
                            record.name,
                        ),
                    )
                changed += len(rows)
        return changed

    def sample(self, provider_ids: frozenset[int]) -> KeyRecord | None:
        """Any one key of these providers (to tell which KEK the store is under)."""
        for provider_id in sorted(provider_ids):
            rows = self._query(_SELECT_PROVIDER + " LIMIT 1", (provider_id,))
            if rows:
                return _record(rows[0])
        return None

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

    def count_by_provider(self) -> dict[int, int]:
        """How many keys each provider holds, over all applications (for metrics)."""
        rows = self._query("SELECT provider_id, COUNT(*) FROM keys GROUP BY provider_id", ())
        return {int(provider): int(count) for provider, count in rows}

    def provider_has_keys(self, provider_id: int) -> bool:
        """True if any application has a key in that provider."""
        rows = self._query("SELECT 1 FROM keys WHERE provider_id = ? LIMIT 1", (provider_id,))
        return bool(rows)

    def list_clients(self, auth_type: int) -> list[str]:
        """Names of the applications proven by `auth_type` that own at least one key, oldest
        first.

        One authenticator's names only: DeleteClient names a client under the administrator's
        own authenticator, so ListClients lists exactly what it can delete. Ordered by each
        name's first key, so the answer is stable and follows the order in which clients
        appeared (the parsec-mock vectors expect this; Parsec's service sorts).
        """
        rows = self._query(
            "SELECT owner_name FROM keys WHERE owner_auth = ? GROUP BY owner_name "
            "ORDER BY MIN(sequence)",
            (auth_type,),
        )
        return [name for (name,) in rows]
