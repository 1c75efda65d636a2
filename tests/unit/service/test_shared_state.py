"""Several service processes on one state directory: what one does, the others see at once.

Each worker process builds its own assembly (`build(config)`): its own SQLite connection, audit
writer and quotas over the same files. Two assemblies in one test are two such workers (their
connections, maps and locks are as separate as two processes'); the audit test also runs real
processes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.client.specs import ECDSA_P256
from tessera.service.audit import AuditLog, read_records, verify_chain
from tessera.service.audit.chain import digest, encode, log_files
from tessera.service.audit.writer import _HEAD, _WRITING, HEAD_FILE_NAME
from tessera.service.builder import Assembly, build
from tessera.service.config import parse_config
from tessera.service.keystore import KeyRecord, KeyStore, Owner, StorageLimits
from tessera.wire.framing import Frame, FrameReader
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    psa_algorithm_pb2,
    psa_destroy_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_sign_hash_pb2,
)
from tessera.wire.status import Status
from tests.support import direct, request_bytes

ALICE = Owner("alice", int(AuthType.DIRECT))


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Assembly, Assembly]]:
    config = parse_config(
        {
            "core_settings": {"state_dir": str(tmp_path / "state")},
            "authenticator": {"auth_types": ["direct"]},
            "quotas": {"requests_per_second": 1000, "max_keys": 3},
        }
    )
    first = build(config)
    second = build(config)
    yield first, second
    second.close()
    first.close()


def _call(worker: Assembly, opcode: Opcode, body: bytes) -> tuple[Status, bytes]:
    data = request_bytes(opcode, body, provider=1, **direct("alice"))
    frame = FrameReader().feed(data)[0]
    assert isinstance(frame, Frame)
    response = worker.dispatcher.handle(frame, None)
    return Status(int.from_bytes(response[32:34], "little")), response[36:]


def _generate(worker: Assembly, name: str) -> Status:
    op = psa_generate_key_pb2.Operation(key_name=name, attributes=ECDSA_P256.attributes())
    return _call(worker, Opcode.PSA_GENERATE_KEY, op.SerializeToString())[0]


def _destroy(worker: Assembly, name: str) -> Status:
    op = psa_destroy_key_pb2.Operation(key_name=name)
    return _call(worker, Opcode.PSA_DESTROY_KEY, op.SerializeToString())[0]


def _sign(worker: Assembly, name: str) -> Status:
    alg = psa_algorithm_pb2.Algorithm.AsymmetricSignature()
    alg.ecdsa.hash_alg.specific = psa_algorithm_pb2.Algorithm.Hash.SHA_256
    op = psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=bytes(32))
    return _call(worker, Opcode.PSA_SIGN_HASH, op.SerializeToString())[0]


def _public(worker: Assembly, name: str) -> bytes:
    op = psa_export_public_key_pb2.Operation(key_name=name)
    status, body = _call(worker, Opcode.PSA_EXPORT_PUBLIC_KEY, op.SerializeToString())
    assert status is Status.SUCCESS
    return psa_export_public_key_pb2.Result.FromString(body).data


def test_a_key_destroyed_by_one_worker_is_gone_in_the_other_at_once(
    two_workers: tuple[Assembly, Assembly],
) -> None:
    first, second = two_workers
    assert _generate(first, "k") is Status.SUCCESS
    for _ in range(3):  # the second has the row and the opened key cached now
        assert _sign(second, "k") is Status.SUCCESS
    old = _public(second, "k")
    assert _destroy(first, "k") is Status.SUCCESS
    assert _sign(second, "k") is Status.PSA_ERROR_DOES_NOT_EXIST
    assert _generate(first, "k") is Status.SUCCESS  # the same name, another key
    assert _sign(second, "k") is Status.SUCCESS
    assert _public(second, "k") == _public(first, "k") != old
    # And the other way round: the second's own destruction is seen by the first.
    assert _destroy(second, "k") is Status.SUCCESS
    assert _sign(first, "k") is Status.PSA_ERROR_DOES_NOT_EXIST


def test_the_key_quota_holds_across_workers(two_workers: tuple[Assembly, Assembly]) -> None:
    first, second = two_workers
    assert _generate(first, "a") is Status.SUCCESS
    assert _generate(second, "b") is Status.SUCCESS
    assert _generate(first, "c") is Status.SUCCESS
    assert _generate(second, "d") is Status.PSA_ERROR_INSUFFICIENT_STORAGE
    assert _generate(first, "d") is Status.PSA_ERROR_INSUFFICIENT_STORAGE
    assert _destroy(second, "a") is Status.SUCCESS
    assert _generate(first, "d") is Status.SUCCESS


def test_the_request_rate_holds_across_workers(two_workers: tuple[Assembly, Assembly]) -> None:
    first, second = two_workers
    start = time.monotonic()
    assert _generate(first, "k") is Status.SUCCESS
    statuses = [_sign(worker, "k") for _ in range(700) for worker in (first, second)]
    elapsed = time.monotonic() - start
    # 1000 per second with bursts of one second's worth, for both together (not 1000 each):
    # at most the burst, what refilled meanwhile and one lease (10) per worker; at least the
    # burst less the generation and what the workers' last leases left unspent.
    served = statuses.count(Status.SUCCESS)
    assert 1000 - 1 - 2 * 10 <= served <= 1000 + 1000 * elapsed + 2 * 10, (served, elapsed)
    assert statuses.count(Status.PSA_ERROR_INSUFFICIENT_MEMORY) == 1400 - served


@pytest.mark.parametrize("watch", ["shared memory", "data_version"])
def test_cached_rows_follow_the_other_connections_commits(tmp_path: Path, watch: str) -> None:
    path = tmp_path / "keys.sqlite3"
    writer, reader = KeyStore(path), KeyStore(path)
    assert reader._watch.shared_memory
    if watch == "data_version":
        reader._watch.close()  # the fallback: the pragma
        assert not reader._watch.shared_memory
    writer.insert(KeyRecord(ALICE, 1, "k", b"attrs", b"first"))
    assert reader.get(ALICE, 1, "k") is reader.get(ALICE, 1, "k")  # cached
    writer.delete(ALICE, 1, "k")
    with pytest.raises(Exception, match="no such key"):
        reader.get(ALICE, 1, "k")
    writer.insert(KeyRecord(ALICE, 1, "k", b"attrs", b"second"))
    assert reader.get(ALICE, 1, "k").material == b"second"
    # The reader's own writes are forgotten too (they do not move data_version).
    reader.delete(ALICE, 1, "k")
    reader.insert(KeyRecord(ALICE, 1, "k", b"attrs", b"third"))
    assert reader.get(ALICE, 1, "k").material == b"third"
    reader.close()
    writer.close()


def test_the_storage_rule_is_the_stores_and_holds_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    first, second = KeyStore(path), KeyStore(path)
    for store in (first, second):
        store.limits = StorageLimits(max_keys=3, max_bytes=30)
    first.insert(KeyRecord(ALICE, 1, "a", b"aa", b"m" * 8))  # 10 bytes
    second.insert(KeyRecord(ALICE, 1, "b", b"aa", b"m" * 18))  # 30: exactly the limit
    with pytest.raises(Exception, match="storage quota") as error:
        first.insert(KeyRecord(ALICE, 1, "c", b"", b"m"))
    assert getattr(error.value, "status", None) is Status.PSA_ERROR_INSUFFICIENT_STORAGE
    second.delete(ALICE, 1, "b")
    first.insert(KeyRecord(ALICE, 1, "c", b"", b"m"))
    second.insert(KeyRecord(ALICE, 1, "d", b"", b"m"))
    with pytest.raises(Exception, match="key count quota"):
        first.insert(KeyRecord(ALICE, 1, "e", b"", b"m"))
    second.close()
    first.close()


def _audit_worker(directory: str, live: str, tag: str, count: int) -> None:
    audit = AuditLog(Path(directory), live=Path(live), max_file_bytes=8192, checkpoint_records=50)
    for i in range(count):
        audit.record(
            app=f"direct:{tag}", operation="PsaSignHash", provider=1, key=f"k{i}", status="SUCCESS"
        )
    audit.close()


def test_audit_writers_in_several_processes_make_one_chain(tmp_path: Path) -> None:
    directory, live = tmp_path / "audit", tmp_path / "live"
    _audit_worker(str(directory), str(live), "setup", 1)  # the signing key, made once
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_audit_worker, args=(str(directory), str(live), tag, 400))
        for tag in ("one", "two", "three")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    report = verify_chain(directory)
    assert report.broken is None, report.broken
    assert report.unsigned_tail == 0 and report.checkpoints >= 1200 // 50
    assert len(report.files) > 3  # rotated while several wrote
    apps = [
        record["app"] for _, _, _, record in read_records(directory) if record and "app" in record
    ]
    assert sorted(set(apps)) == ["direct:one", "direct:setup", "direct:three", "direct:two"]
    assert len(apps) == 1201


def test_a_writer_that_died_mid_record_leaves_a_head_the_next_one_repairs(tmp_path: Path) -> None:

    directory, live = tmp_path / "audit", tmp_path / "live"

    def one(audit: AuditLog, key: str) -> None:
        audit.record(app="direct:a", operation="PsaSignHash", provider=1, key=key, status="SUCCESS")

    audit = AuditLog(directory, live=live, checkpoint_records=1000)
    one(audit, "k0")
    head_file = live / HEAD_FILE_NAME
    # Died after marking, before writing: the record is not there, the chain goes on.
    raw = bytearray(head_file.read_bytes())
    raw[0:4] = _WRITING.to_bytes(4, "little")
    head_file.write_bytes(raw)
    one(audit, "k1")
    # Died after writing, before moving the head on: the next record follows the written one.
    path = log_files(directory)[-1]
    last = path.read_bytes().splitlines()[-1]
    seq = _HEAD.unpack_from(head_file.read_bytes())[2]
    written = encode(
        {
            "app": "direct:dead",
            "key": "k",
            "kind": "op",
            "op": "PsaSignHash",
            "prev": digest(last),
            "provider": 1,
            "seq": seq,
            "status": "SUCCESS",
            "time": "2026-01-01T00:00:00.000+00:00",
        }
    )
    with path.open("ab") as handle:
        handle.write(written + b"\n")
    raw = bytearray(head_file.read_bytes())
    raw[0:4] = _WRITING.to_bytes(4, "little")
    head_file.write_bytes(raw)
    one(audit, "k2")
    audit.close()
    report = verify_chain(directory)
    assert report.broken is None, report.broken
    assert report.records == 5  # k0, k1, the dead writer's, k2, the closing checkpoint
    assert hashlib.sha256(written).hexdigest() in path.read_text()


def test_the_fast_record_encoding_is_the_canonical_one(tmp_path: Path) -> None:
    names = ["plain", 'quo"te\\', "ünï\u2603", "tab\tnl\n\x00", "\U0001f600", "a" * 300]
    audit = AuditLog(tmp_path, checkpoint_records=1000)
    for name in names:
        audit.record(
            app=f"jwt:{name}",
            operation="PsaSignHash",
            provider=7,
            key=name,
            status="PSA_ERROR_NOT_PERMITTED",
        )
    audit.record(app=None, operation="ListClients", provider=0, key=None, status="SUCCESS")
    audit.close()
    records = [(line, record) for _, _, line, record in read_records(tmp_path)]
    keys = []
    for line, record in records:
        assert record is not None and encode(record) == line
        keys.append(record.get("key"))
    assert keys[: len(names) + 1] == [*names, None]


_SHM_LOCK_PROBE = """
import fcntl, os, struct, sys
# struct flock on Linux x86-64/aarch64: type, whence, start, len, pid (padded to 32 bytes)
layout = "hh4xqqi4x"
fd = os.open(sys.argv[1], os.O_RDWR)
query = struct.pack(layout, fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
kind, _, _, _, pid = struct.unpack(layout, answer)
print(pid if kind != fcntl.F_UNLCK else 0)
"""


def test_the_change_watch_keeps_sqlite_s_locks_on_the_index(tmp_path: Path) -> None:
    """SQLite marks the -shm file in use with a read lock (byte 128) that another process must
    see, or it rebuilds the index under us; closing any descriptor of that file in this process
    would drop the lock, so the watch keeps its own open until the connection closes."""
    import os
    import subprocess
    import sys

    store = KeyStore(tmp_path / "keys.sqlite3")
    try:
        store.usage(ALICE)  # a read: the connection maps the index and locks it
        shm = tmp_path / "keys.sqlite3-shm"
        probe = subprocess.run(
            [sys.executable, "-c", _SHM_LOCK_PROBE, str(shm)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert int(probe.stdout) == os.getpid()
    finally:
        store.close()


def test_a_record_torn_by_a_dying_writer_costs_no_other_record(tmp_path: Path) -> None:
    directory, live = tmp_path / "audit", tmp_path / "live"
    audit = AuditLog(directory, live=live, checkpoint_records=1000)
    audit.record(app="direct:a", operation="PsaSignHash", provider=1, key="k0", status="SUCCESS")
    path = log_files(directory)[-1]
    with path.open("ab") as handle:  # killed halfway through its write()
        handle.write(b'{"app":"direct:dead","kind":"op","op":"PsaSi')
    head_file = live / HEAD_FILE_NAME
    raw = bytearray(head_file.read_bytes())
    raw[0:4] = _WRITING.to_bytes(4, "little")
    head_file.write_bytes(raw)
    audit.record(app="direct:a", operation="PsaSignHash", provider=1, key="k1", status="SUCCESS")
    audit.close()
    lines = path.read_bytes().splitlines()
    assert lines[1].startswith(b'{"app":"direct:dead"')  # the torn one, on a line of its own
    assert b'"key":"k1"' in lines[2]  # the next record whole, after it
    records = [r for _, _, _, r in read_records(directory) if r and r.get("key") == "k1"]
    assert len(records) == 1
