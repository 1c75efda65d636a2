"""Signatures: known answers (RFC 6979, RFC 8032), cross-checks with `cryptography`, policy."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tessera.service.providers.software import SoftwareProvider
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_algorithm_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status
from tests.vectors.loader import h, load

from .builders import EDWARDS, SECP_K1, SECP_R1, A, attributes, expect_status, sign, sign_policy
from .conftest import APP

RSA_KEY = rsa.generate_private_key(65537, 2048)
RSA_DER = RSA_KEY.private_bytes(
    serialization.Encoding.DER,
    serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.NoEncryption(),
)


def put(
    p: SoftwareProvider, name: str, attrs: psa_key_attributes_pb2.KeyAttributes, data: bytes
) -> None:
    p.call(
        contracts.PSA_IMPORT_KEY,
        APP,
        psa_import_key_pb2.Operation(key_name=name, attributes=attrs, data=data),
    )


def sign_hash(
    p: SoftwareProvider,
    name: str,
    alg: psa_algorithm_pb2.Algorithm.AsymmetricSignature,
    value: bytes,
) -> bytes:
    op = psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=value)
    return p.call(contracts.PSA_SIGN_HASH, APP, op).signature


def verify_hash(
    p: SoftwareProvider,
    name: str,
    alg: psa_algorithm_pb2.Algorithm.AsymmetricSignature,
    value: bytes,
    sig: bytes,
) -> None:
    op = psa_verify_hash_pb2.Operation(key_name=name, alg=alg, hash=value, signature=sig)
    p.call(contracts.PSA_VERIFY_HASH, APP, op)


def sign_message(
    p: SoftwareProvider,
    name: str,
    alg: psa_algorithm_pb2.Algorithm.AsymmetricSignature,
    message: bytes,
) -> bytes:
    op = psa_sign_message_pb2.Operation(key_name=name, alg=alg, message=message)
    return p.call(contracts.PSA_SIGN_MESSAGE, APP, op).signature


def verify_message(
    p: SoftwareProvider,
    name: str,
    alg: psa_algorithm_pb2.Algorithm.AsymmetricSignature,
    message: bytes,
    sig: bytes,
) -> None:
    op = psa_verify_message_pb2.Operation(key_name=name, alg=alg, message=message, signature=sig)
    p.call(contracts.PSA_VERIFY_MESSAGE, APP, op)


SIGNER = {"sign_hash": True, "verify_hash": True}
HASHES = {"SHA_256": A.SHA_256, "SHA_384": A.SHA_384}


@pytest.mark.parametrize("vector", load("rfc6979_ecdsa"), ids=lambda v: str(v["curve_bits"]))
def test_deterministic_ecdsa_matches_rfc6979(
    provider: SoftwareProvider, vector: dict[str, object]
) -> None:
    hash_alg = HASHES[str(vector["hash"])]
    alg = sign("deterministic_ecdsa", hash_alg)
    attrs = attributes("ecc_key_pair", 0, A(asymmetric_signature=alg), family=SECP_R1, **SIGNER)
    put(provider, "k", attrs, h(str(vector["private"])))
    expected = h(str(vector["r"])) + h(str(vector["s"]))
    message = h(str(vector["message"]))
    assert sign_message(provider, "k", alg, message) == expected  # r || s, not DER
    digest = hashlib.new(str(vector["hash"]).lower().replace("_", ""), message).digest()
    assert sign_hash(provider, "k", alg, digest) == expected
    verify_hash(provider, "k", alg, digest, expected)
    # The same signature verifies with randomized ECDSA (same verification equation).
    public = b"\x04" + h(str(vector["public_x"])) + h(str(vector["public_y"]))
    ecdsa = sign("ecdsa", hash_alg)
    put(
        provider,
        "pub",
        attributes(
            "ecc_public_key", 0, A(asymmetric_signature=ecdsa), family=SECP_R1, verify_hash=True
        ),
        public,
    )
    verify_message(provider, "pub", ecdsa, message, expected)
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        verify_message(provider, "pub", ecdsa, message + b"!", expected)


@pytest.mark.parametrize("vector", load("rfc8032_ed25519"), ids=["test1", "test2"])
def test_ed25519_matches_rfc8032(provider: SoftwareProvider, vector: dict[str, str]) -> None:
    alg = sign("pure_eddsa")
    put(
        provider,
        "ed",
        attributes(
            "ecc_key_pair",
            255,
            A(asymmetric_signature=alg),
            family=EDWARDS,
            sign_hash=True,
            verify_message=True,
        ),
        h(vector["private"]),
    )
    signature = sign_message(provider, "ed", alg, h(vector["message"]))
    assert signature == h(vector["signature"])
    verify_message(provider, "ed", alg, h(vector["message"]), signature)
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        verify_message(provider, "ed", alg, h(vector["message"]) + b"x", signature)
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_hash(provider, "ed", alg, bytes(32))  # PureEdDSA signs messages only


@pytest.mark.parametrize(
    ("family", "bits", "curve"),
    [
        (SECP_R1, 256, ec.SECP256R1()),
        (SECP_R1, 384, ec.SECP384R1()),
        (SECP_R1, 521, ec.SECP521R1()),
        (SECP_K1, 256, ec.SECP256K1()),
    ],
)
def test_ecdsa_signatures_are_raw_r_s_and_verify_with_cryptography(
    provider: SoftwareProvider, family: int, bits: int, curve: ec.EllipticCurve
) -> None:
    private = ec.generate_private_key(curve)
    size = (bits + 7) // 8
    alg = sign("ecdsa", A.SHA_256)
    put(
        provider,
        "k",
        attributes("ecc_key_pair", bits, A(asymmetric_signature=alg), family=family, **SIGNER),
        private.private_numbers().private_value.to_bytes(size, "big"),
    )
    digest = hashlib.sha256(b"data").digest()
    signature = sign_hash(provider, "k", alg, digest)
    assert len(signature) == 2 * size
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )
    private.public_key().verify(der, b"data", ec.ECDSA(hashes.SHA256()))
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        verify_hash(provider, "k", alg, digest, signature[:-1])
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_hash(provider, "k", alg, digest[:-1])


def test_rsa_pkcs1v15_and_pss_verify_with_cryptography(provider: SoftwareProvider) -> None:
    policy = sign_policy("rsa_pkcs1v15_sign", any_hash=True)
    put(provider, "r", attributes("rsa_key_pair", 2048, policy, **SIGNER), RSA_DER)
    digest = hashlib.sha384(b"m").digest()
    signature = sign_hash(provider, "r", sign("rsa_pkcs1v15_sign", A.SHA_384), digest)
    assert len(signature) == 256
    RSA_KEY.public_key().verify(signature, b"m", padding.PKCS1v15(), hashes.SHA384())
    # PKCS#1 v1.5 is deterministic: the same as cryptography's own signature.
    assert signature == RSA_KEY.sign(b"m", padding.PKCS1v15(), hashes.SHA384())
    pss = sign("rsa_pss", A.SHA_256)
    put(
        provider,
        "p",
        attributes("rsa_key_pair", 2048, A(asymmetric_signature=pss), **SIGNER),
        RSA_DER,
    )
    signature = sign_message(provider, "p", pss, b"m")
    RSA_KEY.public_key().verify(
        signature, b"m", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()
    )
    other = RSA_KEY.sign(b"m", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    verify_message(provider, "p", pss, b"m", other)
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        verify_message(provider, "p", pss, b"n", other)


def test_raw_pkcs1v15_equals_pkcs1v15_over_a_digest_info(provider: SoftwareProvider) -> None:
    raw = sign("rsa_pkcs1v15_sign_raw")
    put(
        provider,
        "r",
        attributes("rsa_key_pair", 2048, A(asymmetric_signature=raw), **SIGNER),
        RSA_DER,
    )
    digest_info_sha256 = bytes.fromhex("3031300d060960864801650304020105000420")
    digest = hashlib.sha256(b"m").digest()
    signature = sign_hash(provider, "r", raw, digest_info_sha256 + digest)
    assert signature == RSA_KEY.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    verify_hash(provider, "r", raw, digest_info_sha256 + digest, signature)
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        verify_hash(provider, "r", raw, digest, signature)
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_hash(provider, "r", raw, bytes(250))  # longer than k - 11
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_message(provider, "r", raw, b"m")


def test_ecdsa_any_signs_digests_of_known_lengths(provider: SoftwareProvider) -> None:
    alg = sign("ecdsa_any")
    private = ec.generate_private_key(ec.SECP256R1())
    put(
        provider,
        "k",
        attributes("ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, **SIGNER),
        private.private_numbers().private_value.to_bytes(32, "big"),
    )
    for digest in (hashlib.sha256(b"x").digest(), hashlib.sha512(b"x").digest()):
        verify_hash(provider, "k", alg, digest, sign_hash(provider, "k", alg, digest))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_hash(provider, "k", alg, bytes(33))


def test_policy_rules(provider: SoftwareProvider, lenient: SoftwareProvider) -> None:
    private = (
        ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    )
    # A specific-hash policy refuses another hash and another scheme.
    put(
        provider,
        "s256",
        attributes("ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1, **SIGNER),
        private,
    )
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        sign_message(provider, "s256", sign("ecdsa", A.SHA_384), b"m")
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        sign_message(provider, "s256", sign("deterministic_ecdsa", A.SHA_256), b"m")
    # The wildcard permits any specific hash, but is not itself an algorithm to sign with.
    put(
        provider,
        "any",
        attributes(
            "ecc_key_pair", 256, sign_policy("ecdsa", any_hash=True), family=SECP_R1, **SIGNER
        ),
        private,
    )
    sign_message(provider, "any", sign("ecdsa", A.SHA3_256), b"m")
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_message(provider, "any", sign("ecdsa", any_hash=True), b"m")
    # ...and does not let SHA-1 in unless deprecated primitives are allowed.
    with expect_status(Status.DEPRECATED_PRIMITIVE):
        sign_message(provider, "any", sign("ecdsa", A.SHA_1), b"m")
    put(
        lenient,
        "any",
        attributes(
            "ecc_key_pair", 256, sign_policy("ecdsa", any_hash=True), family=SECP_R1, **SIGNER
        ),
        private,
    )
    sign_message(lenient, "any", sign("ecdsa", A.SHA_1), b"m")
    # Usage flags: verify-only keys do not sign; SIGN_HASH implies SIGN_MESSAGE, not the reverse.
    put(
        provider,
        "verify",
        attributes(
            "ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1, verify_hash=True
        ),
        private,
    )
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        sign_message(provider, "verify", sign("ecdsa", A.SHA_256), b"m")
    put(
        provider,
        "msg",
        attributes(
            "ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1, sign_message=True
        ),
        private,
    )
    sign_message(provider, "msg", sign("ecdsa", A.SHA_256), b"m")
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        sign_hash(provider, "msg", sign("ecdsa", A.SHA_256), bytes(32))
    # A key with the "none" algorithm is for storage only.
    put(provider, "none", attributes("ecc_key_pair", 256, A(), family=SECP_R1, **SIGNER), private)
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        sign_hash(provider, "none", sign("ecdsa", A.SHA_256), bytes(32))


def test_incompatible_keys_and_public_keys(provider: SoftwareProvider) -> None:
    rsa_alg = sign("rsa_pss", A.SHA_256)
    private = ec.generate_private_key(ec.SECP256R1())
    put(
        provider,
        "ec",
        attributes("ecc_key_pair", 256, A(asymmetric_signature=rsa_alg), family=SECP_R1, **SIGNER),
        private.private_numbers().private_value.to_bytes(32, "big"),
    )
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_hash(provider, "ec", rsa_alg, bytes(32))
    public = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    ecdsa = sign("ecdsa", A.SHA_256)
    put(
        provider,
        "pub",
        attributes("ecc_public_key", 256, A(asymmetric_signature=ecdsa), family=SECP_R1, **SIGNER),
        public,
    )
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        sign_hash(provider, "pub", ecdsa, bytes(32))
    with expect_status(Status.PSA_ERROR_DOES_NOT_EXIST):
        sign_hash(provider, "missing", ecdsa, bytes(32))
