"""Fuzz target `tokens`: JWS/JWT verification (trust/_jose.py and its callers).

Verifiers: the trust store holding the fuzz chain's root and intermediate and a revocation list
(`verify_token`, `verify_payload`), the service's token authenticator over it (wire bytes in),
and a JWT-SVID bundle with an EC and an RSA key (`JwtBundle.verify`), all on a fixed clock.

Input: a mode byte, then
- mode 0: the token itself, any bytes;
- modes 1-3: a length-prefixed protected header and the payload, any bytes, which the harness
  signs: 1 with the shared intermediate (trusted), 2 with the forger's key (never trusted), 3
  with a bundle key (byte after the mode: EC, RSA PKCS#1, RSA PSS).

Properties: a verifier raises nothing but TrustError (the authenticator: StatusError with
AuthenticationError); it accepts a token only when the key it trusts for the token's `kid`
verifies the signature (checked here without PyJWT) and the header is exactly what the rules
allow; accepted claims are what the payload says, are live at the clock's time, and name no
revoked grant.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache
from typing import Any

from tessera.service.authenticators.jwt_token import TokenAuthenticator
from tessera.trust.authority import PAYLOAD_TYP, TOKEN_TYP
from tessera.trust.bundle import JwtBundle, parse_jwt_bundle
from tessera.trust.claims import TokenClaims
from tessera.trust.errors import TrustError
from tessera.trust.peer import peer_from_credentials
from tessera.trust.revocation import revocation_claims
from tessera.trust.spiffe import workload_id
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.status import Status, StatusError
from tests.fuzz import _trust
from tests.fuzz._input import Input

AUDIENCE = "tessera"
SVID_AUDIENCE = "parsec"
LEEWAY = timedelta(seconds=5)
REVOKED_GRANT = "revoked-grant"  # the store holds a revocation list naming it
MAX_AGE = timedelta(minutes=2)
_BUNDLE_ALGS = ("ES256", "RS256", "PS256")

TOKENS = (
    b'{"alg":"ES256"',
    b'"kid":',
    b'"typ":"JWT"',
    b'"typ":"JOSE"',
    b'"alg":"none"',
    b'"alg":"HS256"',
    b'"alg":"RS256"',
    b'"alg":"PS256"',
    b'"sub":"spiffe://tessera.local/app"',
    b'"aud":"tessera"',
    b'"aud":["parsec"]',
    b'"exp":',
    b'"nbf":',
    b'"iat":',
    b'"jti":',
    b'"revoked-grant.',
    b"1893499500",  # NOW + 5 minutes
    b"eyJ",  # base64url of '{"'
    _trust.BUNDLE_EC_KID.encode(),
    _trust.BUNDLE_RSA_KID.encode(),
)


class _Verifiers:
    def __init__(self) -> None:
        import os

        chain = _trust.shared()
        self.store = TrustStore(TrustPolicy(), clock=_trust.clock)
        me = peer_from_credentials(os.getpid(), os.getuid(), os.getgid())
        self.store.accept_root(chain.root.der, me)
        self.store.accept_intermediate(chain.intermediate.der, me)
        until = (_trust.NOW + timedelta(hours=1)).timestamp()
        revocations = revocation_claims(1, {REVOKED_GRANT: until})
        self.store.accept_revocations(chain.intermediate.sign_jws(revocations), me)
        self.authenticator = TokenAuthenticator(
            self.store, audience=AUDIENCE, leeway=LEEWAY.total_seconds()
        )
        self.bundle: JwtBundle = parse_jwt_bundle(
            _trust.bundle_document(), trust_domain=_trust.TRUST_DOMAIN, clock=_trust.clock
        )


@cache
def verifiers() -> _Verifiers:
    """Built once per process (the RSA key takes a moment)."""
    return _Verifiers()


def token_from(data: bytes) -> str:
    """The token an input stands for (signing it when the mode says so)."""
    source = Input(data)
    mode = source.u8() % 4
    if mode == 0:
        return source.rest().decode("latin-1")  # one character per byte, ASCII or not
    alg = "ES256"
    if mode == 1:
        key: _trust.SigningKey = _trust.shared().key
    elif mode == 2:
        key = _trust.forger().key
    else:
        alg = source.pick(_BUNDLE_ALGS)
        key = _trust.bundle_ec_key() if alg == "ES256" else _trust.bundle_rsa_key()
    header = source.sized()
    return _trust.sign_compact(header, source.rest(), key, alg)


def one_input(data: bytes) -> None:
    token = token_from(data)
    found = verifiers()
    store = found.store

    try:
        claims = store.verify_token(token, audience=AUDIENCE, leeway=LEEWAY)
    except TrustError:
        pass
    else:
        _check_trusted(token, TOKEN_TYP)
        _check_claims(token, claims, AUDIENCE)

    try:
        payload = store.verify_payload(token, max_age=MAX_AGE)
    except TrustError:
        pass
    else:
        _check_trusted(token, PAYLOAD_TYP)
        assert payload == _payload(token)
        iat = payload["iat"]
        now = _trust.NOW.timestamp()
        assert now - MAX_AGE.total_seconds() <= iat <= now + 60, iat

    try:
        subject = found.authenticator.authenticate(token.encode("latin-1"), None)
    except StatusError as error:
        assert error.status is Status.AUTHENTICATION_ERROR, error.status
    else:
        _check_trusted(token, TOKEN_TYP)
        assert subject == _payload(token)["sub"]

    try:
        claims = found.bundle.verify(token, audience=SVID_AUDIENCE, leeway=LEEWAY)
    except TrustError:
        pass
    else:
        header = _header(token)
        assert set(header) <= {"alg", "kid", "typ"} and header.get("typ") in (None, "JWT", "JOSE")
        keys: dict[str, _trust.PublicKey] = {
            _trust.BUNDLE_EC_KID: _trust.bundle_ec_key().public_key(),
            _trust.BUNDLE_RSA_KID: _trust.bundle_rsa_key().public_key(),
        }
        key = keys[header["kid"]]
        assert _trust.signed_by(token, key), "accepted a token its bundle key did not sign"
        _check_claims(token, claims, SVID_AUDIENCE)
        assert workload_id(claims.subject)[0] == _trust.TRUST_DOMAIN


def _segment(token: str, index: int) -> dict[str, Any]:
    from tessera.trust._jose import b64url_decode

    value = json.loads(b64url_decode(token.split(".")[index]))
    assert isinstance(value, dict)
    return value


def _header(token: str) -> dict[str, Any]:
    return _segment(token, 0)


def _payload(token: str) -> dict[str, Any]:
    return _segment(token, 1)


def _check_trusted(token: str, typ: str) -> None:
    """An accepted token: signed by the shared intermediate, with exactly the allowed header."""
    chain = _trust.shared()
    assert _trust.signed_by(token, chain.key.public_key()), "accepted a token it did not sign"
    assert not _trust.signed_by(token, _trust.forger().key.public_key())
    assert _header(token) == {"alg": "ES256", "kid": chain.kid, "typ": typ}, _header(token)


def _check_claims(token: str, claims: TokenClaims, audience: str) -> None:
    payload = _payload(token)
    assert claims.subject == payload["sub"]
    aud = payload["aud"]
    assert audience == aud or (isinstance(aud, list) and audience in aud)
    now = _trust.NOW.timestamp()
    assert now < payload["exp"] + LEEWAY.total_seconds()
    assert payload.get("nbf", now) <= now + LEEWAY.total_seconds()
    assert abs(claims.expires_at.timestamp() - payload["exp"]) < 1e-3
    assert claims.token_id == payload.get("jti")
    if audience == AUDIENCE:  # the trust store's tokens: revoked grants never pass
        assert (claims.token_id or "").partition(".")[0] != REVOKED_GRANT, claims.token_id
