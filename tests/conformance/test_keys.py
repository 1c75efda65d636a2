"""Key management and policy on every provider: what it lists, destroy, isolation between
applications, export, random, and PSA's refusals."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import Message

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    list_opcodes_pb2,
    list_providers_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_generate_random_pb2,
    psa_key_attributes_pb2,
    psa_sign_hash_pb2,
    psa_verify_hash_pb2,
)
from tessera.wire.status import Status
from tests.conformance.harness import UnderTest, fresh_app
from tests.conformance.outside import ec_public
from tests.unit.software.builders import SECP_R1, A, attributes, pkcs1v15_crypt, sign

pytestmark = pytest.mark.integration

ECDSA = sign("ecdsa", A.Hash.SHA_256)


def ecc(**flags: bool) -> psa_key_attributes_pb2.KeyAttributes:
    """An ECDSA P-256 SHA-256 key pair with these usage flags."""
    return attributes("ecc_key_pair", 256, A(asymmetric_signature=ECDSA), family=SECP_R1, **flags)


def test_listed_with_its_uuid_and_opcodes(provider: UnderTest) -> None:
    wire, kind = provider.wire, provider.kind
    listed = wire.ok(Opcode.LIST_PROVIDERS, list_providers_pb2.Operation())
    assert {p.id: p.uuid for p in listed.providers}[kind.provider_id] == kind.uuid
    op = list_opcodes_pb2.Operation(provider_id=kind.provider_id)
    opcodes = set(wire.ok(Opcode.LIST_OPCODES, op).opcodes)
    common = {
        Opcode.PSA_GENERATE_KEY,
        Opcode.PSA_DESTROY_KEY,
        Opcode.PSA_IMPORT_KEY,
        Opcode.PSA_EXPORT_PUBLIC_KEY,
        Opcode.PSA_EXPORT_KEY,
        Opcode.PSA_SIGN_HASH,
        Opcode.PSA_VERIFY_HASH,
        Opcode.PSA_SIGN_MESSAGE,
        Opcode.PSA_VERIFY_MESSAGE,
        Opcode.PSA_ASYMMETRIC_ENCRYPT,
        Opcode.PSA_ASYMMETRIC_DECRYPT,
        Opcode.PSA_GENERATE_RANDOM,
        Opcode.CAN_DO_CRYPTO,
    }
    assert common <= opcodes
    assert (Opcode.PSA_AEAD_ENCRYPT in opcodes) == provider.can("aes_gcm")


def test_destroy(provider: UnderTest) -> None:
    wire, app = provider.wire, fresh_app()
    wire.generate("doomed", ecc(sign_hash=True), app)
    first = wire.public("doomed", app)
    destroy = psa_destroy_key_pb2.Operation(key_name="doomed")
    wire.ok(Opcode.PSA_DESTROY_KEY, destroy, app)
    public = psa_export_public_key_pb2.Operation(key_name="doomed")
    assert wire.fails(Opcode.PSA_EXPORT_PUBLIC_KEY, public, app) is Status.PSA_ERROR_DOES_NOT_EXIST
    assert wire.fails(Opcode.PSA_DESTROY_KEY, destroy, app) is Status.PSA_ERROR_DOES_NOT_EXIST
    sign_op = psa_sign_hash_pb2.Operation(key_name="doomed", alg=ECDSA, hash=bytes(32))
    assert wire.fails(Opcode.PSA_SIGN_HASH, sign_op, app) is Status.PSA_ERROR_DOES_NOT_EXIST
    # The name is free again, for a new key.
    wire.generate("doomed", ecc(sign_hash=True), app)
    assert wire.public("doomed", app) != first


def test_applications_are_isolated(provider: UnderTest) -> None:
    wire, a, b, c = provider.wire, fresh_app(), fresh_app(), fresh_app()
    wire.generate("same", ecc(sign_hash=True, verify_hash=True), a)
    wire.generate("same", ecc(sign_hash=True, verify_hash=True), b)
    pub_a, pub_b = wire.public("same", a), wire.public("same", b)
    assert pub_a != pub_b
    public = psa_export_public_key_pb2.Operation(key_name="same")
    assert wire.fails(Opcode.PSA_EXPORT_PUBLIC_KEY, public, c) is Status.PSA_ERROR_DOES_NOT_EXIST
    signed = wire.ok(
        Opcode.PSA_SIGN_HASH,
        psa_sign_hash_pb2.Operation(key_name="same", alg=ECDSA, hash=bytes(32)),
        a,
    ).signature
    verify = psa_verify_hash_pb2.Operation(
        key_name="same", alg=ECDSA, hash=bytes(32), signature=signed
    )
    wire.ok(Opcode.PSA_VERIFY_HASH, verify, a)
    assert wire.fails(Opcode.PSA_VERIFY_HASH, verify, b) is Status.PSA_ERROR_INVALID_SIGNATURE
    wire.ok(Opcode.PSA_DESTROY_KEY, psa_destroy_key_pb2.Operation(key_name="same"), b)
    assert wire.fails(Opcode.PSA_EXPORT_PUBLIC_KEY, public, b) is Status.PSA_ERROR_DOES_NOT_EXIST
    assert wire.public("same", a) == pub_a


def test_export_needs_the_flag_and_a_provider_that_lets_keys_out(provider: UnderTest) -> None:
    wire = provider.wire
    wire.generate("kept-in", ecc(sign_hash=True))
    op = psa_export_key_pb2.Operation(key_name="kept-in")
    assert wire.fails(Opcode.PSA_EXPORT_KEY, op) is Status.PSA_ERROR_NOT_PERMITTED
    wire.generate("exportable", ecc(sign_hash=True, export=True))
    op = psa_export_key_pb2.Operation(key_name="exportable")
    if not provider.can("export_private"):
        assert wire.fails(Opcode.PSA_EXPORT_KEY, op) is Status.PSA_ERROR_NOT_PERMITTED
        return
    scalar = int.from_bytes(wire.ok(Opcode.PSA_EXPORT_KEY, op).data, "big")
    derived = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
    assert derived == ec_public(256, wire.public("exportable"))


@pytest.mark.parametrize("size", [0, 1, 48, 1000])
def test_generate_random(provider: UnderTest, size: int) -> None:
    op = psa_generate_random_pb2.Operation(size=size)
    data = provider.wire.ok(Opcode.PSA_GENERATE_RANDOM, op).random_bytes
    assert len(data) == size
    if size == 1000:
        assert len(set(data)) > 100


@dataclass(frozen=True)
class Refusal:
    """A key (made first, under `key`'s name) and a request PSA's policy must refuse."""

    key: str
    attributes: psa_key_attributes_pb2.KeyAttributes | None
    opcode: Opcode
    operation: Message
    status: Status


def _signing(
    attrs: psa_key_attributes_pb2.KeyAttributes,
    alg: A.AsymmetricSignature,
    size: int,
    status: Status,
) -> Refusal:
    """A key made with `attrs` asked to sign a `size`-byte hash with `alg`."""
    op = psa_sign_hash_pb2.Operation(key_name="key", alg=alg, hash=bytes(size))
    return Refusal("key", attrs, Opcode.PSA_SIGN_HASH, op, status)


WILDCARD = attributes(
    "ecc_key_pair",
    256,
    A(asymmetric_signature=sign("ecdsa", any_hash=True)),
    family=SECP_R1,
    sign_hash=True,
)
SHA1_ECDSA = sign("ecdsa", A.Hash.SHA_1)
REFUSALS = {
    "sign-without-the-flag": _signing(
        ecc(verify_hash=True), ECDSA, 32, Status.PSA_ERROR_NOT_PERMITTED
    ),
    "another-algorithm": _signing(
        ecc(sign_hash=True), sign("ecdsa", A.Hash.SHA_384), 48, Status.PSA_ERROR_NOT_PERMITTED
    ),
    "wrong-hash-length": _signing(
        ecc(sign_hash=True), ECDSA, 20, Status.PSA_ERROR_INVALID_ARGUMENT
    ),
    "wildcard-with-sha1": _signing(WILDCARD, SHA1_ECDSA, 20, Status.DEPRECATED_PRIMITIVE),
    "wildcard-with-sha384": _signing(WILDCARD, sign("ecdsa", A.Hash.SHA_384), 48, Status.SUCCESS),
    "encrypt-without-the-flag": Refusal(
        "key",
        attributes("rsa_key_pair", 2048, A(asymmetric_encryption=pkcs1v15_crypt()), decrypt=True),
        Opcode.PSA_ASYMMETRIC_ENCRYPT,
        psa_asymmetric_encrypt_pb2.Operation(key_name="key", alg=pkcs1v15_crypt(), plaintext=b"x"),
        Status.PSA_ERROR_NOT_PERMITTED,
    ),
    "name-taken": Refusal(
        "key",
        ecc(sign_hash=True),
        Opcode.PSA_GENERATE_KEY,
        psa_generate_key_pb2.Operation(key_name="key", attributes=ecc(sign_hash=True)),
        Status.PSA_ERROR_ALREADY_EXISTS,
    ),
    "deprecated-policy": Refusal(
        "key",
        None,
        Opcode.PSA_GENERATE_KEY,
        psa_generate_key_pb2.Operation(
            key_name="key",
            attributes=attributes(
                "ecc_key_pair",
                256,
                A(asymmetric_signature=SHA1_ECDSA),
                family=SECP_R1,
                sign_hash=True,
            ),
        ),
        Status.DEPRECATED_PRIMITIVE,
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_policy(provider: UnderTest, case: str) -> None:
    refusal, app = REFUSALS[case], fresh_app()
    if refusal.attributes is not None:
        provider.wire.generate(refusal.key, refusal.attributes, app)
    status, _ = provider.wire.call(refusal.opcode, refusal.operation, app)
    assert status is refusal.status
