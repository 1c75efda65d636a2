"""SPIFFE JWT bundles: parsing JWKS files and verifying JWT-SVIDs as SPIRE issues them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.trust._jose import b64url_encode
from tessera.trust.bundle import JwtBundle, load_jwt_bundle, parse_jwt_bundle
from tessera.trust.errors import TrustError
from tessera.wire.status import Status
from tests.unit.trust.helpers import START, FakeClock, compact, forge, hs256

SUBJECT = "spiffe://example.org/workload"
AUD = "tessera"


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def jwk_of(key: Any, kid: str, use: str = "jwt-svid", **extra: Any) -> dict[str, Any]:
    """A public JWK for a cryptography key, as a SPIFFE bundle holds it."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        size = (key.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[key.curve.name]
        jwk = {
            "kty": "EC",
            "crv": crv,
            "x": _uint(numbers.x, size),
            "y": _uint(numbers.y, size),
        }
    else:
        assert isinstance(key, rsa.RSAPublicKey)
        numbers_rsa = key.public_numbers()
        jwk = {"kty": "RSA", "n": _uint(numbers_rsa.n), "e": _uint(numbers_rsa.e)}
    return {**jwk, "kid": kid, "use": use, **extra}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def document(keys: dict[str, Any]) -> dict[str, Any]:
    x509_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return {
        "spiffe_sequence": 7,
        "spiffe_refresh_hint": 300,
        "keys": [
            jwk_of(keys["p256"].public_key(), "ec256"),
            jwk_of(keys["p384"].public_key(), "ec384"),
            jwk_of(keys["p521"].public_key(), "ec521"),
            jwk_of(keys["rsa"].public_key(), "rsa"),
            jwk_of(x509_key, "x509", use="x509-svid", x5c=["AAAA"]),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "weird", "use": "something-else"},
        ],
    }


@pytest.fixture
def bundle(document: dict[str, Any], clock: FakeClock) -> JwtBundle:
    return parse_jwt_bundle(json.dumps(document), clock=clock)


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": SUBJECT,
        "aud": [AUD],
        "exp": int((START + timedelta(minutes=5)).timestamp()),
        "iat": int(START.timestamp()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: Any, alg: str, kid: str | None, **headers: Any) -> str:
    all_headers = {"kid": kid, **headers} if kid is not None else headers
    return jwt.encode(_claims(), key, algorithm=alg, headers=all_headers)


def _refused(bundle: JwtBundle, token: str, status: Status = Status.TRUST_BAD_SIGNATURE) -> None:
    with pytest.raises(TrustError) as exc:
        bundle.verify(token, audience=AUD)
    assert exc.value.status is status, str(exc.value)


def test_parsing_keeps_only_jwt_svid_keys(bundle: JwtBundle) -> None:
    assert sorted(bundle) == ["ec256", "ec384", "ec521", "rsa"]
    assert len(bundle) == 4 and "x509" not in bundle and "weird" not in bundle
    assert bundle.sequence == 7
    ec256 = bundle.key("ec256")
    assert ec256 is not None and ec256.algorithms == {"ES256"}
    rsa_key = bundle.key("rsa")
    assert rsa_key is not None
    assert rsa_key.algorithms == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    assert "ec256" in repr(bundle)


@pytest.mark.parametrize(
    ("key_name", "kid", "alg"),
    [
        ("p256", "ec256", "ES256"),
        ("p384", "ec384", "ES384"),
        ("p521", "ec521", "ES512"),
        ("rsa", "rsa", "RS256"),
        ("rsa", "rsa", "RS512"),
        ("rsa", "rsa", "PS256"),
        ("rsa", "rsa", "PS384"),
    ],
)
def test_spire_style_tokens_verify(
    bundle: JwtBundle, keys: dict[str, Any], key_name: str, kid: str, alg: str
) -> None:
    claims = bundle.verify(_sign(keys[key_name], alg, kid), audience=AUD)
    assert claims.subject == SUBJECT
    assert claims.kid == kid
    assert claims.audience == AUD
    assert claims.expires_at == START + timedelta(minutes=5)


def test_typ_may_be_absent_jwt_or_jose(bundle: JwtBundle, keys: dict[str, Any]) -> None:
    for typ in (None, "JWT", "JOSE"):
        token = jwt.encode(
            _claims(), keys["p256"], algorithm="ES256", headers={"kid": "ec256", "typ": typ}
        )
        bundle.verify(token, audience=AUD)
    _refused(bundle, _sign(keys["p256"], "ES256", "ec256", typ="at+jwt"))


def test_unknown_and_missing_kid(bundle: JwtBundle, keys: dict[str, Any]) -> None:
    _refused(bundle, _sign(keys["p256"], "ES256", "nope"), Status.TRUST_UNKNOWN_SIGNER)
    _refused(bundle, _sign(keys["p256"], "ES256", "x509"), Status.TRUST_UNKNOWN_SIGNER)
    _refused(bundle, _sign(keys["p256"], "ES256", None))


def test_algorithm_must_fit_the_named_key(bundle: JwtBundle, keys: dict[str, Any]) -> None:
    # The EC key named, but the token claims RSA (and vice versa), or the wrong curve's hash.
    _refused(bundle, _sign(keys["rsa"], "RS256", "ec256"))
    _refused(bundle, _sign(keys["p384"], "ES384", "ec256"))
    token = _sign(keys["p256"], "ES256", "rsa")
    _refused(bundle, token)


