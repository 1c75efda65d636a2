"""Deterministic trust material for the fuzz targets: a root, its intermediate, a forger.

The keys are derived from fixed labels and the certificates signed deterministically (RFC 6979),
so the intermediate's `kid` is the same in every run and tokens committed in a corpus still
verify. Fuzz-only material: nothing here protects anything.

Certificates follow the profile of `tessera.trust.authority` and are valid from 2025 to 2099;
the token target runs on a fixed clock (`NOW`), the request-path target on the real one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from tessera.trust._jose import b64url_decode, b64url_encode
from tessera.trust.authority import Intermediate, RootAuthority, thumbprint

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2099, 12, 31, tzinfo=UTC)
TRUST_DOMAIN = "tessera.local"

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def clock() -> datetime:
    """The token target's clock: always `NOW`."""
    return NOW


def p256_key(label: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key derived from `label` (the same in every run)."""
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (_P256_ORDER - 1)
    return ec.derive_private_key(scalar + 1, ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(*, signature: bool, crl: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=crl,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    serial: int,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=0 if issuer else 1), critical=True
        )
        .add_extension(_usage(signature=issuer is not None, crl=issuer is None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


class Chain:
    """A root and its intermediate, as the identity provider would hold them."""

    def __init__(self, label: str) -> None:
        root_key = p256_key(f"{label} root")
        root_cert = _certificate(f"{label} root", root_key, None, 1)
        self.root = RootAuthority(root_key, root_cert, clock)
        self.key = p256_key(f"{label} intermediate")
        cert = _certificate(f"{label} intermediate", self.key, (root_cert.subject, root_key), 2)
        self.intermediate = Intermediate(self.key, cert, clock)
        self.kid = thumbprint(self.intermediate.der)


@cache
def shared() -> Chain:
    """The chain whose root and intermediate the verifiers trust."""
    return Chain("tessera fuzz")


@cache
def forger() -> Chain:
    """A chain nobody trusts: what it signs must always be refused."""
    return Chain("tessera fuzz forger")


@cache
def bundle_rsa_key() -> rsa.RSAPrivateKey:
    """The RSA key of the JWT-SVID bundle (generated per process: RSA cannot be derived)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


BUNDLE_EC_KID = "fuzz-ec"
BUNDLE_RSA_KID = "fuzz-rsa"


def bundle_ec_key() -> ec.EllipticCurvePrivateKey:
    """The EC key of the JWT-SVID bundle."""
    return p256_key("tessera fuzz bundle")


def bundle_document() -> bytes:
    """A SPIFFE JWT bundle (JWKS) holding the bundle's EC and RSA keys."""
    ec_numbers = bundle_ec_key().public_key().public_numbers()
    rsa_numbers = bundle_rsa_key().public_key().public_numbers()

    def b64int(value: int, size: int) -> str:
        return b64url_encode(value.to_bytes(size, "big"))

    keys = [
        {
            "use": "jwt-svid",
            "kty": "EC",
            "kid": BUNDLE_EC_KID,
            "crv": "P-256",
            "x": b64int(ec_numbers.x, 32),
            "y": b64int(ec_numbers.y, 32),
        },
        {
            "use": "jwt-svid",
            "kty": "RSA",
            "kid": BUNDLE_RSA_KID,
            "n": b64int(rsa_numbers.n, 256),
            "e": b64int(rsa_numbers.e, 3),
        },
    ]
    return json.dumps({"keys": keys}).encode()


# -- compact JWS, signed and checked without PyJWT (the oracle must not share the verifier's code)

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


def sign_compact(header: bytes, payload: bytes, key: SigningKey, alg: str) -> str:
    """`header` and `payload` (any bytes) signed as a compact JWS with `alg` (ES*, RS*, PS*)."""
    signing_input = f"{b64url_encode(header)}.{b64url_encode(payload)}"
    digest = _HASHES[alg[2:]]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        der = key.sign(signing_input.encode(), ec.ECDSA(digest, deterministic_signing=True))
        r, s = decode_dss_signature(der)
        size = (key.curve.key_size + 7) // 8
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = key.sign(signing_input.encode(), _rsa_padding(alg, digest), digest)
    return f"{signing_input}.{b64url_encode(signature)}"


def _rsa_padding(alg: str, digest: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if alg.startswith("PS"):
        return padding.PSS(padding.MGF1(digest), digest.digest_size)
    return padding.PKCS1v15()


def signed_by(token: str, key: PublicKey) -> bool:
    """True when `token` is a compact JWS whose signature `key` verifies under the header's
    `alg` (parsed leniently: this says who signed, not whether the token is well formed)."""
    try:
        header_segment, payload_segment, signature_segment = token.split(".")
        header = json.loads(b64url_decode(header_segment))
        alg = header["alg"]
        digest = _HASHES[alg[2:]]()
        signature = b64url_decode(signature_segment)
    except (ValueError, KeyError, TypeError):
        return False
    signing_input = f"{header_segment}.{payload_segment}".encode()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and alg.startswith("ES"):
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey) and alg[:2] in ("RS", "PS"):
            key.verify(signature, signing_input, _rsa_padding(alg, digest), digest)
        else:
            return False
    except Exception:  # any failure means: not signed by this key
        return False
    return True


def claims_for(subject: str, audience: str | list[str], **extra: Any) -> dict[str, Any]:
    """JWT-SVID claims valid at `NOW` (for seeds)."""
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": audience,
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "iat": int(NOW.timestamp()),
        "jti": "seed",
    }
    claims.update(extra)
    return claims


def header_for(kid: str, typ: str | None = "JWT", alg: str = "ES256") -> bytes:
    """A protected header as Tessera writes one."""
    header: Mapping[str, Any] = {"alg": alg, "kid": kid, **({"typ": typ} if typ else {})}
    return json.dumps(header, separators=(",", ":")).encode()


def service_token(subject: str) -> bytes:
    """A token of the shared chain for the service, valid until 2099 (the request-path target
    runs on the real clock)."""
    claims = claims_for(subject, "tessera", exp=int(NOT_AFTER.timestamp()) - 60)
    chain = shared()
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return sign_compact(header_for(chain.kid), payload, chain.key, "ES256").encode()
