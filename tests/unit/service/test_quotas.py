"""Quota checks and the key store's per-owner usage, without a daemon."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tessera.service.authenticators import Application
from tessera.service.config import ConfigError, QuotaConfig, parse_config
from tessera.service.keystore import KeyRecord, KeyStore, Owner, StorageLimits, Usage
from tessera.service.quotas import Quotas
from tessera.wire.opcodes import AuthType
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
    for _ in range(3):
        quotas.check(alice)
    with pytest.raises(StatusError) as error:
        quotas.check(alice)
    assert error.value.status is Status.PSA_ERROR_INSUFFICIENT_MEMORY
    quotas.check(bob)
    quotas.check(None)  # no application, no quota
    clock.now = 1 / 3
    quotas.check(alice)
    quotas.close()
    store.close()


def test_processes_share_one_bucket_by_leases(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite3")
    clock = _Clock()
    config = QuotaConfig(requests_per_second=1000)  # leases of 10 tokens
    one, two = (Quotas(config, store, live=tmp_path / "live", clock=clock) for _ in range(2))
    alice = Application("alice", AuthType.DIRECT, False)

    def admitted(quotas: Quotas, tries: int) -> int:
        count = 0
        for _ in range(tries):
            try:
                quotas.check(alice)
            except StatusError:
                continue
            count += 1
        return count

    # At one instant, both together get the burst, not a burst each.
    assert admitted(one, 600) + admitted(two, 600) == 1000
    # 50 ms later, 50 tokens have come back: one takes them all, in leases.
    clock.now = 0.05
    assert admitted(one, 100) == 50
    assert admitted(two, 100) == 0
    # What is left of an expired lease goes back to the bucket at the next take.
    clock.now = 0.1
    assert admitted(one, 1) == 1  # a lease of 10 taken from 50: 40 left, 9 unused here
    clock.now = 0.2
    assert admitted(one, 1) == 1  # 40 + 100 refilled + 9 given back, 10 taken again
    assert admitted(two, 200) == 139
    one.close()
    two.close()
    store.close()


def test_quota_settings_are_validated() -> None:
    assert parse_config({}).quotas == QuotaConfig()
    quotas = parse_config({"quotas": {"max_keys": 5, "requests_per_second": 10}}).quotas
    assert (quotas.max_keys, quotas.requests_per_second) == (5, 10)
    with pytest.raises(ConfigError, match="unknown"):
        parse_config({"quotas": {"max_key": 5}})
    with pytest.raises(ConfigError, match="at least 1"):
        parse_config({"quotas": {"max_concurrent": 0}})


def test_a_worker_whose_clock_reading_predates_another_s_update_refills_nothing(
    tmp_path: Path,
) -> None:
    """A worker reads its clock, then waits for the table's lock while another worker takes
    tokens with a later reading: that is no time gone back, and no reason for a full bucket."""
    store = KeyStore(tmp_path / "keys.sqlite3")
    late, early = _Clock(), _Clock()
    config = QuotaConfig(requests_per_second=100)  # leases of 1 token
    ahead = Quotas(config, store, live=tmp_path / "live", clock=late)
    behind = Quotas(config, store, live=tmp_path / "live", clock=early)
    alice = Application("alice", AuthType.DIRECT, False)
    late.now = 1.0
    for _ in range(100):  # the whole burst, taken at t = 1.0
        ahead.check(alice)
    early.now = 0.999  # read just before, applied just after
    with pytest.raises(StatusError):
        behind.check(alice)
    ahead.close()
    behind.close()
    store.close()
