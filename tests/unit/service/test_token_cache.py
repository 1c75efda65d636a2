"""The verified-token cache of the JWT authenticators: never a token trust no longer admits.

Two trust stores on one live directory stand for two worker processes of one run: the
authenticator of one caches a token, and a change of trust through the other must end it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.service.authenticators.jwt_svid import JwtSvidAuthenticator
from tessera.service.authenticators.jwt_token import TokenAuthenticator
from tessera.service.authenticators.token_cache import TokenCache
from tessera.trust.authority import RootAuthority
from tessera.trust.peer import Peer
from tessera.trust.revocation import revocation_claims
from tessera.trust.shared import SharedTrustState
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.status import Status, StatusError
from tests.unit.trust.helpers import FakeClock, dead_incarnation, forge, peer_for, self_peer
from tests.unit.trust.test_bundle import jwk_of

AUD = "tessera"
SUBJECT = "spiffe://example.org/app"
LEEWAY = 5.0


class Run:
    """One service run: a live directory, two workers' stores, the identity provider's keys."""

    def __init__(self, live: Path, clock: FakeClock) -> None:
        self.clock = clock
        self.stores = [
            TrustStore(TrustPolicy(uid=os.getuid()), clock=clock, shared=SharedTrustState(live))
            for _ in range(2)
        ]
        self.authority = RootAuthority.generate("identity provider", clock=clock)
        self.intermediate = self.authority.issue_intermediate(timedelta(hours=1))
        self.peer = self_peer()
        self.stores[0].accept_root(self.authority.der, self.peer)
        self.stores[0].accept_intermediate(self.intermediate.der, self.peer)

    def authenticator(self, index: int = 1, **options: Any) -> TokenAuthenticator:
        def now() -> float:
            return self.clock.now.timestamp()

        return TokenAuthenticator(
            self.stores[index], audience=AUD, leeway=LEEWAY, clock=now, **options
        )

    def token(self, grant: str = "g", lifetime: timedelta = timedelta(minutes=5)) -> bytes:
        return self.intermediate.issue_token(
            subject=SUBJECT, audience=AUD, lifetime=lifetime, token_id=f"{grant}.t"
        ).encode()


@pytest.fixture
def run(tmp_path: Path) -> Run:
    live = tmp_path / "live"
    live.mkdir(mode=0o700)
    return Run(live, FakeClock())


def _refused(authenticate: Callable[[bytes, None], str], token: bytes) -> Status:
    with pytest.raises(StatusError) as caught:
        authenticate(token, None)
    return caught.value.status


def test_a_token_is_verified_once_then_served_from_the_cache(run: Run) -> None:
    authenticator = run.authenticator()
    token = run.token()
    assert authenticator.authenticate(token, None) == SUBJECT
    assert len(authenticator.cache) == 1
    assert authenticator.authenticate(token, None) == SUBJECT
    assert len(authenticator.cache) == 1
    # A token that differs in one byte is not the cached one.
    tampered = token[:-2] + (b"A" if token[-2:-1] != b"A" else b"B") + token[-1:]
    assert _refused(authenticator.authenticate, tampered) is Status.AUTHENTICATION_ERROR


def test_a_rotation_through_another_worker_ends_the_cached_token(run: Run) -> None:
    authenticator = run.authenticator(1)
    token = run.token()
    assert authenticator.authenticate(token, None) == SUBJECT
    newer = run.authority.issue_intermediate(timedelta(hours=1))
    run.stores[0].accept_intermediate(newer.der, run.peer)  # the other worker
    assert _refused(authenticator.authenticate, token) is Status.AUTHENTICATION_ERROR
    fresh = newer.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    assert authenticator.authenticate(fresh.encode(), None) == SUBJECT


def test_a_revocation_through_another_worker_ends_the_cached_token(run: Run) -> None:
    authenticator = run.authenticator(1)
    gone, kept = run.token("gone"), run.token("kept")
    assert authenticator.authenticate(gone, None) == SUBJECT
    assert authenticator.authenticate(kept, None) == SUBJECT
    until = (run.clock.now + timedelta(minutes=10)).timestamp()
    listing = run.intermediate.sign_jws(revocation_claims(1, {"gone": until}))
    run.stores[0].accept_revocations(listing, run.peer)
    assert _refused(authenticator.authenticate, gone) is Status.AUTHENTICATION_ERROR
    assert authenticator.authenticate(kept, None) == SUBJECT


def test_a_new_root_through_another_worker_ends_the_cached_token(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir(mode=0o700)
    clock = FakeClock()
    stores = [
        TrustStore(TrustPolicy(uid=os.getuid()), clock=clock, shared=SharedTrustState(live))
        for _ in range(2)
    ]
    old_holder: Peer = peer_for(dead_incarnation())  # the identity provider, since restarted
    authority = RootAuthority.generate("before", clock=clock)
    intermediate = authority.issue_intermediate(timedelta(hours=1))
    stores[0].accept_root(authority.der, old_holder)
    stores[0].accept_intermediate(intermediate.der, old_holder)

    def now() -> float:
        return clock.now.timestamp()

    authenticator = TokenAuthenticator(stores[1], audience=AUD, leeway=LEEWAY, clock=now)
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    assert authenticator.authenticate(token.encode(), None) == SUBJECT
    stores[0].accept_root(RootAuthority.generate("after", clock=clock).der, self_peer())
    # No intermediate under the new root yet: the client is told to wait for trust.
    assert _refused(authenticator.authenticate, token.encode()) is Status.TRUST_NO_ROOT


def test_a_cached_token_ends_at_exp_plus_the_leeway(run: Run) -> None:
    authenticator = run.authenticator()
    token = run.token(lifetime=timedelta(minutes=5))
    assert authenticator.authenticate(token, None) == SUBJECT
    claims = jwt.decode(token, options={"verify_signature": False})
    exp = claims["exp"]
    run.clock.now = datetime.fromtimestamp(exp + LEEWAY - 0.5, UTC)
    assert authenticator.authenticate(token, None) == SUBJECT
    run.clock.now = datetime.fromtimestamp(exp + LEEWAY, UTC)
    assert _refused(authenticator.authenticate, token) is Status.AUTHENTICATION_ERROR


def test_a_cached_token_ends_with_its_intermediate(run: Run) -> None:
    # A token whose exp lies beyond its signer's end (the identity provider never issues
    # one; a verifier must not rely on that): the intermediate's end bounds the entry.
    not_after = run.intermediate.not_after
    header = {"alg": "ES256", "kid": run.stores[0].current_kid, "typ": "JWT"}
    claims = {
        "sub": SUBJECT,
        "aud": AUD,
        "exp": (not_after + timedelta(hours=2)).timestamp(),
        "iat": run.clock.now.timestamp(),
    }
    key = run.intermediate._key  # the signing key (no public accessor: it never leaves)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    token = forge(key, header, claims).encode()
    authenticator = run.authenticator()
    assert authenticator.authenticate(token, None) == SUBJECT
    run.clock.now = not_after + timedelta(seconds=1)
    assert _refused(authenticator.authenticate, token) is Status.AUTHENTICATION_ERROR


def test_the_cache_stays_bounded_under_a_flood_of_tokens(run: Run) -> None:
    authenticator = run.authenticator(cache_size=8)
    tokens = [run.token(f"g{i}") for i in range(40)]
    for token in tokens:
        assert authenticator.authenticate(token, None) == SUBJECT
        assert len(authenticator.cache) <= 8
    assert len(authenticator.cache) == 8
    # The most recently used stay; the first ones were dropped and are verified afresh.
    assert authenticator.authenticate(tokens[0], None) == SUBJECT
    assert len(authenticator.cache) == 8


def test_refused_tokens_never_enter_the_cache(run: Run) -> None:
    authenticator = run.authenticator()
    for _ in range(20):
        with pytest.raises(StatusError):
            authenticator.authenticate(os.urandom(40), None)
    assert len(authenticator.cache) == 0


def test_token_cache_rules() -> None:
    cache = TokenCache(2)
    key = TokenCache.key(b"token")
    assert len(key) == 32 and key != b"token"
    cache.put(key, 3, 100.0, "app")
    assert cache.get(key, 3, 99.9) == "app"
    assert cache.get(key, 3, 100.0) is None  # expired: and dropped
    assert len(cache) == 0
    cache.put(key, 3, 100.0, "app")
    assert cache.get(key, 4, 50.0) is None  # another generation: never again
    assert len(cache) == 0
    with pytest.raises(ValueError, match="at least one"):
        TokenCache(0)


# -- JWT-SVID ------------------------------------------------------------------------------------


def _svid(key: ec.EllipticCurvePrivateKey, kid: str) -> bytes:
    now = int(time.time())
    claims = {"sub": SUBJECT, "aud": [AUD], "exp": now + 300, "iat": now}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid}).encode()


def _write_bundle(path: Path, keys: dict[str, ec.EllipticCurvePrivateKey]) -> None:
    document = {"keys": [jwk_of(key.public_key(), kid) for kid, key in keys.items()]}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document))
    temporary.replace(path)  # a new inode, as SPIRE's helpers write it


def test_jwt_svid_cache_ends_when_the_bundle_drops_the_key(tmp_path: Path) -> None:
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "bundle.jwks"
    _write_bundle(path, {"old": old})
    authenticator = JwtSvidAuthenticator(path, audience=AUD, leeway=LEEWAY, trust_domain=None)
    token = _svid(old, "old")
    assert authenticator.authenticate(token, None) == SUBJECT
    assert authenticator.authenticate(token, None) == SUBJECT
    assert len(authenticator.cache) == 1
    _write_bundle(path, {"new": new})
    assert _refused(authenticator.authenticate, token) is Status.AUTHENTICATION_ERROR
    assert authenticator.authenticate(_svid(new, "new"), None) == SUBJECT


def test_jwt_svid_cache_ends_at_exp_plus_the_leeway(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "bundle.jwks"
    _write_bundle(path, {"k": key})
    now = [time.time()]
    authenticator = JwtSvidAuthenticator(
        path, audience=AUD, leeway=LEEWAY, trust_domain=None, clock=lambda: now[0]
    )
    token = _svid(key, "k")
    assert authenticator.authenticate(token, None) == SUBJECT
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    now[0] = exp + LEEWAY - 0.5
    assert authenticator.authenticate(token, None) == SUBJECT
    assert len(authenticator.cache) == 1
    now[0] = exp + LEEWAY
    # Past its time the entry is dropped and the token verified afresh (by the real clock,
    # which it still passes here): the cache never extended it.
    authenticator.cache.get(TokenCache.key(token), 0, now[0])
    assert len(authenticator.cache) == 0


def test_threads_verifying_while_another_worker_rotates(run: Run) -> None:
    """Threads of one worker authenticate while the other worker takes rotations: each answer
    is a success or an AuthenticationError, and once a rotation has returned the tokens of
    every earlier intermediate are refused."""
    import threading

    authenticator = run.authenticator(1)
    tokens = [run.token()]
    lock = threading.Lock()
    stop = threading.Event()
    unexpected: list[BaseException] = []

    def hammer() -> None:
        while not stop.is_set():
            with lock:
                batch = list(tokens)
            for token in batch:
                try:
                    authenticator.authenticate(token, None)
                except StatusError as error:
                    if error.status is not Status.AUTHENTICATION_ERROR:
                        unexpected.append(error)
                except BaseException as error:
                    unexpected.append(error)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(15):
            signer = run.authority.issue_intermediate(timedelta(hours=1))
            run.stores[0].accept_intermediate(signer.der, run.peer)
            for earlier in tokens:
                assert _refused(authenticator.authenticate, earlier) is Status.AUTHENTICATION_ERROR
            fresh = signer.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
            assert authenticator.authenticate(fresh.encode(), None) == SUBJECT
            with lock:
                tokens.append(fresh.encode())
            stop.wait(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert unexpected == []


def test_a_state_that_cannot_be_read_after_a_change_ends_the_cached_token(run: Run) -> None:
    """Another worker revokes; this one then fails to read the new state (fails closed): the
    token it had cached must not pass meanwhile, nor any other."""
    from tessera.trust.shared import STATE_NAME

    authenticator = run.authenticator(1)
    gone = run.token("gone")
    assert authenticator.authenticate(gone, None) == SUBJECT
    until = (run.clock.now + timedelta(minutes=10)).timestamp()
    listing = run.intermediate.sign_jws(revocation_claims(1, {"gone": until}))
    run.stores[0].accept_revocations(listing, run.peer)
    state = run.stores[0].shared
    assert state is not None
    (state.directory / STATE_NAME).chmod(0o644)  # not ours to trust any more: unreadable
    assert _refused(authenticator.authenticate, gone) is Status.TRUST_NO_ROOT
    (state.directory / STATE_NAME).chmod(0o600)
    assert _refused(authenticator.authenticate, gone) is Status.AUTHENTICATION_ERROR
