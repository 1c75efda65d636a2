"""The audit log: a chain that holds, and every kind of tampering reported where it happens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tessera.service.audit import AuditLog, verify_chain
from tessera.service.audit.chain import encode, log_files


def write(directory: Path, count: int, **options: Any) -> None:
    audit = AuditLog(directory, checkpoint_seconds=3600, **options)
    for i in range(count):
        audit.record(
            app="jwt:alice", operation="PsaSignHash", provider=1, key=f"k{i}", status="SUCCESS"
        )
    audit.close()


def lines(directory: Path) -> tuple[Path, list[bytes]]:
    path = log_files(directory)[-1]
    return path, path.read_bytes().splitlines()


def test_a_written_log_verifies_and_holds_no_secrets(tmp_path: Path) -> None:
    write(tmp_path, 25, checkpoint_records=10)
    report = verify_chain(tmp_path)
    assert report.broken is None
    assert report.records == 25 + 3  # two due checkpoints and one at close
    assert report.checkpoints == 3 and report.unsigned_tail == 0
    _, content = lines(tmp_path)
    first = json.loads(content[0])
    assert set(first) == {"app", "key", "kind", "op", "prev", "provider", "seq", "status", "time"}
    assert (tmp_path / "audit-signing.key").stat().st_mode & 0o777 == 0o600
    assert log_files(tmp_path)[0].stat().st_mode & 0o777 == 0o600


def test_an_edited_record_is_the_break(tmp_path: Path) -> None:
    write(tmp_path, 8)
    path, content = lines(tmp_path)
    record = json.loads(content[3])
    record["status"] = "PSA_ERROR_NOT_PERMITTED"  # rewritten in canonical form: still caught
    content[3] = encode(record)
    path.write_bytes(b"\n".join(content) + b"\n")
    broken = verify_chain(tmp_path).broken
    assert broken is not None and broken.line == 5  # the record after it no longer follows
    assert "was changed" in broken.reason


def test_a_removed_record_and_a_forged_checkpoint_are_caught(tmp_path: Path) -> None:
    write(tmp_path, 8)
    path, content = lines(tmp_path)
    path.write_bytes(b"\n".join(content[:2] + content[3:]) + b"\n")
    broken = verify_chain(tmp_path).broken
    assert broken is not None and broken.line == 3 and "missing" in broken.reason

    forged = tmp_path / "forged"
    write(forged, 3)
    path, content = lines(forged)
    checkpoint = json.loads(content[-1])
    checkpoint["sig"] = "A" * 88
    content[-1] = encode(checkpoint)
    path.write_bytes(b"\n".join(content) + b"\n")
    broken = verify_chain(forged).broken
    assert broken is not None and broken.line == 4 and "signature" in broken.reason


def test_the_chain_runs_across_files_and_restarts(tmp_path: Path) -> None:
    write(tmp_path, 40, max_file_bytes=4096)
    write(tmp_path, 5)  # a second incarnation continues the chain
    assert len(log_files(tmp_path)) > 1
    report = verify_chain(tmp_path)
    assert report.broken is None and report.last_seq == report.records - 1

    _path, content = lines(tmp_path)
    torn = log_files(tmp_path)[-1]
    torn.write_bytes(b"\n".join(content) + b"\n" + content[0][:20])  # a crash mid-line
    broken = verify_chain(tmp_path).broken
    assert broken is not None and broken.file == torn and "torn" in broken.reason
