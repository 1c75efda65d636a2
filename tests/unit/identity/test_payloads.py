"""The identity provider reads signed payloads as their types, once each, from a real store."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from tessera.identity.payloads import PayloadVerifier
from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.payloads import ClientDefinition, Proof, Removal
from tessera.trust.peer import Incarnation, peer_from_credentials
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.status import Status, StatusError


@pytest.fixture
def signer() -> tuple[Intermediate, PayloadVerifier]:
    root = RootAuthority.generate("test orchestrator")
    intermediate = root.issue_intermediate(timedelta(minutes=10))
    store = TrustStore(TrustPolicy(uid=os.getuid()))
    me = peer_from_credentials(os.getpid(), os.getuid(), os.getgid())
    store.accept_root(root.der, me)
    store.accept_intermediate(intermediate.der, me)
    return intermediate, PayloadVerifier(store, max_age=120)


def test_a_payload_is_read_as_its_type_and_only_once(
    signer: tuple[Intermediate, PayloadVerifier],
) -> None:
    intermediate, verifier = signer
    removal = Removal("app/0", Incarnation(10, 20))
    token = intermediate.sign_jws(removal.to_claims())
    assert verifier.verify(token, Removal) == removal
    with pytest.raises(StatusError) as caught:
        verifier.verify(token, Removal)
    assert caught.value.status is Status.TRUST_STALE_PAYLOAD


def test_a_payload_of_another_kind_is_refused(
    signer: tuple[Intermediate, PayloadVerifier],
) -> None:
    intermediate, verifier = signer
    token = intermediate.sign_jws(ClientDefinition("app/0", "app").to_claims())
    with pytest.raises(StatusError) as caught:
        verifier.verify(token, Proof)
    assert caught.value.status is Status.TRUST_BAD_SIGNATURE
    assert verifier.verify(token, ClientDefinition).name == "app"  # not used up by the refusal
