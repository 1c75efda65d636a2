"""Certificate checks for the trusting side: is this a root, is this an intermediate of that root.

They accept exactly the profiles `authority.py` issues (ECDSA P-256 keys, ECDSA-SHA256
signatures, critical BasicConstraints and KeyUsage) and raise TrustError(TRUST_BAD_CERTIFICATE)
with a short reason otherwise. No certificate content goes into a message.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import SignatureAlgorithmOID

from tessera.trust.errors import TrustError
from tessera.wire.status import Status

__all__ = ["check_intermediate", "check_root", "load_certificate"]

_MAX_DER = 16 * 1024
# Critical extensions we understand; any other critical extension makes a certificate unusable
# (RFC 5280 §4.2).
_UNDERSTOOD_CRITICAL = frozenset(
    {x509.BasicConstraints.oid, x509.KeyUsage.oid},
)

# What parsing a malformed certificate raises: cryptography's own classes are not ValueErrors,
# and a name attribute of the wrong ASN.1 type is a TypeError.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


def _bad(reason: str) -> TrustError:
    return TrustError(Status.TRUST_BAD_CERTIFICATE, reason)


def load_certificate(der: bytes) -> x509.Certificate:
    """Parse DER; refuse anything that is not one P-256, ECDSA-SHA256, v3 certificate."""
    if not isinstance(der, bytes | bytearray) or not der or len(der) > _MAX_DER:
        raise _bad("the certificate is empty or too large")
    try:
        certificate = x509.load_der_x509_certificate(bytes(der))
        key = certificate.public_key()
        extensions = certificate.extensions
        # Names are parsed on first use: a malformed one must fail here, not in a comparison.
        _ = certificate.subject, certificate.issuer
    except _PARSE_ERRORS:
        raise _bad("the certificate is not valid DER X.509") from None
    if certificate.version is not x509.Version.v3:
        raise _bad("the certificate is not X.509 v3")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _bad("the certificate's key is not ECDSA P-256")
    if certificate.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        raise _bad("the certificate is not signed with ECDSA-SHA256")
    for extension in extensions:
        if extension.critical and extension.oid not in _UNDERSTOOD_CRITICAL:
            raise _bad("the certificate has an unknown critical extension")
    return certificate


def _constraints(certificate: x509.Certificate) -> tuple[x509.BasicConstraints, x509.KeyUsage]:
    try:
        basic = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        raise _bad("the certificate lacks BasicConstraints or KeyUsage") from None
    if not basic.critical or not usage.critical:
        raise _bad("the certificate's BasicConstraints and KeyUsage must be critical")
    return basic.value, usage.value


def _check_validity(certificate: x509.Certificate, now: datetime) -> None:
    if now < certificate.not_valid_before_utc:
        raise _bad("the certificate is not valid yet")
    if now > certificate.not_valid_after_utc:
        raise _bad("the certificate has expired")


def _check_signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> None:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise _bad("the certificate is not signed by the expected issuer") from None


def check_root(der: bytes, now: datetime) -> x509.Certificate:
    """A self-signed CA root: path length >= 1 (or unlimited), keyCertSign, valid at `now`."""
    certificate = load_certificate(der)
    basic, usage = _constraints(certificate)
    if not basic.ca or (basic.path_length is not None and basic.path_length < 1):
        raise _bad("the root is not a CA allowed to certify an intermediate")
    if not usage.key_cert_sign:
        raise _bad("the root's key usage does not allow certificate signing")
    if certificate.subject != certificate.issuer:
        raise _bad("the root is not self-signed")
    _check_signed_by(certificate, certificate)
    _check_validity(certificate, now)
    return certificate


def check_intermediate(der: bytes, root: x509.Certificate, now: datetime) -> x509.Certificate:
    """An intermediate of `root`: CA with path length 0, digitalSignature and keyCertSign,
    issued and signed by `root`, valid at `now`."""
    certificate = load_certificate(der)
    basic, usage = _constraints(certificate)
    if not basic.ca or basic.path_length != 0:
        raise _bad("the intermediate is not a CA with path length 0")
    if not usage.digital_signature or not usage.key_cert_sign:
        raise _bad("the intermediate's key usage does not allow signing")
    if certificate.issuer != root.subject:
        raise _bad("the intermediate was not issued by the current root")
    if certificate.public_key() == root.public_key():
        raise _bad("the intermediate reuses the root's key")
    _check_signed_by(certificate, root)
    _check_validity(certificate, now)
    return certificate