def test_hmac_and_none_are_refused(bundle: JwtBundle, keys: dict[str, Any]) -> None:
    pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _refused(bundle, hs256(pem, {"alg": "HS256", "kid": "rsa", "typ": "JWT"}, _claims()))
    _refused(bundle, compact({"alg": "none", "kid": "rsa"}, _claims()) + ".")


def test_extra_headers_are_refused(bundle: JwtBundle, keys: dict[str, Any]) -> None:
    for extra in ({"x5c": ["AAAA"]}, {"jku": "https://x"}, {"crit": ["exp"]}):
        token = forge(keys["p256"], {"alg": "ES256", "kid": "ec256", **extra}, _claims())
        _refused(bundle, token)


def test_claim_rules(bundle: JwtBundle, keys: dict[str, Any], clock: FakeClock) -> None:
    def signed(**overrides: Any) -> str:
        return jwt.encode(
            _claims(**overrides), keys["p256"], algorithm="ES256", headers={"kid": "ec256"}
        )

    _refused(bundle, signed(aud="someone-else"))
    _refused(bundle, signed(aud=None))
    _refused(bundle, signed(exp=None))
    _refused(bundle, signed(sub="not-spiffe"))
    with pytest.raises(ValueError):
        bundle.verify(signed(), audience=AUD, leeway=timedelta(seconds=61))
    clock.advance(timedelta(minutes=6))
    _refused(bundle, signed(), Status.TRUST_STALE_PAYLOAD)


def test_trust_domain_is_enforced(document: dict[str, Any], keys: dict[str, Any]) -> None:
    bound = parse_jwt_bundle(json.dumps(document), trust_domain="other.org", clock=FakeClock())
    assert bound.trust_domain == "other.org"
    _refused(bound, _sign(keys["p256"], "ES256", "ec256"))
    mine = parse_jwt_bundle(json.dumps(document), trust_domain="example.org", clock=FakeClock())
    assert mine.verify(_sign(keys["p256"], "ES256", "ec256"), audience=AUD).subject == SUBJECT
    with pytest.raises(ValueError):
        parse_jwt_bundle(json.dumps(document), trust_domain="Bad Domain")


def test_load_from_file(tmp_path: Path, document: dict[str, Any], keys: dict[str, Any]) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(document))
    bundle = load_jwt_bundle(path, clock=FakeClock())
    assert bundle.verify(_sign(keys["rsa"], "PS512", "rsa"), audience=AUD).kid == "rsa"


def test_jwk_alg_narrows_the_key(keys: dict[str, Any]) -> None:
    doc = {"keys": [jwk_of(keys["rsa"].public_key(), "rsa", alg="PS256")]}
    bundle = parse_jwt_bundle(json.dumps(doc), clock=FakeClock())
    bundle.verify(_sign(keys["rsa"], "PS256", "rsa"), audience=AUD)
    _refused(bundle, _sign(keys["rsa"], "RS256", "rsa"))


def _bad_documents(keys: dict[str, Any]) -> dict[str, Any]:
    ec_jwk = jwk_of(keys["p256"].public_key(), "a")
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    return {
        "not json": "{",
        "not an object": "[]",
        "no keys": "{}",
        "keys not a list": '{"keys": {}}',
        "key not an object": '{"keys": [1]}',
        "no kid": {"keys": [{k: v for k, v in ec_jwk.items() if k != "kid"}]},
        "empty kid": {"keys": [{**ec_jwk, "kid": ""}]},
        "duplicate kid": {"keys": [ec_jwk, jwk_of(keys["p384"].public_key(), "a")]},
        "private key": {"keys": [{**ec_jwk, "d": ec_jwk["x"]}]},
        "small RSA": {"keys": [jwk_of(small_rsa, "r")]},
        "short coordinate": {"keys": [{**ec_jwk, "x": ec_jwk["x"][:-2]}]},
        "padded coordinate": {"keys": [{**ec_jwk, "x": ec_jwk["x"] + "="}]},
        "off the curve": {"keys": [{**ec_jwk, "y": ec_jwk["x"]}]},
        "unknown curve": {"keys": [{**ec_jwk, "crv": "secp256k1"}]},
        "okp": {
            "keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "o", "use": "jwt-svid"}]
        },
        "oct": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h", "use": "jwt-svid"}]},
        "alg does not fit": {"keys": [{**ec_jwk, "alg": "RS256"}]},
        "alg none": {"keys": [{**ec_jwk, "alg": "none"}]},
        "bad sequence": {"keys": [], "spiffe_sequence": "1"},
        "duplicate member": '{"keys": [], "keys": []}',
    }


def test_bad_bundles_are_refused(keys: dict[str, Any]) -> None:
    for name, doc in _bad_documents(keys).items():
        text = doc if isinstance(doc, str) else json.dumps(doc)
        with pytest.raises(ValueError):
            parse_jwt_bundle(text)
            pytest.fail(f"accepted: {name}")


def test_an_empty_bundle_knows_no_signer(keys: dict[str, Any]) -> None:
    empty = parse_jwt_bundle('{"keys": []}', clock=FakeClock())
    assert len(empty) == 0
    _refused(empty, _sign(keys["p256"], "ES256", "ec256"), Status.TRUST_UNKNOWN_SIGNER)
