"""Root and intermediate certificate profiles, thumbprints, and what the intermediate signs."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from tessera.trust.authority import CLOCK_SKEW, Intermediate, RootAuthority, thumbprint
from tessera.trust.errors import TrustError
from tessera.wire.status import Status
from tests.unit.trust.helpers import START, FakeClock, decode_segment


def _ext(
    certificate: x509.Certificate, cls: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return certificate.extensions.get_extension_for_class(cls)


def test_thumbprint_is_unpadded_base64url_sha256() -> None:
    # SHA-256("abc") = ba7816bf...f20015ad (FIPS 180-2 example).
    assert thumbprint(b"abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert len(thumbprint(b"\x00" * 100)) == 43


def test_root_profile(authority: RootAuthority) -> None:
    root = authority.certificate
    assert root.subject == root.issuer
    assert root.version is x509.Version.v3
    assert root.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    root.verify_directly_issued_by(root)

    basic = _ext(root, x509.BasicConstraints)
    assert basic.critical and basic.value == x509.BasicConstraints(ca=True, path_length=1)
    usage = _ext(root, x509.KeyUsage)
    assert usage.critical
    assert isinstance(usage.value, x509.KeyUsage)
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = _ext(root, x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(key)
    assert {e.oid for e in root.extensions} == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    }
    assert root.not_valid_before_utc == START - CLOCK_SKEW
    assert root.not_valid_after_utc == START + timedelta(days=3650)
    assert root.serial_number > 0
    assert authority.der == root.public_bytes(serialization.Encoding.DER)


def test_roots_get_fresh_keys_and_serials(clock: FakeClock) -> None:
    a = RootAuthority.generate("a", clock=clock)
    b = RootAuthority.generate("a", clock=clock, lifetime=timedelta(days=1))
    assert a.certificate.serial_number != b.certificate.serial_number
    assert a.certificate.public_key() != b.certificate.public_key()
    assert b.certificate.not_valid_after_utc == START + timedelta(days=1)


def test_intermediate_profile(authority: RootAuthority, intermediate: Intermediate) -> None:
    root, cert = authority.certificate, intermediate.certificate
    assert cert.issuer == root.subject and cert.subject != root.subject
    cert.verify_directly_issued_by(root)
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    assert key != root.public_key()

    basic = _ext(cert, x509.BasicConstraints)
    assert basic.critical and basic.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert isinstance(usage.value, x509.KeyUsage)
    assert usage.value.digital_signature and usage.value.key_cert_sign
    assert not usage.value.crl_sign
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    root_ski = _ext(root, x509.SubjectKeyIdentifier).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert isinstance(root_ski, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == root_ski.digest
    assert _ext(cert, x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(key)
    )
    assert cert.not_valid_before_utc == START - CLOCK_SKEW
    assert cert.not_valid_after_utc == START + timedelta(hours=1)
    assert intermediate.not_after == START + timedelta(hours=1)
    assert intermediate.kid == thumbprint(intermediate.der)


def test_intermediate_never_outlives_the_root(clock: FakeClock) -> None:
    root = RootAuthority.generate("short", lifetime=timedelta(hours=2), clock=clock)
    assert root.issue_intermediate(timedelta(days=5)).not_after == START + timedelta(hours=2)


def test_intermediates_are_distinct(authority: RootAuthority) -> None:
    a, b = (
        authority.issue_intermediate(timedelta(hours=1)),
        authority.issue_intermediate(timedelta(hours=1)),
    )
    assert a.kid != b.kid
    assert a.certificate.public_key() != b.certificate.public_key()


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1)])
def test_non_positive_lifetimes_are_refused(authority: RootAuthority, lifetime: timedelta) -> None:
    with pytest.raises(ValueError):
        authority.issue_intermediate(lifetime)
    with pytest.raises(ValueError):
        RootAuthority.generate("x", lifetime=lifetime)


def _verify_es256(intermediate: Intermediate, token: str) -> None:
    signing_input, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    intermediate.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))


def test_sign_jws_header_and_iat(intermediate: Intermediate) -> None:
    token = intermediate.sign_jws({"app": "web", "n": 1})
    assert decode_segment(token, 0) == {"alg": "ES256", "kid": intermediate.kid, "typ": "JOSE"}
    assert decode_segment(token, 1) == {"app": "web", "n": 1, "iat": int(START.timestamp())}
    _verify_es256(intermediate, token)
    # An explicit iat is kept.
    assert decode_segment(intermediate.sign_jws({"iat": 5}), 1) == {"iat": 5}


def test_sign_jws_refuses_nan(intermediate: Intermediate) -> None:
    with pytest.raises(ValueError):
        intermediate.sign_jws({"x": float("nan")})


def test_issue_token_header_and_claims(intermediate: Intermediate) -> None:
    token = intermediate.issue_token(
        subject="spiffe://example.org/app", audience="svc", lifetime=timedelta(minutes=5)
    )
    assert decode_segment(token, 0) == {"alg": "ES256", "kid": intermediate.kid, "typ": "JWT"}
    claims = decode_segment(token, 1)
    assert set(claims) == {"sub", "aud", "exp", "iat", "jti"}
    assert claims["sub"] == "spiffe://example.org/app"
    assert claims["aud"] == "svc"
    assert claims["iat"] == int(START.timestamp())
    assert claims["exp"] == int((START + timedelta(minutes=5)).timestamp())
    jti = claims["jti"]
    assert len(base64.urlsafe_b64decode(jti + "==")) == 16
    _verify_es256(intermediate, token)
    other = intermediate.issue_token(
        subject="spiffe://example.org/app", audience="svc", lifetime=timedelta(minutes=5)
    )
    assert decode_segment(other, 1)["jti"] != jti


def test_token_expiry_is_capped(intermediate: Intermediate) -> None:
    capped = intermediate.issue_token(
        subject="spiffe://example.org/app",
        audience="svc",
        lifetime=timedelta(minutes=5),
        not_after=START + timedelta(minutes=2),
    )
    assert decode_segment(capped, 1)["exp"] == int((START + timedelta(minutes=2)).timestamp())
    long = intermediate.issue_token(
        subject="spiffe://example.org/app", audience="svc", lifetime=timedelta(days=1)
    )
    assert decode_segment(long, 1)["exp"] == int(intermediate.not_after.timestamp())


def test_issue_token_refuses_misuse(intermediate: Intermediate, clock: FakeClock) -> None:
    good: dict[str, Any] = {"subject": "spiffe://example.org/app", "audience": "svc"}
    with pytest.raises(ValueError):
        intermediate.issue_token(subject="app", audience="svc", lifetime=timedelta(minutes=5))
    with pytest.raises(ValueError):
        intermediate.issue_token(
            subject="spiffe://example.org/app", audience="", lifetime=timedelta(minutes=5)
        )
    with pytest.raises(ValueError):
        intermediate.issue_token(**good, lifetime=timedelta(0))
    with pytest.raises(TrustError) as exc:
        intermediate.issue_token(**good, lifetime=timedelta(minutes=5), not_after=START)
    assert exc.value.status is Status.TRUST_UNKNOWN_SIGNER
    clock.advance(timedelta(hours=2))  # past the intermediate's end
    with pytest.raises(TrustError) as exc:
        intermediate.issue_token(**good, lifetime=timedelta(minutes=5))
    assert exc.value.status is Status.TRUST_UNKNOWN_SIGNER


def test_reprs_hold_no_key_material(authority: RootAuthority, intermediate: Intermediate) -> None:
    secrets = [str(obj._key.private_numbers().private_value) for obj in (authority, intermediate)]
    for obj in (authority, intermediate):
        text = repr(obj)
        assert "PRIVATE" not in text and "_key" not in text
        assert not any(secret in text for secret in secrets)
    assert repr(intermediate).startswith(f"Intermediate(kid={intermediate.kid!r}")
    assert not hasattr(intermediate, "__dict__")
