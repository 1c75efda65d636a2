"""The audit log's format: one JSON record per line, each chained to the one before.

A record's hash is the SHA-256 of its line (canonical JSON: sorted keys, no spaces); the next
record carries it as `prev`, so changing, removing or reordering any record breaks the chain at
that point. A checkpoint record carries an Ed25519 signature, by a key only the service holds,
over the sequence number and the hash of the record before it: whoever rewrites the whole tail
after a checkpoint still cannot forge the next one. Files are named by the sequence number of
their first record (`audit-000000000042.log`); the chain runs on across them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
FILE_PREFIX = "audit-"
FILE_SUFFIX = ".log"
PUBLIC_KEY_NAME = "audit-signing.pub"


# One encoder for every record: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def encode(record: dict[str, Any]) -> bytes:
    """A record's line, without its newline (canonical, so its hash is reproducible)."""
    return _CANONICAL.encode(record).encode()


def digest(line: bytes) -> str:
    """The hash that the next record carries as `prev`."""
    return hashlib.sha256(line).hexdigest()


def checkpoint_message(seq: int, head: str) -> bytes:
    """What a checkpoint signs: its place in the chain and the hash it vouches for."""
    return f"tessera-audit-checkpoint:{seq}:{head}".encode()


def log_files(directory: Path) -> list[Path]:
    """The log files, oldest first."""
    return sorted(directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"))


def file_name(first_seq: int) -> str:
    """The name of a file whose first record has `first_seq`."""
    return f"{FILE_PREFIX}{first_seq:012d}{FILE_SUFFIX}"


@dataclass(frozen=True)
class Break:
    """Where the chain first fails to hold."""

    file: Path
    line: int
    reason: str


@dataclass
class ChainReport:
    """What verification found."""

    records: int = 0
    checkpoints: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    unsigned_tail: int = 0  # records after the last checkpoint (not yet vouched for)
    broken: Break | None = None
    files: list[Path] = field(default_factory=list)


def read_records(directory: Path) -> Iterator[tuple[Path, int, bytes, dict[str, Any] | None]]:
    """Every line of every file, oldest first: (file, line number, bytes, record or None)."""
    for path in log_files(directory):
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\n")
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                yield path, number, line, record if isinstance(record, dict) else None


def _load_public_key(directory: Path) -> Ed25519PublicKey | None:
    try:
        raw = base64.b64decode((directory / PUBLIC_KEY_NAME).read_text().strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (OSError, ValueError):
        return None


def verify_chain(directory: Path, public_key: Ed25519PublicKey | None = None) -> ChainReport:
    """Walk the whole chain; stop at the first break and say where it is."""
    key = public_key or _load_public_key(directory)
    report = ChainReport(files=log_files(directory))
    if key is None:
        report.broken = Break(directory / PUBLIC_KEY_NAME, 0, "no audit public key to verify with")
        return report
    head: str | None = None
    expected_seq: int | None = None
    for path, number, line, record in read_records(directory):
        reason = _check(record, line, head, expected_seq, key)
        if reason is not None:
            report.broken = Break(path, number, reason)
            return report
        assert record is not None
        seq = int(record["seq"])
        report.records += 1
        report.first_seq = seq if report.first_seq is None else report.first_seq
        report.last_seq = seq
        if record.get("kind") == "checkpoint":
            report.checkpoints += 1
            report.unsigned_tail = 0
        else:
            report.unsigned_tail += 1
        head, expected_seq = digest(line), seq + 1
    return report


def _check(
    record: dict[str, Any] | None,
    line: bytes,
    head: str | None,
    expected_seq: int | None,
    key: Ed25519PublicKey,
) -> str | None:
    if record is None:
        return "not a record (damaged or torn line)"
    if encode(record) != line:
        return "not in canonical form (edited)"
    seq = record.get("seq")
    if not isinstance(seq, int) or (expected_seq is not None and seq != expected_seq):
        return f"sequence {seq} where {expected_seq} was due (a record is missing or moved)"
    if head is not None and record.get("prev") != head:
        return "does not follow the record before it (that one was changed, or one removed)"
    if record.get("kind") == "checkpoint":
        signature = record.get("sig")
        try:
            raw = base64.b64decode(str(signature), validate=True)
            key.verify(raw, checkpoint_message(seq, str(record.get("prev"))))
        except (ValueError, InvalidSignature):
            return "checkpoint signature does not verify"
    return None
