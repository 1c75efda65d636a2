"""Writing the audit log: one record per key operation, a signed checkpoint now and then.

Records hold who (authenticator and application), what (the operation), which key (provider and
name) and how it ended (the status): never key material, messages, signatures or tokens. Each is
one write() on a file opened with O_APPEND, made under the lock of the chain's shared head, so
the service's worker processes append to one chain, in turn.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import queue
import struct
import threading
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _encode_string
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tessera.service.audit.chain import (
    FILE_PREFIX,
    FILE_SUFFIX,
    GENESIS,
    PUBLIC_KEY_NAME,
    checkpoint_message,
    digest,
    encode,
    file_name,
    log_files,
)
from tessera.service.live_file import LiveFile
from tessera.wire.opcodes import Opcode

log = logging.getLogger(__name__)

PRIVATE_KEY_NAME = "audit-signing.key"
DEFAULT_MAX_FILE_BYTES = 16 << 20
DEFAULT_CHECKPOINT_RECORDS = 1000
DEFAULT_CHECKPOINT_SECONDS = 60.0

# Key creation, use, destruction and the administrators' operations. Keyless operations
# (hashes, random bytes, discovery) are not audited.
AUDITED_OPCODES = frozenset(
    {
        Opcode.PSA_GENERATE_KEY,
        Opcode.PSA_IMPORT_KEY,
        Opcode.PSA_DESTROY_KEY,
        Opcode.PSA_EXPORT_KEY,
        Opcode.PSA_SIGN_HASH,
        Opcode.PSA_SIGN_MESSAGE,
        Opcode.PSA_VERIFY_HASH,
        Opcode.PSA_VERIFY_MESSAGE,
        Opcode.PSA_ASYMMETRIC_ENCRYPT,
        Opcode.PSA_ASYMMETRIC_DECRYPT,
        Opcode.PSA_AEAD_ENCRYPT,
        Opcode.PSA_AEAD_DECRYPT,
        Opcode.PSA_CIPHER_ENCRYPT,
        Opcode.PSA_CIPHER_DECRYPT,
        Opcode.PSA_MAC_COMPUTE,
        Opcode.PSA_MAC_VERIFY,
        Opcode.PSA_RAW_KEY_AGREEMENT,
        Opcode.ATTEST_KEY,
        Opcode.PREPARE_KEY_ATTESTATION,
        Opcode.LIST_CLIENTS,
        Opcode.DELETE_CLIENT,
    }
)


def _last_record(path: Path) -> tuple[int, str] | None:
    """The sequence number and hash of a file's last whole record."""
    last = None
    with path.open("rb") as handle:
        for raw in handle:
            line = raw.rstrip(b"\n")
            try:
                last = int(json.loads(line)["seq"]), digest(line)
            except (ValueError, KeyError, TypeError):
                log.warning("the audit log %s holds a damaged line", path)
    return last


