"""Trust state shared by the processes of one service run, through files in a private directory.

Several service processes (workers) serve one state directory at once; ShareTrustBundle and
RevokeTokens reach whichever of them accepted the connection, and from the moment it answers,
every process must verify with the new state. So a `TrustStore` given a `SharedTrustState`
keeps its root, intermediate and revocation list here, not only in its own memory:

- `trust.state`: the state itself (JSON: the root's DER, the incarnation that shared it, the
  intermediate's DER, the revocation list's serial and entries). Public material only: no key
  is secret here. Written whole to a temporary file (0600) and renamed over the previous one,
  so a reader sees one complete state or the other, never a mix.
- `trust.generation`: an 8-byte counter (native order) that every process maps into memory.
  A writer bumps it after the rename; a reader compares it with the generation its own copy
  reflects (a read of shared memory, well under a microsecond) and reloads `trust.state` only
  when it moved. A reader reads the counter before the file, so what it loads is at least as
  new as the generation it records.
- `trust.lock`: every change is made under an exclusive `flock` on this file: the writer reads
  the current state under the lock, decides (the root-once rule in trust/store.py), writes,
  bumps, unlocks. Two processes receiving roots at the same moment are thereby serialised, and
  the second sees the first's root. The state also records the generation it was written as:
  a writer that died between its rename and its bump (the kernel releases its lock) left a
  state newer than the counter, and the next change, under the lock, bumps the counter to it
  first (the sender, never answered, retries: that retry is such a change).

The directory is the service's live directory (`ServiceConfig.live_directory`, 0700), which the
service empties when a run starts: a new run holds no root, as before, and the identity provider
re-shares when told `TRUST_NO_ROOT`. A process that starts later in the same run (a replaced
worker) maps the counter and loads the state. Files are created 0600 and read only when they are
regular files owned by this user with no group or other access; a file that fails those checks
or does not parse is reported (ValueError, OSError) and the store fails closed (holds nothing).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import json
import mmap
import os
import stat
import struct
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tessera.trust.peer import Incarnation

__all__ = ["SharedTrustState", "TrustRecord"]

STATE_NAME = "trust.state"
GENERATION_NAME = "trust.generation"
LOCK_NAME = "trust.lock"
_FORMAT = 1
#: Largest state file read: two certificates and a revocation list of at most 8192 entries.
_MAX_STATE_BYTES = 4 * 1024 * 1024
_COUNTER = struct.Struct("=Q")


@dataclass(frozen=True)
class TrustRecord:
    """What a trusting service holds: root, its holder, intermediate, revocations."""

    root: bytes = field(repr=False)
    holder: Incarnation
    intermediate: bytes | None = field(default=None, repr=False)
    revocation_serial: int = 0
    revoked: Mapping[str, float] = field(default_factory=dict, repr=False)
    #: The run's generation this state was written as (set by the writer).
    generation: int = 0

    def encode(self) -> bytes:
        """The record as the bytes of `trust.state`."""
        document = {
            "format": _FORMAT,
            "generation": self.generation,
            "root": base64.b64encode(self.root).decode("ascii"),
            "holder": {"pid": self.holder.pid, "start_time": self.holder.start_time},
            "intermediate": (
                None
                if self.intermediate is None
                else base64.b64encode(self.intermediate).decode("ascii")
            ),
            "revocations": {"serial": self.revocation_serial, "revoked": dict(self.revoked)},
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")

    @classmethod
    def decode(cls, data: bytes) -> TrustRecord:
        """Parse `trust.state`; ValueError if it is not a record this module wrote."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("the trust state is not JSON") from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValueError("the trust state has an unknown format")
        holder = document.get("holder")
        revocations = document.get("revocations")
        if not isinstance(holder, dict) or not isinstance(revocations, dict):
            raise ValueError("the trust state lacks its holder or revocations")
        pid, start_time = _count(holder.get("pid")), _count(holder.get("start_time"))
        serial, revoked = _count(revocations.get("serial")), revocations.get("revoked")
        if not isinstance(revoked, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in revoked.items()
        ):
            raise ValueError("the trust state has malformed revocations")
        intermediate = document.get("intermediate")
        return cls(
            generation=_count(document.get("generation")),
            root=_b64(document.get("root")),
            holder=Incarnation(pid, start_time),
            intermediate=None if intermediate is None else _b64(intermediate),
            revocation_serial=serial,
            revoked={k: float(v) for k, v in revoked.items()},
        )


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("the trust state has a malformed holder or serial")
    return value


