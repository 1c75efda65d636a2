"""Fixtures for the trust tests: a fake clock, an authority, and a store that trusts it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.store import TrustPolicy, TrustStore
from tests.unit.trust.helpers import FakeClock, self_peer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def authority(clock: FakeClock) -> RootAuthority:
    return RootAuthority.generate("Tessera test root", clock=clock)


@pytest.fixture
def intermediate(authority: RootAuthority) -> Intermediate:
    return authority.issue_intermediate(timedelta(hours=1))


@pytest.fixture
def store(clock: FakeClock) -> TrustStore:
    return TrustStore(TrustPolicy(), clock=clock)


@pytest.fixture
def trusted(store: TrustStore, authority: RootAuthority, intermediate: Intermediate) -> TrustStore:
    """A store holding `authority`'s root and `intermediate`, shared by this process."""
    peer = self_peer()
    store.accept_root(authority.der, peer)
    store.accept_intermediate(intermediate.der, peer)
    return store
