"""Signatures on every provider: create, sign, verify inside and outside Tessera, export the public
key, import public (and, where the provider can, private) keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    psa_import_key_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status
from tests.conformance.harness import UnderTest
from tests.conformance.outside import (
    HASHES,
    der_signature,
    digest,
    ec_public,
    point,
    raw_signature,
    rsa_public,
)
from tests.integration.provider_calls import sign_flags
from tests.unit.software.builders import SECP_R1, A, attributes, sign

pytestmark = pytest.mark.integration

CURVE_CASES = [
    pytest.param(256, A.Hash.SHA_256, id="p256-sha256"),
    pytest.param(384, A.Hash.SHA_384, id="p384-sha384"),
]


@pytest.mark.parametrize(("bits", "hash_alg"), CURVE_CASES)
def test_ecdsa(provider: UnderTest, bits: int, hash_alg: A.Hash) -> None:
    wire, alg, name = provider.wire, sign("ecdsa", hash_alg), f"ecdsa{bits}"
    policy = A(asymmetric_signature=alg)
    wire.generate(name, attributes("ecc_key_pair", bits, policy, family=SECP_R1, **sign_flags()))
    public = ec_public(bits, wire.public(name))
    value = digest(hash_alg, b"message")
    for _ in range(3):  # an r or s with leading zero bytes must still be full length
        op = psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=value)
        signature = wire.ok(Opcode.PSA_SIGN_HASH, op).signature
        assert len(signature) == 2 * ((bits + 7) // 8)
        public.verify(der_signature(signature), b"message", ec.ECDSA(HASHES[hash_alg]))
    verify = psa_verify_hash_pb2.Operation(key_name=name, alg=alg, hash=value, signature=signature)
    wire.ok(Opcode.PSA_VERIFY_HASH, verify)
    verify.signature = bytes([signature[0] ^ 1]) + signature[1:]
    assert wire.fails(Opcode.PSA_VERIFY_HASH, verify) is Status.PSA_ERROR_INVALID_SIGNATURE
    op2 = psa_sign_message_pb2.Operation(key_name=name, alg=alg, message=b"m2")
    signed = wire.ok(Opcode.PSA_SIGN_MESSAGE, op2).signature
    public.verify(der_signature(signed), b"m2", ec.ECDSA(HASHES[hash_alg]))
    check = psa_verify_message_pb2.Operation(
        key_name=name, alg=alg, message=b"m2", signature=signed
    )
    wire.ok(Opcode.PSA_VERIFY_MESSAGE, check)
    check.message = b"m3"
    assert wire.fails(Opcode.PSA_VERIFY_MESSAGE, check) is Status.PSA_ERROR_INVALID_SIGNATURE


RSA_SCHEMES = [
    pytest.param("rsa_pkcs1v15_sign", padding.PKCS1v15(), id="pkcs1v15"),
    pytest.param("rsa_pss", padding.PSS(padding.MGF1(HASHES[A.Hash.SHA_256]), 32), id="pss"),
]


@pytest.mark.parametrize(("scheme", "pad"), RSA_SCHEMES)
def test_rsa_signatures(provider: UnderTest, scheme: str, pad: padding.AsymmetricPadding) -> None:
    wire, alg, name = provider.wire, sign(scheme, A.Hash.SHA_256), f"rsa-{scheme}"
    wire.generate(
        name, attributes("rsa_key_pair", 2048, A(asymmetric_signature=alg), **sign_flags())
    )
    public = rsa_public(wire.public(name))
    assert public.key_size == 2048
    sha256 = HASHES[A.Hash.SHA_256]
    op = psa_sign_message_pb2.Operation(key_name=name, alg=alg, message=b"hello")
    signature = wire.ok(Opcode.PSA_SIGN_MESSAGE, op).signature
    public.verify(signature, b"hello", pad, sha256)
    value = digest(A.Hash.SHA_256, b"h")
    hashed = wire.ok(
        Opcode.PSA_SIGN_HASH, psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=value)
    ).signature
    public.verify(hashed, b"h", pad, sha256)
    verify = psa_verify_hash_pb2.Operation(key_name=name, alg=alg, hash=value, signature=hashed)
    wire.ok(Opcode.PSA_VERIFY_HASH, verify)
    check = psa_verify_message_pb2.Operation(
        key_name=name, alg=alg, message=b"hello", signature=signature
    )
    wire.ok(Opcode.PSA_VERIFY_MESSAGE, check)
    check.message = b"other"
    assert wire.fails(Opcode.PSA_VERIFY_MESSAGE, check) is Status.PSA_ERROR_INVALID_SIGNATURE


def test_imported_public_key_verifies(provider: UnderTest) -> None:
    wire, alg = provider.wire, sign("ecdsa", A.Hash.SHA_256)
    private = ec.generate_private_key(ec.SECP256R1())
    data = point(private.public_key())
    attrs = attributes(
        "ecc_public_key",
        256,
        A(asymmetric_signature=alg),
        family=SECP_R1,
        verify_hash=True,
        verify_message=True,
        export=True,
    )
    op = psa_import_key_pb2.Operation(key_name="imported", attributes=attrs, data=data)
    wire.ok(Opcode.PSA_IMPORT_KEY, op)
    assert wire.public("imported") == data
    signature = raw_signature(private.sign(b"msg", ec.ECDSA(HASHES[A.Hash.SHA_256])), 256)
    check = psa_verify_message_pb2.Operation(
        key_name="imported", alg=alg, message=b"msg", signature=signature
    )
    wire.ok(Opcode.PSA_VERIFY_MESSAGE, check)
    check.message = b"other"
    assert wire.fails(Opcode.PSA_VERIFY_MESSAGE, check) is Status.PSA_ERROR_INVALID_SIGNATURE
    # A public key cannot sign.
    sign_op = psa_sign_message_pb2.Operation(key_name="imported", alg=alg, message=b"msg")
    assert wire.fails(Opcode.PSA_SIGN_MESSAGE, sign_op) is Status.PSA_ERROR_NOT_PERMITTED


def test_imported_private_key_signs_or_is_refused(provider: UnderTest) -> None:
    wire, alg = provider.wire, sign("ecdsa", A.Hash.SHA_256)
    private = ec.generate_private_key(ec.SECP256R1())
    pair = attributes(
        "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, sign_hash=True
    )
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    op = psa_import_key_pb2.Operation(key_name="private", attributes=pair, data=scalar)
    if not provider.can("import_private"):
        assert wire.fails(Opcode.PSA_IMPORT_KEY, op) is Status.PSA_ERROR_NOT_SUPPORTED
        return
    wire.ok(Opcode.PSA_IMPORT_KEY, op)
    assert wire.public("private") == point(private.public_key())
    value = digest(A.Hash.SHA_256, b"msg")
    signed = wire.ok(
        Opcode.PSA_SIGN_HASH, psa_sign_hash_pb2.Operation(key_name="private", alg=alg, hash=value)
    ).signature
    private.public_key().verify(der_signature(signed), b"msg", ec.ECDSA(HASHES[A.Hash.SHA_256]))
