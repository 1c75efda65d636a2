"""Certificate requests: our encoding against the one cryptography produces with the key."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tessera.client import _csr
from tessera.client._errors import ProtocolError, UsageError
from tessera.client.specs import (
    ECDSA_P256,
    ECDSA_P384,
    ED25519,
    HMAC_SHA256,
    RSA_3072_OAEP,
    rsa_pkcs1v15_sign,
    rsa_pss,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "app.example"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
    ]
)
DER = serialization.Encoding.DER

_RSA_KEY = rsa.generate_private_key(65537, 2048)


def cryptography_csr(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    algorithm: hashes.SHA256 | hashes.SHA384 | None,
    rsa_padding: padding.PSS | padding.PKCS1v15 | None = None,
) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(SUBJECT)
    return builder.sign(key, algorithm, rsa_padding=rsa_padding)


def sig_alg(spec_algorithm: Algorithm) -> Algorithm.AsymmetricSignature:
    return spec_algorithm.asymmetric_signature


def test_request_info_is_what_cryptography_signs() -> None:
    for key in (_RSA_KEY, ec.generate_private_key(ec.SECP256R1())):
        reference = cryptography_csr(key, hashes.SHA256())
        assert _csr.request_info(SUBJECT, key.public_key()) == reference.tbs_certrequest_bytes
    ed = ed25519.Ed25519PrivateKey.generate()
    reference = cryptography_csr(ed, None)
    assert _csr.request_info(SUBJECT, ed.public_key()) == reference.tbs_certrequest_bytes


def test_rsa_pkcs1v15_request_is_byte_identical() -> None:
    # PKCS#1 v1.5 signatures are deterministic, so the whole request must match.
    reference = cryptography_csr(_RSA_KEY, hashes.SHA256(), padding.PKCS1v15())
    info = _csr.request_info(SUBJECT, _RSA_KEY.public_key())
    algorithm_id, is_ecdsa = _csr.signature_algorithm(sig_alg(rsa_pkcs1v15_sign(2048).algorithm))
    assert not is_ecdsa
    signature = _RSA_KEY.sign(info, padding.PKCS1v15(), hashes.SHA256())
    csr = _csr.assemble(info, algorithm_id, signature, ecdsa=False)
    assert csr.public_bytes(DER) == reference.public_bytes(DER)


def test_ed25519_request_is_byte_identical() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    reference = cryptography_csr(key, None)
    info = _csr.request_info(SUBJECT, key.public_key())
    algorithm_id, _ = _csr.signature_algorithm(sig_alg(ED25519.algorithm))
    csr = _csr.assemble(info, algorithm_id, key.sign(info), ecdsa=False)
    assert csr.public_bytes(DER) == reference.public_bytes(DER)


def test_rsa_pss_algorithm_identifier_matches_cryptography() -> None:
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    reference = cryptography_csr(_RSA_KEY, hashes.SHA256(), pss).public_bytes(DER)
    algorithm_id, _ = _csr.signature_algorithm(sig_alg(rsa_pss(2048).algorithm))
    assert algorithm_id in reference
    info = _csr.request_info(SUBJECT, _RSA_KEY.public_key())
    signature = _RSA_KEY.sign(info, pss, hashes.SHA256())
    csr = _csr.assemble(info, algorithm_id, signature, ecdsa=False)
    assert csr.is_signature_valid
    assert isinstance(csr.signature_algorithm_parameters, padding.PSS)


@pytest.mark.parametrize(
    ("spec_algorithm", "curve", "hash_name"),
    [
        (ECDSA_P256.algorithm, ec.SECP256R1(), "sha256"),
        (ECDSA_P384.algorithm, ec.SECP384R1(), "sha384"),
    ],
)
def test_ecdsa_raw_signature_becomes_der(
    spec_algorithm: Algorithm, curve: ec.EllipticCurve, hash_name: str
) -> None:
    key = ec.generate_private_key(curve)
    algorithm_id, is_ecdsa = _csr.signature_algorithm(sig_alg(spec_algorithm))
    assert is_ecdsa
    hash_algorithm: hashes.SHA256 | hashes.SHA384 = (
        hashes.SHA256() if hash_name == "sha256" else hashes.SHA384()
    )
    reference = cryptography_csr(key, hash_algorithm).public_bytes(DER)
    assert algorithm_id in reference
    info = _csr.request_info(SUBJECT, key.public_key())
    r, s = decode_dss_signature(key.sign(info, ec.ECDSA(hash_algorithm)))
    size = (curve.key_size + 7) // 8
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # what PSA returns
    csr = _csr.assemble(info, algorithm_id, raw, ecdsa=True)
    assert csr.is_signature_valid
    assert csr.subject == SUBJECT
    assert csr.public_key() == key.public_key()
    assert csr.signature_hash_algorithm is not None
    assert csr.signature_hash_algorithm.name == hash_name


def test_a_bad_signature_is_a_protocol_error() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    info = _csr.request_info(SUBJECT, key.public_key())
    algorithm_id, _ = _csr.signature_algorithm(sig_alg(ECDSA_P256.algorithm))
    with pytest.raises(ProtocolError, match="does not verify"):
        _csr.assemble(info, algorithm_id, b"\x01" * 64, ecdsa=True)


def test_subject_from_string() -> None:
    # RFC 4514 writes the most specific RDN first: the reverse of the DER order.
    assert _csr.subject_name("O=Example,CN=app.example") == SUBJECT
    assert _csr.subject_name(SUBJECT.rfc4514_string()) == SUBJECT
    assert _csr.subject_name(SUBJECT) is SUBJECT


def test_bad_subject_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="distinguished name"):
        _csr.subject_name("no equals sign")


def test_keys_that_cannot_sign_requests() -> None:
    with pytest.raises(UsageError, match="RSA, ECDSA or EdDSA"):
        _csr.request_info(SUBJECT, x25519.X25519PrivateKey.generate().public_key())
    for algorithm in (RSA_3072_OAEP.algorithm, HMAC_SHA256.algorithm):
        with pytest.raises(UsageError):
            _csr.signature_algorithm(algorithm.asymmetric_signature)


def test_request_hash_must_be_sha2() -> None:
    alg = Algorithm.AsymmetricSignature()
    alg.ecdsa.hash_alg.specific = Algorithm.SHA_224
    with pytest.raises(UsageError, match="SHA-256"):
        _csr.signature_algorithm(alg)


def test_alternative_names_go_into_an_extension_request() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    info = _csr.request_info(SUBJECT, private.public_key(), ["example.org", "192.0.2.7"])
    alg, _ = _csr.signature_algorithm(ECDSA_P256.algorithm.asymmetric_signature)
    signature = private.sign(info, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(signature)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    csr = _csr.assemble(info, alg, raw, ecdsa=True)
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["example.org"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
