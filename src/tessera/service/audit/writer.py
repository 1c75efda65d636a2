"""Writing the audit log: one record per key operation, a signed checkpoint now and then.

Records hold who (authenticator and application), what (the operation), which key (provider and
name) and how it ended (the status): never key material, messages, signatures or tokens. Each is
one write() on a file opened with O_APPEND, so concurrent workers never interleave lines.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _now_text(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")


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


class AuditLog:
    """The service's audit log in `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
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
        self._lock = threading.Lock()
        self._seq, self._head, current = self._resume()
        self._unsigned = 0
        self._last_checkpoint = time.monotonic()
        self._fd = self._open(current)
        # Bytes in the current file: counted here rather than asked of the kernel per record.
        self._size = os.fstat(self._fd).st_size

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

    def _open(self, path: Path) -> int:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

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
        entry: dict[str, Any] = {
            "kind": "op",
            "app": app,
            "op": operation,
            "provider": provider,
            "key": key,
            "status": status,
        }
        with self._lock:
            self._append(entry)
            self._unsigned += 1
            due = self._unsigned >= self._checkpoint_records or (
                time.monotonic() - self._last_checkpoint >= self._checkpoint_seconds
            )
            if due:
                self._checkpoint_locked()

    def checkpoint(self) -> None:
        """Sign the chain's head now (if anything is unsigned)."""
        with self._lock:
            if self._unsigned:
                self._checkpoint_locked()

    def close(self) -> None:
        """Sign what is unsigned and close the file."""
        self.checkpoint()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _checkpoint_locked(self) -> None:
        signature = self._key.sign(checkpoint_message(self._seq, self._head))
        self._append({"kind": "checkpoint", "sig": base64.b64encode(signature).decode()})
        os.fsync(self._fd)
        self._unsigned = 0
        self._last_checkpoint = time.monotonic()

    def _append(self, entry: dict[str, Any]) -> None:
        if self._size >= self._max_file_bytes:
            os.close(self._fd)
            self._fd = self._open(self._directory / file_name(self._seq))
            self._size = os.fstat(self._fd).st_size
        entry = {**entry, "seq": self._seq, "time": _now_text(time.time()), "prev": self._head}
        line = encode(entry)
        self._size += os.write(self._fd, line + b"\n")
        self._head = digest(line)
        self._seq += 1