def _ends_a_line(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _signing_key(directory: Path) -> Ed25519PrivateKey:
    """The service's audit signing key, made once (0600) with its public half beside it."""
    path = directory / PRIVATE_KEY_NAME
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        (directory / PUBLIC_KEY_NAME).write_text(base64.b64encode(public).decode() + "\n")
        return key
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return loaded


# The chain's head, shared by the service's processes (live_file.py): state, seq of the next
# record, first seq of the current file (its name), bytes in it, records since the last
# checkpoint, when that was (monotonic clock, system-wide), the last record's hash (hex).
_STATE = struct.Struct("<I")
_HEAD = struct.Struct("<IIQQQQd64s")
_FRESH, _CLEAN, _WRITING = 0, 1, 2
#: The name of the head's file in the live directory.
HEAD_FILE_NAME = "audit-head"
_PARTS_CACHE_SIZE = 4096


def _json_text(value: str) -> bytes:
    """`value` as the canonical encoder writes a string (ASCII, escaped, quoted)."""
    return _encode_string(value).encode()


class _Syncer:
    """Makes checkpoints durable off the request path: `sync` hands a duplicate of the file's
    descriptor to a thread that fsyncs it (each fsync takes milliseconds, which the request
    that made a checkpoint due would otherwise wait, with the event loop). `close` waits for
    every fsync handed over."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[int, tuple[int, int]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Files with an fsync queued and not yet begun: one more for the same file would add
        # nothing (it runs after this write anyway), so checkpoints due faster than the disk
        # syncs queue at most one per file, not one descriptor each.
        self._waiting: set[tuple[int, int]] = set()

    def sync(self, fd: int) -> None:
        """fsync `fd`'s file soon (the descriptor may be closed meanwhile: a duplicate is)."""
        info = os.fstat(fd)
        file = (info.st_dev, info.st_ino)
        with self._lock:
            if file in self._waiting:
                return
            self._waiting.add(file)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-fsync", daemon=True)
                self._thread.start()
            self._queue.put((os.dup(fd), file))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fd, file = item
            with self._lock:
                self._waiting.discard(file)  # a write after this point needs a new fsync
            try:
                os.fsync(fd)
            except OSError as error:
                log.warning("could not flush the audit log to disk: %s", error)
            finally:
                os.close(fd)

    def close(self) -> None:
        """Wait for the fsyncs handed over, and stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()


class AuditLog:
    """The service's audit log in `directory`: one chain, whichever process appends.

    Several processes of one service (its workers) append to the same chain: each record is
    written under the lock of the head file in `live` (the run's live directory), which holds
    the next sequence number, the last record's hash, the current file and its size. Without
    `live`, the head is this process's own (nothing else may write the directory then).
    A head marked as being written (its writer died between marking and finishing) or left by
    another run is rebuilt from the files, as at start.
    """

    def __init__(
        self,
        directory: Path,
        *,
        live: Path | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        checkpoint_records: int = DEFAULT_CHECKPOINT_RECORDS,
        checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
    ) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._directory = directory
        self._max_file_bytes = max_file_bytes
        self._checkpoint_records = checkpoint_records
        self._checkpoint_seconds = checkpoint_seconds
        self._key = _signing_key(directory)
        self._parts: dict[tuple[str | None, str | None, str, int, str], tuple[bytes, bytes, bytes]]
        self._parts = {}
        self._first = -1  # the first seq of the file self._fd is open on
        self._fd = -1
        self._stamp_second = -1
        self._stamp_prefix = b""
        self._syncer = _Syncer()
        self._shared = LiveFile(live / HEAD_FILE_NAME if live is not None else None, _HEAD.size)
        self._shared.lock()
        try:
            head = _HEAD.unpack_from(self._shared.memory)
            if head[0] != _CLEAN or not self._matches_files(first=head[3], size=head[4]):
                self._recover()  # the first process of this run, or a stale or torn head
            self._sync()
        finally:
            self._shared.unlock()

    def _matches_files(self, *, first: int, size: int) -> bool:
        """True when a clean head describes the newest file as it is (same run, same files)."""
        files = log_files(self._directory)
        if not files or files[-1].name != file_name(first):
            return False
        return files[-1].stat().st_size == size

    def _recover(self) -> None:
        """Rebuild the head from the files (under the lock)."""
        seq, head, current = self._resume()
        first = int(current.name.removeprefix(FILE_PREFIX).removesuffix(FILE_SUFFIX))
        self._open(first)
        size = os.fstat(self._fd).st_size
        if size and not _ends_a_line(current):
            # A writer died inside a record: end its torn line, or the next record would be
            # glued to it and lost with it (verification reports the torn one).
            size += os.write(self._fd, b"\n")
        state = _HEAD.unpack_from(self._shared.memory)
        unsigned = state[5] if state[0] == _WRITING else 0
        _HEAD.pack_into(
            self._shared.memory, 0, _CLEAN, 0, seq, first, size, unsigned, time.monotonic(),
            head.encode(),
        )  # fmt: skip

    def _resume(self) -> tuple[int, str, Path]:
        """Continue after the last whole record of the newest file (a torn line is left be:
        verification reports it)."""
        files = log_files(self._directory)
        if not files:
            return 0, GENESIS, self._directory / file_name(0)
        for path in reversed(files):  # the newest may still be empty after a rotation
            last = _last_record(path)
            if last is not None:
                seq, head = last
                return seq + 1, head, files[-1]
        first = files[-1].name.removeprefix(FILE_PREFIX).removesuffix(FILE_SUFFIX)
        return int(first), GENESIS, files[-1]

    def _open(self, first: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        path = self._directory / file_name(first)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        self._fd = os.open(path, flags, 0o600)
        self._first = first

    def _sync(self) -> tuple[int, int, int, int, float, bytes]:
        """The shared head (under the lock), with this process's file the current one and a
        new file started if the current one is full: (seq, first, size, unsigned, last
        checkpoint, hash)."""
        memory = self._shared.memory
        state, _pad, seq, first, size, unsigned, last, head = _HEAD.unpack_from(memory)
        if state != _CLEAN:
            self._recover()  # a writer died while appending
            state, _pad, seq, first, size, unsigned, last, head = _HEAD.unpack_from(memory)
        if size >= self._max_file_bytes:
            first, size = seq, 0
            self._open(first)
            size = os.fstat(self._fd).st_size
            _HEAD.pack_into(memory, 0, _CLEAN, 0, seq, first, size, unsigned, last, head)
        elif first != self._first:
            self._open(first)  # another process started a new file
        return seq, first, size, unsigned, last, head

    def _encode_parts(
        self, app: str | None, key: str | None, operation: str, provider: int, status: str
    ) -> tuple[bytes, bytes, bytes]:
        """What a record holds around its prev hash, sequence number and time, encoded once
        for each (app, key, operation, provider, status) seen (names are the clients' choice:
        the table is emptied when full, not grown)."""
        start = b'{"app":%s,"key":%s,"kind":"op","op":%s,"prev":"' % (
            b"null" if app is None else _json_text(app),
            b"null" if key is None else _json_text(key),
            _json_text(operation),
        )
        middle = b'","provider":%d,"seq":' % provider
        end = b',"status":%s,"time":"' % _json_text(status)
        encoded = (start, middle, end)
        if len(self._parts) >= _PARTS_CACHE_SIZE:
            self._parts.clear()
        self._parts[app, key, operation, provider, status] = encoded
        return encoded

    def _stamp(self, now: float) -> bytes:
        """`now` as the records' UTC time, in milliseconds (the date part made once a second)."""
        micros = round(now * 1_000_000)
        second, micro = divmod(micros, 1_000_000)
        if second != self._stamp_second:
            self._stamp_second = second
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._stamp_prefix = text.encode()
        return b"%s.%03d+00:00" % (self._stamp_prefix, micro // 1000)

    def record(
        self,
        *,
        app: str | None,
        operation: str,
        provider: int,
        key: str | None,
        status: str,
    ) -> None:
        """Append one operation's record (and a checkpoint when one is due)."""
        # The canonical encoding of {app, key, kind, op, prev, provider, seq, status, time},
        # keys sorted, written out: chain.encode of the same record gives the same bytes.
        parts = (app, key, operation, provider, status)
        encoded = self._parts.get(parts)
        if encoded is None:
            encoded = self._encode_parts(app, key, operation, provider, status)
        start, middle, end = encoded
        shared = self._shared
        shared.lock()
        try:
            state, _pad, seq, first, size, unsigned, last, head = _HEAD.unpack_from(shared.memory)
            if state != _CLEAN or first != self._first or size >= self._max_file_bytes:
                seq, first, size, unsigned, last, head = self._sync()
            line = b'%s%s%s%d%s%s"}' % (start, head, middle, seq, end, self._stamp(time.time()))
            self._append(line, seq, first, size, unsigned=unsigned + 1, last=last)
            now = time.monotonic()
            if unsigned + 1 >= self._checkpoint_records or not 0 <= now - last < (
                self._checkpoint_seconds
            ):
                self._checkpoint_locked()
        finally:
            shared.unlock()

    def checkpoint(self) -> None:
        """Sign the chain's head now (if anything is unsigned)."""
        self._shared.lock()
        try:
            if self._sync()[3]:
                self._checkpoint_locked()
        finally:
            self._shared.unlock()

    def close(self) -> None:
        """Sign what is unsigned and close the file."""
        if self._fd < 0:
            return
        self.checkpoint()
        self._syncer.close()  # the last checkpoint is on disk when this returns
        os.close(self._fd)
        self._fd = -1
        self._shared.close()

    def _checkpoint_locked(self) -> None:
        seq, first, size, _unsigned, _last, head = self._sync()
        signature = self._key.sign(checkpoint_message(seq, head.decode()))
        entry = {
            "kind": "checkpoint",
            "sig": base64.b64encode(signature).decode(),
            "seq": seq,
            "time": self._stamp(time.time()).decode(),
            "prev": head.decode(),
        }
        self._append(encode(entry), seq, first, size, unsigned=0, last=time.monotonic())
        self._syncer.sync(self._fd)

    def _append(
        self, line: bytes, seq: int, first: int, size: int, *, unsigned: int, last: float
    ) -> None:
        """Write one line and move the shared head past it (under the lock)."""
        memory = self._shared.memory
        _STATE.pack_into(memory, 0, _WRITING)
        try:
            written = os.write(self._fd, line + b"\n")
        except OSError:
            if os.fstat(self._fd).st_size == size:
                _STATE.pack_into(memory, 0, _CLEAN)  # nothing written: the head stands
            raise  # else the next writer rebuilds the head from the file
        if written != len(line) + 1:
            raise OSError(f"the audit log took {written} of {len(line) + 1} bytes")
        head = digest(line).encode()
        _HEAD.pack_into(memory, 0, _CLEAN, 0, seq + 1, first, size + written, unsigned, last, head)
