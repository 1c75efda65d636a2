"""Revocation lists at the trusting side: what a TrustStore installs, keeps and refuses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.errors import TrustError
from tessera.trust.peer import Incarnation
from tessera.trust.revocation import MAX_REVOKED, revocation_claims
from tessera.trust.store import TrustStore
from tessera.wire.status import Status
from tests.unit.trust.helpers import START, FakeClock, peer_for, self_peer

SUBJECT = "spiffe://example.org/app"
AUD = "tessera"
UNTIL = (START + timedelta(minutes=5)).timestamp()


def token(intermediate: Intermediate, grant: str) -> str:
    return intermediate.issue_token(
        subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5), token_id=f"{grant}.x1"
    )


def signed(intermediate: Intermediate, serial: int, revoked: dict[str, float]) -> str:
    return intermediate.sign_jws(revocation_claims(serial, revoked))


def refused(store: TrustStore, jwt: str) -> Status:
    with pytest.raises(TrustError) as caught:
        store.verify_token(jwt, audience=AUD)
    return caught.value.status


def test_a_revoked_grant_refuses_its_tokens_only(
    trusted: TrustStore, intermediate: Intermediate
) -> None:
    gone, kept = token(intermediate, "gone"), token(intermediate, "kept")
    assert trusted.verify_token(gone, audience=AUD).subject == SUBJECT
    generation = trusted.generation
    trusted.accept_revocations(signed(intermediate, 1, {"gone": UNTIL}), self_peer())
    assert trusted.generation > generation  # verified-token caches start over
    assert refused(trusted, gone) is Status.TRUST_STALE_PAYLOAD
    assert trusted.verify_token(kept, audience=AUD).subject == SUBJECT
    # the grant is a prefix up to a dot, not any prefix
    assert trusted.verify_token(token(intermediate, "gonex"), audience=AUD)


def test_an_older_list_does_not_undo_a_newer_one(
    trusted: TrustStore, intermediate: Intermediate
) -> None:
    gone = token(intermediate, "gone")
    trusted.accept_revocations(signed(intermediate, 5, {"gone": UNTIL}), self_peer())
    trusted.accept_revocations(signed(intermediate, 4, {}), self_peer())  # crossed on the wire
    assert refused(trusted, gone) is Status.TRUST_STALE_PAYLOAD
    assert trusted.revocation_serial == 5


def test_lists_come_from_the_root_holder_signed_by_the_current_intermediate(
    trusted: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    listing = signed(intermediate, 1, {"gone": UNTIL})
    stranger = peer_for(Incarnation(1, 1))
    with pytest.raises(TrustError) as caught:
        trusted.accept_revocations(listing, stranger)
    assert caught.value.status is Status.TRUST_PEER_NOT_ALLOWED
    other = authority.issue_intermediate(timedelta(hours=1))
    with pytest.raises(TrustError) as caught:
        trusted.accept_revocations(signed(other, 1, {"gone": UNTIL}), self_peer())
    assert caught.value.status is Status.TRUST_UNKNOWN_SIGNER
    forged = signed(intermediate, 1, {"gone": UNTIL})[:-4] + "AAAA"
    with pytest.raises(TrustError):
        trusted.accept_revocations(forged, self_peer())
    assert trusted.revocation_serial == 0


@pytest.mark.parametrize(
    "claims",
    [
        {"kind": "tessera/client-removal", "serial": 1, "revoked": {}},
        {"kind": "tessera/revocation-list", "revoked": {}},
        {"kind": "tessera/revocation-list", "serial": 1, "revoked": {"a.b": 1.0}},
        {"kind": "tessera/revocation-list", "serial": 1, "revoked": {"a": "never"}},
        {"kind": "tessera/revocation-list", "serial": 1, "revoked": [1]},
        {
            "kind": "tessera/revocation-list",
            "serial": 1,
            "revoked": {f"g{i}": 1.0 for i in range(MAX_REVOKED + 1)},
        },
    ],
)
def test_malformed_lists_are_refused(
    trusted: TrustStore, intermediate: Intermediate, claims: dict[str, Any]
) -> None:
    with pytest.raises(TrustError) as caught:
        trusted.accept_revocations(intermediate.sign_jws(claims), self_peer())
    assert caught.value.status is Status.TRUST_BAD_SIGNATURE


def test_a_stale_list_is_refused(
    trusted: TrustStore, intermediate: Intermediate, clock: FakeClock
) -> None:
    listing = signed(intermediate, 1, {"gone": UNTIL})
    clock.advance(timedelta(minutes=3))
    with pytest.raises(TrustError) as caught:
        trusted.accept_revocations(listing, self_peer())
    assert caught.value.status is Status.TRUST_STALE_PAYLOAD


def test_a_list_attached_to_an_intermediate_comes_with_it(
    store: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    """As a restarted service receives them: the tokens become valid again, the revoked not."""
    store.accept_root(authority.der, self_peer())
    gone, kept = token(intermediate, "gone"), token(intermediate, "kept")
    store.accept_intermediate(
        intermediate.der, self_peer(), signed(intermediate, 3, {"gone": UNTIL})
    )
    assert refused(store, gone) is Status.TRUST_STALE_PAYLOAD
    assert store.verify_token(kept, audience=AUD)
    # re-shared with a newer list: installed; with the same intermediate and none: kept
    store.accept_intermediate(intermediate.der, self_peer(), signed(intermediate, 4, {}))
    assert store.verify_token(gone, audience=AUD)
    store.accept_revocations(signed(intermediate, 5, {"gone": UNTIL}), self_peer())
    store.accept_intermediate(intermediate.der, self_peer())
    assert refused(store, gone) is Status.TRUST_STALE_PAYLOAD


def test_a_bad_attached_list_keeps_the_intermediate_out(
    store: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    store.accept_root(authority.der, self_peer())
    other = authority.issue_intermediate(timedelta(hours=1))
    with pytest.raises(TrustError):
        store.accept_intermediate(intermediate.der, self_peer(), signed(other, 1, {}))
    assert store.current_kid is None


def test_a_new_signer_starts_a_new_list(
    trusted: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    trusted.accept_revocations(signed(intermediate, 7, {"gone": UNTIL}), self_peer())
    fresh = authority.issue_intermediate(timedelta(hours=1))
    trusted.accept_intermediate(fresh.der, self_peer(), signed(fresh, 2, {}))
    assert trusted.revocation_serial == 2  # a fresh intermediate's list, whatever its serial
    assert trusted.verify_token(token(fresh, "gone"), audience=AUD)
    newer = authority.issue_intermediate(timedelta(hours=1))
    trusted.accept_intermediate(newer.der, self_peer())
    assert trusted.revocation_serial == 0


def test_entries_end_once_their_tokens_cannot_pass(
    trusted: TrustStore, intermediate: Intermediate, clock: FakeClock
) -> None:
    soon = (START + timedelta(seconds=30)).timestamp()
    trusted.accept_revocations(signed(intermediate, 1, {"a": soon, "b": UNTIL}), self_peer())
    clock.advance(timedelta(seconds=100))  # past `soon` and any leeway
    trusted.accept_revocations(signed(intermediate, 2, {"a": soon, "b": UNTIL}), self_peer())
    gone_a = token(intermediate, "a")  # issued now: a token of an ended entry passes again
    assert trusted.verify_token(gone_a, audience=AUD)
    assert refused(trusted, token(intermediate, "b")) is Status.TRUST_STALE_PAYLOAD