def _b64(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise ValueError("the trust state has a malformed certificate")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the trust state has a malformed certificate") from None


def _check_ours(fd: int, path: Path) -> os.stat_result:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path} is not a regular file")
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise ValueError(f"{path} is not private to this user (owner and mode 0600)")
    return info


class Transaction:
    """One change under the exclusive lock: the current record, and `commit` for the new one."""

    def __init__(self, shared: SharedTrustState, generation: int, record: TrustRecord | None):
        self._shared = shared
        self.generation = generation
        self.record = record

    def commit(self, record: TrustRecord | None) -> int:
        """Replace the state with `record` (None: hold nothing); return the new generation."""
        self.generation = self._shared._commit(record)
        self.record = record
        return self.generation


class SharedTrustState:
    """The files of one run's trust state in `directory` (which must exist, private)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._state_path = directory / STATE_NAME
        self._generation_path = directory / GENERATION_NAME
        self._lock_path = directory / LOCK_NAME
        self._map: mmap.mmap | None = None  # mapped on first use (it may not exist yet)
        self._map_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SharedTrustState({os.fspath(self.directory)!r})"

    # -- the counter ----------------------------------------------------------------------------

    def _try_map(self) -> mmap.mmap | None:
        """Map `trust.generation` if it exists (it appears with the run's first change)."""
        with self._map_lock:
            if self._map is not None:
                return self._map
            try:
                fd = os.open(self._generation_path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
            try:
                info = _check_ours(fd, self._generation_path)
                if info.st_size != _COUNTER.size:
                    raise ValueError(f"{self._generation_path} has the wrong size")
                self._map = mmap.mmap(fd, _COUNTER.size, mmap.MAP_SHARED)
            finally:
                os.close(fd)
            return self._map

    def generation(self) -> int:
        """The run's current trust generation (0 before its first change); OSError or
        ValueError if the counter's file cannot be used."""
        counter = self._map
        if counter is None:
            counter = self._try_map()
            if counter is None:
                return 0
        value: int = _COUNTER.unpack_from(counter, 0)[0]
        return value

    # -- reading --------------------------------------------------------------------------------

    def read(self) -> tuple[int, TrustRecord | None]:
        """The current generation and the state it (at least) reflects."""
        generation = self.generation()
        return generation, self._read_record()

    def _read_record(self) -> TrustRecord | None:
        try:
            fd = os.open(self._state_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            info = _check_ours(fd, self._state_path)
            if info.st_size > _MAX_STATE_BYTES:
                raise ValueError(f"{self._state_path} is too large")
            chunks = []
            remaining = _MAX_STATE_BYTES + 1
            while remaining > 0:
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if len(data) > _MAX_STATE_BYTES:
            raise ValueError(f"{self._state_path} is too large")
        return TrustRecord.decode(data)

    # -- changing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the run's trust lock; yield the current state for the caller to change.

        Each transaction opens the lock file itself and `flock` locks per open file, so two
        threads, or two stores, of one process exclude each other as two processes do."""
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            _check_ours(fd, self._lock_path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                self._ensure_counter()
                generation, record = self.read()
                if record is not None and record.generation > generation:
                    generation = self._set_counter(record.generation)  # a writer died midway
                yield Transaction(self, generation, record)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _ensure_counter(self) -> None:
        """Create `trust.generation` (zero) if it is missing (lock held)."""
        if self._try_map() is not None:
            return
        self._write_file(self._generation_path, bytes(_COUNTER.size))
        if self._try_map() is None:
            raise OSError(errno.ENOENT, "the trust generation file vanished", self._generation_path)

    def _write_file(self, path: Path, data: bytes) -> None:
        """Write `data` to a temporary file beside `path` (0600) and rename it over `path` (lock
        held, so the temporary name is ours; one left by a writer that died is replaced)."""
        temporary = path.with_name(f".{path.name}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        fd = os.open(
            temporary,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                os.close(fd)
            os.rename(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _set_counter(self, generation: int) -> int:
        counter = self._map
        assert counter is not None  # _ensure_counter ran under the same lock
        _COUNTER.pack_into(counter, 0, generation)
        return generation

    def _commit(self, record: TrustRecord | None) -> int:
        """Replace the state, then bump the counter (lock held); the new generation."""
        counter = self._map
        assert counter is not None  # _ensure_counter ran under the same lock
        generation: int = _COUNTER.unpack_from(counter, 0)[0] + 1
        if record is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._state_path)
        else:
            self._write_file(self._state_path, replace(record, generation=generation).encode())
        return self._set_counter(generation)
