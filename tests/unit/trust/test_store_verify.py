"""Verification of signed payloads and tokens by a TrustStore, and the forgeries it refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tessera.trust._jose import b64url_encode
from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.errors import TrustError
from tessera.trust.store import TrustStore
from tessera.wire.status import Status
from tests.unit.trust.helpers import START, FakeClock, compact, forge, hs256, self_peer

SUBJECT = "spiffe://example.org/app"
AUD = "tessera-service"


def _key(intermediate: Intermediate) -> Any:
    return intermediate._key  # the private key, to forge tokens with arbitrary headers


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": SUBJECT,
        "aud": AUD,
        "exp": int((START + timedelta(minutes=5)).timestamp()),
        "iat": int(START.timestamp()),
        "jti": "abc",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _header(intermediate: Intermediate, typ: str = "JWT", **extra: Any) -> dict[str, Any]:
    return {"alg": "ES256", "kid": intermediate.kid, "typ": typ, **extra}


def _refused(call: Callable[[], object], status: Status = Status.TRUST_BAD_SIGNATURE) -> TrustError:
    with pytest.raises(TrustError) as exc:
        call()
    assert exc.value.status is status, str(exc.value)
    return exc.value


def _token(trusted: TrustStore, token: str, **kwargs: Any) -> Callable[[], object]:
    return lambda: trusted.verify_token(token, audience=kwargs.pop("audience", AUD), **kwargs)


# -- the happy paths --------------------------------------------------------------------------


def test_token_round_trip(trusted: TrustStore, intermediate: Intermediate) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    claims = trusted.verify_token(token, audience=AUD)
    assert claims.subject == SUBJECT
    assert claims.audience == AUD
    assert claims.expires_at == START + timedelta(minutes=5)
    assert claims.issued_at == START
    assert claims.token_id is not None and len(claims.token_id) == 22
    assert claims.kid == intermediate.kid


def test_payload_round_trip(trusted: TrustStore, intermediate: Intermediate) -> None:
    payload = {"app": "web", "digest": "sha256:00", "nested": {"a": [1, 2]}}
    token = intermediate.sign_jws(payload)
    assert trusted.verify_payload(token) == {**payload, "iat": int(START.timestamp())}
    assert trusted.verify_payload(token, max_age=timedelta(seconds=10))["app"] == "web"


def test_a_forged_token_with_the_right_profile_verifies(
    trusted: TrustStore, intermediate: Intermediate
) -> None:
    # Guards the forgery helpers: unchanged, they produce an acceptable token.
    token = forge(_key(intermediate), _header(intermediate), _claims())
    assert trusted.verify_token(token, audience=AUD).subject == SUBJECT


# -- no trust yet -----------------------------------------------------------------------------


def test_nothing_verifies_without_root_or_intermediate(
    store: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    payload = intermediate.sign_jws({"a": 1})
    _refused(_token(store, token), Status.TRUST_NO_ROOT)
    _refused(lambda: store.verify_payload(payload), Status.TRUST_NO_ROOT)
    store.accept_root(authority.der, self_peer())
    _refused(_token(store, token), Status.TRUST_NO_ROOT)
    _refused(lambda: store.verify_payload(payload), Status.TRUST_NO_ROOT)


# -- signers ----------------------------------------------------------------------------------


def test_superseded_intermediate_is_refused(
    trusted: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    payload = intermediate.sign_jws({"a": 1})
    trusted.accept_intermediate(authority.issue_intermediate(timedelta(hours=1)).der, self_peer())
    _refused(_token(trusted, token), Status.TRUST_UNKNOWN_SIGNER)
    _refused(lambda: trusted.verify_payload(payload), Status.TRUST_UNKNOWN_SIGNER)


def test_unknown_roots_intermediate_is_refused(trusted: TrustStore, clock: FakeClock) -> None:
    stranger = RootAuthority.generate("stranger", clock=clock).issue_intermediate(
        timedelta(hours=1)
    )
    token = stranger.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    _refused(_token(trusted, token), Status.TRUST_UNKNOWN_SIGNER)
    _refused(lambda: trusted.verify_payload(stranger.sign_jws({})), Status.TRUST_UNKNOWN_SIGNER)


def test_current_kid_with_another_key_is_a_bad_signature(
    trusted: TrustStore, intermediate: Intermediate, clock: FakeClock
) -> None:
    stranger = RootAuthority.generate("s", clock=clock).issue_intermediate(timedelta(hours=1))
    token = forge(_key(stranger), _header(intermediate), _claims())
    _refused(_token(trusted, token))


def test_expired_intermediate_signs_nothing(
    trusted: TrustStore, intermediate: Intermediate, clock: FakeClock
) -> None:
    payload = intermediate.sign_jws({"a": 1})
    clock.advance(timedelta(hours=1, seconds=1))
    _refused(lambda: trusted.verify_payload(payload), Status.TRUST_UNKNOWN_SIGNER)


# -- forged headers ---------------------------------------------------------------------------


def test_tampered_signature(trusted: TrustStore, intermediate: Intermediate) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    head, body, signature = token.split(".")
    middle = len(signature) // 2
    flipped = (
        signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    )
    _refused(_token(trusted, f"{head}.{body}.{flipped}"))
    # The claims changed under the original signature.
    other = b64url_encode(json.dumps(_claims(sub="spiffe://example.org/admin")).encode())
    _refused(_token(trusted, f"{head}.{other}.{signature}"))


def test_non_canonical_base64_is_refused(trusted: TrustStore, intermediate: Intermediate) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    head, body, signature = token.split(".")
    # 64 bytes take 86 characters; the last one carries 2 unused bits. Setting one keeps the
    # decoded signature but changes the token: it must not be accepted as a second spelling.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    twin = signature[:-1] + alphabet[last ^ 1]
    _refused(_token(trusted, f"{head}.{body}.{twin}"))
    _refused(_token(trusted, f"{head}.{body}.{signature}=="))
    _refused(_token(trusted, f"{head}.{body}"))
    _refused(_token(trusted, f"{token}.extra"))


def test_alg_none_is_refused(trusted: TrustStore, intermediate: Intermediate) -> None:
    unsigned = compact({"alg": "none", "kid": intermediate.kid, "typ": "JWT"}, _claims())
    _refused(_token(trusted, f"{unsigned}."))
    _refused(lambda: trusted.verify_payload(f"{unsigned}."))


def test_hs256_keyed_with_the_public_key_is_refused(
    trusted: TrustStore, intermediate: Intermediate
) -> None:
    public = intermediate.public_key()
    for secret in (
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        intermediate.der,
    ):
        for typ in ("JWT", "JOSE"):
            token = hs256(secret, {"alg": "HS256", "kid": intermediate.kid, "typ": typ}, _claims())
            _refused(_token(trusted, token))
            _refused(partial(trusted.verify_payload, token))


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES384", "ES512", "EdDSA", "HS512", "", "es256"])
def test_other_algorithms_are_refused(
    trusted: TrustStore, intermediate: Intermediate, alg: str
) -> None:
    token = forge(_key(intermediate), {**_header(intermediate), "alg": alg}, _claims())
    _refused(_token(trusted, token))


@pytest.mark.parametrize(
    "extra",
    [
        {"x5c": ["AAAA"]},
        {"jku": "https://attacker.example/jwks"},
        {"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}},
        {"crit": ["exp"]},
        {"b64": False, "crit": ["b64"]},
        {"x5u": "https://attacker.example/cert"},
        {"cty": "JWT"},
    ],
)
def test_extra_headers_are_refused_even_when_validly_signed(
    trusted: TrustStore, intermediate: Intermediate, extra: dict[str, Any]
) -> None:
    token = forge(_key(intermediate), _header(intermediate, **extra), _claims())
    _refused(_token(trusted, token))
    payload = forge(_key(intermediate), _header(intermediate, "JOSE", **extra), {"a": 1})
    _refused(lambda: trusted.verify_payload(payload))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "typ": "JWT"},
        {"alg": "ES256", "kid": "", "typ": "JWT"},
        {"alg": "ES256", "kid": 7, "typ": "JWT"},
        {"kid": "k", "typ": "JWT"},
    ],
)
def test_missing_or_malformed_kid_and_alg(
    trusted: TrustStore, intermediate: Intermediate, header: dict[str, Any]
) -> None:
    _refused(_token(trusted, forge(_key(intermediate), header, _claims())))


def test_duplicate_header_members_are_refused(
    trusted: TrustStore, intermediate: Intermediate
) -> None:
    raw = f'{{"alg":"none","alg":"ES256","kid":"{intermediate.kid}","typ":"JWT"}}'
    head = b64url_encode(raw.encode())
    body = b64url_encode(json.dumps(_claims()).encode())
    from tests.unit.trust.helpers import es256_sign

    _refused(_token(trusted, f"{head}.{body}.{es256_sign(_key(intermediate), f'{head}.{body}')}"))


def test_duplicate_claims_are_refused(trusted: TrustStore, intermediate: Intermediate) -> None:
    body = json.dumps(_claims())[:-1] + ', "sub": "spiffe://example.org/admin"}'
    _refused(_token(trusted, forge(_key(intermediate), _header(intermediate), body.encode())))


def test_types_are_not_interchangeable(trusted: TrustStore, intermediate: Intermediate) -> None:
    payload = intermediate.sign_jws(_claims())  # a payload that looks like a token's claims
    _refused(_token(trusted, payload))
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    _refused(lambda: trusted.verify_payload(token))
    untyped = forge(_key(intermediate), {"alg": "ES256", "kid": intermediate.kid}, _claims())
    _refused(_token(trusted, untyped))


def test_pyjwt_default_encoding_is_accepted(
    trusted: TrustStore, intermediate: Intermediate
) -> None:
    # A token minted the ordinary PyJWT way with the same headers verifies (interoperability).
    token = jwt.encode(
        _claims(), _key(intermediate), algorithm="ES256", headers={"kid": intermediate.kid}
    )
    assert trusted.verify_token(token, audience=AUD).subject == SUBJECT


def test_oversized_tokens_are_refused(trusted: TrustStore, intermediate: Intermediate) -> None:
    token = forge(_key(intermediate), _header(intermediate), _claims(pad="x" * 20000))
    _refused(_token(trusted, token))


# -- claims -----------------------------------------------------------------------------------


def test_expiry_with_leeway(
    trusted: TrustStore, intermediate: Intermediate, clock: FakeClock
) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    clock.advance(timedelta(minutes=5, seconds=4))
    trusted.verify_token(token, audience=AUD)  # within the default 5 s
    _refused(_token(trusted, token, leeway=timedelta(0)), Status.TRUST_STALE_PAYLOAD)
    clock.advance(timedelta(seconds=1))
    _refused(_token(trusted, token), Status.TRUST_STALE_PAYLOAD)


def test_not_before(trusted: TrustStore, intermediate: Intermediate) -> None:
    future = int((START + timedelta(seconds=61)).timestamp())
    token = forge(_key(intermediate), _header(intermediate), _claims(nbf=future))
    _refused(_token(trusted, token), Status.TRUST_STALE_PAYLOAD)
    _refused(_token(trusted, token, leeway=timedelta(seconds=60)), Status.TRUST_STALE_PAYLOAD)
    soon = int((START + timedelta(seconds=4)).timestamp())  # within the default 5 s
    trusted.verify_token(
        forge(_key(intermediate), _header(intermediate), _claims(nbf=soon)), audience=AUD
    )


def test_iat_is_never_refused_for_its_time(trusted: TrustStore, intermediate: Intermediate) -> None:
    for iat in (0, int((START + timedelta(days=1)).timestamp())):
        token = forge(_key(intermediate), _header(intermediate), _claims(iat=iat))
        assert trusted.verify_token(token, audience=AUD).issued_at is not None
    no_iat = forge(_key(intermediate), _header(intermediate), _claims(iat=None, jti=None))
    claims = trusted.verify_token(no_iat, audience=AUD)
    assert claims.issued_at is None and claims.token_id is None


def test_audience(trusted: TrustStore, intermediate: Intermediate) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    _refused(_token(trusted, token, audience="other-service"))
    listed = forge(_key(intermediate), _header(intermediate), _claims(aud=["x", AUD]))
    assert trusted.verify_token(listed, audience=AUD).audience == AUD
    for bad in ([], [AUD, 3], 5, {"aud": AUD}):
        token = forge(_key(intermediate), _header(intermediate), _claims(aud=bad))
        _refused(_token(trusted, token))
    with pytest.raises(ValueError):
        trusted.verify_token(token, audience="")


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": None},
        {"aud": None},
        {"sub": None},
        {"exp": "later"},
        {"exp": True},
        {"exp": 10**30},
        {"sub": "app"},
        {"sub": "spiffe://example.org"},
        {"sub": "spiffe://Example.org/app"},
        {"sub": "https://example.org/app"},
        {"sub": 42},
        {"jti": 42},
        {"iat": "yesterday"},
        {"nbf": "now"},
    ],
    ids=repr,
)
def test_missing_or_malformed_claims(
    trusted: TrustStore, intermediate: Intermediate, overrides: dict[str, Any]
) -> None:
    token = forge(_key(intermediate), _header(intermediate), _claims(**overrides))
    _refused(_token(trusted, token))


def test_non_finite_numbers_are_refused(trusted: TrustStore, intermediate: Intermediate) -> None:
    body = json.dumps(_claims())[:-1] + ', "nbf": -Infinity}'
    _refused(_token(trusted, forge(_key(intermediate), _header(intermediate), body.encode())))
    body = json.dumps(_claims(exp=None))[:-1] + ', "exp": Infinity}'
    _refused(_token(trusted, forge(_key(intermediate), _header(intermediate), body.encode())))


@pytest.mark.parametrize(
    "leeway", [timedelta(seconds=61), timedelta(minutes=5), -timedelta(seconds=1)]
)
def test_leeway_is_capped(
    trusted: TrustStore, intermediate: Intermediate, leeway: timedelta
) -> None:
    token = intermediate.issue_token(subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5))
    with pytest.raises(ValueError):
        trusted.verify_token(token, audience=AUD, leeway=leeway)
    trusted.verify_token(token, audience=AUD, leeway=timedelta(seconds=60))


# -- payload age ------------------------------------------------------------------------------


def test_stale_payloads(trusted: TrustStore, intermediate: Intermediate, clock: FakeClock) -> None:
    payload = intermediate.sign_jws({"pid": 1})
    clock.advance(timedelta(seconds=30))
    assert trusted.verify_payload(payload, max_age=timedelta(seconds=30))["pid"] == 1
    clock.advance(timedelta(seconds=1))
    _refused(
        lambda: trusted.verify_payload(payload, max_age=timedelta(seconds=30)),
        Status.TRUST_STALE_PAYLOAD,
    )
    assert trusted.verify_payload(payload)["pid"] == 1  # no max_age: age is not judged


def test_payload_age_needs_a_sane_iat(trusted: TrustStore, intermediate: Intermediate) -> None:
    key, header = _key(intermediate), _header(intermediate, "JOSE")
    max_age = timedelta(minutes=1)
    for body in ({"pid": 1}, {"iat": "now"}, {"iat": True}):
        token = forge(key, header, body)
        _refused(
            partial(trusted.verify_payload, token, max_age=max_age), Status.TRUST_STALE_PAYLOAD
        )
    future = forge(key, header, {"iat": int(START.timestamp()) + 61})
    _refused(lambda: trusted.verify_payload(future, max_age=max_age), Status.TRUST_STALE_PAYLOAD)
    skewed = forge(key, header, {"iat": int(START.timestamp()) + 59})
    trusted.verify_payload(skewed, max_age=max_age)
    with pytest.raises(ValueError):
        trusted.verify_payload(skewed, max_age=-max_age)


def test_payload_must_be_an_object(trusted: TrustStore, intermediate: Intermediate) -> None:
    for body in (b"[1, 2]", b"not json", b'"text"'):
        token = forge(_key(intermediate), _header(intermediate, "JOSE"), body)
        _refused(partial(trusted.verify_payload, token))


def test_error_messages_never_quote_the_token(
    trusted: TrustStore, intermediate: Intermediate
) -> None:
    token = forge(_key(intermediate), _header(intermediate, x5c=["AAAA"]), _claims())
    error = _refused(_token(trusted, token))
    assert token not in str(error)
    assert token.split(".")[2] not in str(error)
