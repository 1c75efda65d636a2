"""Quota checks and the key store's per-owner usage, without a daemon."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tessera.service.authenticators import Application
from tessera.service.config import ConfigError, QuotaConfig, parse_config
from tessera.service.keystore import KeyRecord, KeyStore, Owner, StorageLimits, Usage
from tessera.service.quotas import Quotas
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import list_keys_pb2, psa_import_key_pb2
from tessera.wire.status import Status, StatusError

ALICE = Owner("alice", int(AuthType.DIRECT))
BOB = Owner("bob", int(AuthType.DIRECT))


def _record(owner: Owner, name: str, size: int = 10) -> KeyRecord:
    return KeyRecord(owner, 1, name, b"a" * 4, b"m" * (size - 4))


def test_usage_follows_inserts_deletes_and_rewraps(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite3")
    store.insert(_record(ALICE, "k1", 10))
    store.insert(_record(ALICE, "k2", 20))
    store.insert(_record(BOB, "k1", 7))
    assert store.usage(ALICE) == Usage(2, 30)
    store.rewrap(frozenset({1}), lambda record: record.material + b"xx")
    assert store.usage(ALICE) == Usage(2, 34)
    store.delete(ALICE, 1, "k1")
    assert store.usage(ALICE) == Usage(1, 22)
    store.delete(ALICE, 1, "k2")
    assert store.usage(ALICE) == Usage()
    assert store.usage(BOB) == Usage(1, 9)
    store.close()


def test_a_store_made_before_usage_was_kept_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite3"
    store = KeyStore(path)
    store.insert(_record(ALICE, "k1", 10))
    store.close()
    with sqlite3.connect(path) as db:  # as a store from before this change
        for trigger in ("insert", "delete", "update"):
            db.execute(f"DROP TRIGGER owner_usage_{trigger}")
        db.execute("DROP TABLE owner_usage")
    store = KeyStore(path)
    assert store.usage(ALICE) == Usage(1, 10)
    store.close()


def test_insert_enforces_the_limits_exactly(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite3")
    store.limits = StorageLimits(max_keys=2, max_bytes=25)
    store.insert(_record(ALICE, "k1", 10))
    with pytest.raises(StatusError) as error:
        store.insert(_record(ALICE, "k2", 16))  # 26 bytes in all
    assert error.value.status is Status.PSA_ERROR_INSUFFICIENT_STORAGE
    store.insert(_record(ALICE, "k2", 15))
    with pytest.raises(StatusError) as error:
        store.insert(_record(ALICE, "k3", 0))
    assert error.value.status is Status.PSA_ERROR_INSUFFICIENT_STORAGE
    store.insert(_record(BOB, "k1", 10))  # another owner has its own room
    assert store.usage(ALICE) == Usage(2, 25)
    store.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_is_per_application_and_refills(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite3")
    clock = _Clock()
    quotas = Quotas(QuotaConfig(requests_per_second=3), store, clock=clock)
    alice = Application("alice", AuthType.DIRECT, False)
    bob = Application("bob", AuthType.DIRECT, False)
    op = list_keys_pb2.Operation()
    for _ in range(3):
        quotas.check(alice, Opcode.LIST_KEYS, op)
    with pytest.raises(StatusError) as error:
        quotas.check(alice, Opcode.LIST_KEYS, op)
    assert error.value.status is Status.PSA_ERROR_INSUFFICIENT_MEMORY
    quotas.check(bob, Opcode.LIST_KEYS, op)
    quotas.check(None, Opcode.PING, op)  # no application, no quota
    clock.now = 1 / 3
    quotas.check(alice, Opcode.LIST_KEYS, op)
    store.close()


def test_an_import_larger_than_the_room_left_is_refused_before_work(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite3")
    quotas = Quotas(QuotaConfig(max_bytes=100), store)
    alice = Application("alice", AuthType.DIRECT, False)
    quotas.check(alice, Opcode.PSA_IMPORT_KEY, psa_import_key_pb2.Operation(data=b"x" * 50))
    with pytest.raises(StatusError) as error:
        big = psa_import_key_pb2.Operation(data=b"x" * 100)
        quotas.check(alice, Opcode.PSA_IMPORT_KEY, big)
    assert error.value.status is Status.PSA_ERROR_INSUFFICIENT_STORAGE
    store.close()


def test_quota_settings_are_validated() -> None:
    assert parse_config({}).quotas == QuotaConfig()
    quotas = parse_config({"quotas": {"max_keys": 5, "requests_per_second": 10}}).quotas
    assert (quotas.max_keys, quotas.requests_per_second) == (5, 10)
    with pytest.raises(ConfigError, match="unknown"):
        parse_config({"quotas": {"max_key": 5}})
    with pytest.raises(ConfigError, match="at least 1"):
        parse_config({"quotas": {"max_concurrent": 0}})
