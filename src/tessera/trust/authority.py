"""The trusted side's keys: a self-signed root, and the intermediates it certifies and signs with.

Private keys live only in process memory: they are never serialized, logged or shown in a
`repr`. Certificate profiles (all ECDSA P-256 with SHA-256, random 159-bit serials):

- root: self-signed, `BasicConstraints(ca=True, path_length=1)` and `KeyUsage(keyCertSign,
  cRLSign)`, both critical; SKI. Valid from 60 s ago for `lifetime` (default ten years).
- intermediate: issued by the root, `BasicConstraints(ca=True, path_length=0)` and
  `KeyUsage(digitalSignature, keyCertSign)`, both critical; SKI, and AKI naming the root's key.
  Valid from 60 s ago (clock skew) until `lifetime` from now, never past the root's end.

An intermediate signs two kinds of compact JWS, told apart by `typ` (RFC 8725 §3.11, explicit
typing, so one can never be passed off as the other):

- signed payloads (`sign_jws`: client definitions, proofs): header `{"alg": "ES256", "kid",
  "typ": "JOSE"}`; an `iat` claim is added when the payload has none;
- tokens (`issue_token`: JWT-SVIDs): header `{"alg": "ES256", "kid", "typ": "JWT"}`.

`kid` is always `thumbprint(intermediate DER)`.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tessera.trust._clock import utc_now
from tessera.trust._jose import b64url_encode, sign_compact
from tessera.trust.errors import TrustError
from tessera.trust.spiffe import workload_id
from tessera.wire.status import Status

__all__ = [
    "CLOCK_SKEW",
    "PAYLOAD_TYP",
    "TOKEN_TYP",
    "Intermediate",
    "RootAuthority",
    "thumbprint",
]

#: How far back `not_before` is set, so a verifier whose clock lags a little accepts at once.
CLOCK_SKEW = timedelta(seconds=60)
#: The `typ` header of signed payloads (client definitions, proofs).
PAYLOAD_TYP = "JOSE"
#: The `typ` header of tokens (JWT-SVIDs).
TOKEN_TYP = "JWT"  # noqa: S105 (a header value, not a secret)
_ALG = "ES256"
_DEFAULT_ROOT_LIFETIME = timedelta(days=3650)


def thumbprint(der: bytes) -> str:
    """The SHA-256 thumbprint of a DER certificate, base64url without padding (43 characters)."""
    return b64url_encode(hashlib.sha256(der).digest())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _positive(lifetime: timedelta) -> None:
    if lifetime <= timedelta(0):
        raise ValueError("lifetime must be positive")


class Intermediate:
    """An intermediate key pair and its certificate: signs payloads and issues tokens.

    Obtain one from `RootAuthority.issue_intermediate`.
    """

    __slots__ = ("_certificate", "_clock", "_der", "_key", "_kid")

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        clock: Callable[[], datetime],
    ) -> None:
        self._key = key
        self._certificate = certificate
        self._der = _der(certificate)
        self._kid = thumbprint(self._der)
        self._clock = clock

    def __repr__(self) -> str:
        return f"Intermediate(kid={self._kid!r}, not_after={self.not_after.isoformat()!r})"

    @property
    def certificate(self) -> x509.Certificate:
        """The intermediate certificate, signed by the root."""
        return self._certificate

    @property
    def der(self) -> bytes:
        """The certificate in DER, as sent with ShareTrustBundle."""
        return self._der

    @property
    def kid(self) -> str:
        """The `kid` header of everything this intermediate signs: its certificate's thumbprint."""
        return self._kid

    @property
    def not_after(self) -> datetime:
        """The end of the certificate's validity (aware UTC)."""
        return self._certificate.not_valid_after_utc

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The verification key."""
        return self._key.public_key()

    def sign_jws(self, payload: Mapping[str, Any]) -> str:
        """Sign a JSON object as a compact JWS, header `{"alg": "ES256", "kid", "typ": "JOSE"}`.

        An `iat` claim (now, in whole seconds) is added when `payload` has none, so a verifier can
        bound the payload's age (`TrustStore.verify_payload(max_age=...)`).
        """
        body = dict(payload)
        body.setdefault("iat", int(self._clock().timestamp()))
        return sign_compact(body, self._key, alg=_ALG, kid=self._kid, typ=PAYLOAD_TYP)

    def issue_token(
        self,
        *,
        subject: str,
        audience: str,
        lifetime: timedelta,
        not_after: datetime | None = None,
        token_id: str | None = None,
    ) -> str:
        """Issue a JWT-SVID: header `{"alg": "ES256", "kid", "typ": "JWT"}`.

        Claims: `sub` (a SPIFFE ID naming a workload), `aud` (a string), `exp` = the earliest of
        now + `lifetime`, `not_after` and this intermediate's own end (a token never outlives
        the scheduled retirement of its signer), `iat`, and `jti` (`token_id`, else a random
        128 bits; the identity provider prefixes it with a revocable grant). Raises
        ValueError for a bad subject or audience or a non-positive lifetime, and
        TrustError(TRUST_UNKNOWN_SIGNER) when `exp` would not lie in the future (the
        intermediate or `not_after` has run out; rotate first). `exp` has millisecond
        precision.
        """
        workload_id(subject)
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty string")
        _positive(lifetime)
        now = self._clock()
        iat = int(now.timestamp())
        # The lifetime counts from `iat` (whole seconds), so exp - iat never exceeds it.
        ends = [datetime.fromtimestamp(iat, UTC) + lifetime, self.not_after]
        if not_after is not None:
            ends.append(not_after)
        # NumericDates may be fractional (RFC 7519 §2): milliseconds let a token end exactly at
        # its signer's retirement even when intermediates rotate every second.
        exp = math.floor(min(ends).timestamp() * 1000) / 1000
        if exp <= now.timestamp():
            raise TrustError(
                Status.TRUST_UNKNOWN_SIGNER,
                "the token would be born expired: the intermediate is retired or expiring",
            )
        claims = {
            "sub": subject,
            "aud": audience,
            "exp": exp,
            "iat": iat,
            "jti": token_id or b64url_encode(secrets.token_bytes(16)),
        }
        return sign_compact(claims, self._key, alg=_ALG, kid=self._kid, typ=TOKEN_TYP)


class RootAuthority:
    """A root key pair and its self-signed certificate. Create one with `generate`."""

    __slots__ = ("_certificate", "_clock", "_der", "_key")

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._key = key
        self._certificate = certificate
        self._der = _der(certificate)
        self._clock = clock

    def __repr__(self) -> str:
        return f"RootAuthority(kid={thumbprint(self._der)!r})"

    @classmethod
    def generate(
        cls,
        subject: str,
        *,
        lifetime: timedelta = _DEFAULT_ROOT_LIFETIME,
        clock: Callable[[], datetime] = utc_now,
    ) -> RootAuthority:
        """A fresh P-256 root whose certificate has common name `subject`."""
        _positive(lifetime)
        key = ec.generate_private_key(ec.SECP256R1())
        now = clock()
        name = _name(subject)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_key_usage(cert_sign=True, crl_sign=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate, clock)

    @property
    def certificate(self) -> x509.Certificate:
        """The self-signed root certificate."""
        return self._certificate

    @property
    def der(self) -> bytes:
        """The root certificate in DER, as sent once with ShareTrustBundle."""
        return self._der

    def issue_intermediate(self, lifetime: timedelta) -> Intermediate:
        """A fresh P-256 intermediate certified by this root (profile in the module docstring)."""
        _positive(lifetime)
        key = ec.generate_private_key(ec.SECP256R1())
        now = self._clock()
        not_after = min(now + lifetime, self._certificate.not_valid_after_utc)
        root_ski = self._certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        common_name = self._certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        base = str(common_name[0].value) if common_name else "Tessera"
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{base} intermediate"[:64]))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return Intermediate(key, certificate, self._clock)


def _key_usage(
    *, digital_signature: bool = False, cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )
