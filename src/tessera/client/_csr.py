"""PKCS#10 certificate requests signed by a key that never leaves the service.

`cryptography` builds requests only with a private key object, so the request info is encoded
here, its signature comes from the service, and `cryptography` parses and checks the result.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tessera.client import _der
from tessera.client._errors import ProtocolError, UsageError
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

_HASH_NAMES = {Algorithm.SHA_256: "256", Algorithm.SHA_384: "384", Algorithm.SHA_512: "512"}
_ECDSA_OIDS = {
    Algorithm.SHA_256: "1.2.840.10045.4.3.2",
    Algorithm.SHA_384: "1.2.840.10045.4.3.3",
    Algorithm.SHA_512: "1.2.840.10045.4.3.4",
}
_RSA_PKCS1_OIDS = {
    Algorithm.SHA_256: "1.2.840.113549.1.1.11",
    Algorithm.SHA_384: "1.2.840.113549.1.1.12",
    Algorithm.SHA_512: "1.2.840.113549.1.1.13",
}
_HASH_OIDS = {
    Algorithm.SHA_256: "2.16.840.1.101.3.4.2.1",
    Algorithm.SHA_384: "2.16.840.1.101.3.4.2.2",
    Algorithm.SHA_512: "2.16.840.1.101.3.4.2.3",
}
_HASH_SIZES = {Algorithm.SHA_256: 32, Algorithm.SHA_384: 48, Algorithm.SHA_512: 64}
_RSA_PSS_OID = "1.2.840.113549.1.1.10"
_MGF1_OID = "1.2.840.113549.1.1.8"
_ED25519_OID = "1.3.101.112"
_ED448_OID = "1.3.101.113"
_EXTENSION_REQUEST_OID = "1.2.840.113549.1.9.14"
_SAN_OID = "2.5.29.17"


def subject_name(subject: x509.Name | str) -> x509.Name:
    """A subject as given, or parsed from an RFC 4514 string such as "CN=app,O=Example"."""
    if isinstance(subject, x509.Name):
        return subject
    try:
        return x509.Name.from_rfc4514_string(subject)
    except ValueError as error:
        raise UsageError(f"not a distinguished name: {subject!r} ({error})") from None


def alternative_names(names: Sequence[str]) -> x509.SubjectAlternativeName:
    """Subject alternative names: IP addresses where they parse as such, else DNS names."""
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def request_info(subject: x509.Name, public_key: object, alt_names: Sequence[str] = ()) -> bytes:
    """The DER CertificationRequestInfo (version 0), with an extension request for SANs."""
    if not isinstance(
        public_key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        raise UsageError("certificate requests need an RSA, ECDSA or EdDSA key")
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attributes = b""
    if alt_names:
        try:
            san = alternative_names(alt_names).public_bytes()
        except ValueError as error:
            raise UsageError(f"subject alternative name: {error}") from None
        extension = _der.sequence(_der.oid(_SAN_OID), _der.tlv(0x04, san))
        attributes = _der.sequence(
            _der.oid(_EXTENSION_REQUEST_OID), _der.tlv(0x31, _der.sequence(extension))
        )
    return _der.sequence(
        _der.integer(0), subject.public_bytes(), spki, _der.explicit(0, attributes)
    )


def signature_algorithm(
    alg: Algorithm.AsymmetricSignature, key_bits: int = 255
) -> tuple[bytes, bool]:
    """The DER AlgorithmIdentifier of a PSA signature algorithm, and whether it is ECDSA."""
    variant = alg.WhichOneof("variant")
    if variant == "pure_eddsa":
        return _der.sequence(_der.oid(_ED448_OID if key_bits == 448 else _ED25519_OID)), False
    if variant in ("ecdsa", "deterministic_ecdsa", "rsa_pkcs1v15_sign", "rsa_pss"):
        hash_alg = getattr(alg, variant).hash_alg.specific
        if hash_alg not in _HASH_NAMES:
            raise UsageError("certificate requests are signed with SHA-256, -384 or -512")
        if variant in ("ecdsa", "deterministic_ecdsa"):
            return _der.sequence(_der.oid(_ECDSA_OIDS[hash_alg])), True
        if variant == "rsa_pkcs1v15_sign":
            return _der.sequence(_der.oid(_RSA_PKCS1_OIDS[hash_alg]), _der.NULL), False
        digest_id = _der.sequence(_der.oid(_HASH_OIDS[hash_alg]), _der.NULL)
        params = _der.sequence(
            _der.explicit(0, digest_id),
            _der.explicit(1, _der.sequence(_der.oid(_MGF1_OID), digest_id)),
            _der.explicit(2, _der.integer(_HASH_SIZES[hash_alg])),  # PSA's PSS salt: hash size
        )
        return _der.sequence(_der.oid(_RSA_PSS_OID), params), False
    raise UsageError("this key's algorithm cannot sign certificate requests")


def assemble(
    info: bytes, algorithm_id: bytes, signature: bytes, *, ecdsa: bool
) -> x509.CertificateSigningRequest:
    """The signed request, parsed and checked by `cryptography`."""
    if ecdsa:
        half = len(signature) // 2
        r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        signature = encode_dss_signature(r, s)
    der = _der.sequence(info, algorithm_id, _der.bit_string(signature))
    csr = x509.load_der_x509_csr(der)
    if not csr.is_signature_valid:
        raise ProtocolError("the service's signature does not verify over the request")
    return csr
