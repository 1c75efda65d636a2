"""Encryption on every provider that has it: RSA PKCS#1 v1.5 everywhere, RSA-OAEP and the AEADs
where the capability table says so (elsewhere test_capabilities checks the refusal)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_import_key_pb2,
)
from tessera.wire.status import Status
from tests.conformance.harness import UnderTest
from tests.conformance.outside import HASHES, rsa_public
from tests.unit.software.builders import A, aead, attributes, oaep, pkcs1v15_crypt

pytestmark = pytest.mark.integration

CRYPT = {"encrypt": True, "decrypt": True}
SHA256 = HASHES[A.Hash.SHA_256]


def _round_trips(
    provider: UnderTest, name: str, alg: A.AsymmetricEncryption, pad: padding.AsymmetricPadding
) -> None:
    wire = provider.wire
    wire.generate(name, attributes("rsa_key_pair", 2048, A(asymmetric_encryption=alg), **CRYPT))
    op = psa_asymmetric_encrypt_pb2.Operation(key_name=name, alg=alg, plaintext=b"secret")
    ciphertext = wire.ok(Opcode.PSA_ASYMMETRIC_ENCRYPT, op).ciphertext
    back = psa_asymmetric_decrypt_pb2.Operation(key_name=name, alg=alg, ciphertext=ciphertext)
    assert wire.ok(Opcode.PSA_ASYMMETRIC_DECRYPT, back).plaintext == b"secret"
    back.ciphertext = rsa_public(wire.public(name)).encrypt(b"from outside", pad)
    assert wire.ok(Opcode.PSA_ASYMMETRIC_DECRYPT, back).plaintext == b"from outside"
    back.ciphertext = bytes(256)
    if isinstance(pad, padding.PKCS1v15) and provider.can("implicit_rejection"):
        # No padding oracle: a bad padding decrypts to a message derived from the ciphertext.
        assert wire.ok(Opcode.PSA_ASYMMETRIC_DECRYPT, back).plaintext != b"from outside"
        return
    assert wire.fails(Opcode.PSA_ASYMMETRIC_DECRYPT, back) is Status.PSA_ERROR_INVALID_PADDING


def test_rsa_pkcs1v15(provider: UnderTest) -> None:
    _round_trips(provider, "rsa-v15", pkcs1v15_crypt(), padding.PKCS1v15())


@pytest.mark.capability("rsa_oaep_sha256")
def test_rsa_oaep_sha256(provider: UnderTest) -> None:
    pad = padding.OAEP(padding.MGF1(SHA256), SHA256, None)
    _round_trips(provider, "rsa-oaep", oaep(A.Hash.SHA_256), pad)


def test_imported_rsa_public_key_encrypts(provider: UnderTest) -> None:
    private = rsa.generate_private_key(65537, 2048)
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.PKCS1)
    alg = pkcs1v15_crypt()
    attrs = attributes("rsa_public_key", 2048, A(asymmetric_encryption=alg), encrypt=True)
    op = psa_import_key_pb2.Operation(key_name="rsa-pub", attributes=attrs, data=der)
    provider.wire.ok(Opcode.PSA_IMPORT_KEY, op)
    encrypt = psa_asymmetric_encrypt_pb2.Operation(key_name="rsa-pub", alg=alg, plaintext=b"to you")
    ciphertext = provider.wire.ok(Opcode.PSA_ASYMMETRIC_ENCRYPT, encrypt).ciphertext
    assert private.decrypt(ciphertext, padding.PKCS1v15()) == b"to you"


AEADS = [
    pytest.param("aes", 128, A.Aead.GCM, marks=pytest.mark.capability("aes_gcm"), id="aes128-gcm"),
    pytest.param("aes", 192, A.Aead.GCM, marks=pytest.mark.capability("aes_gcm"), id="aes192-gcm"),
    pytest.param("aes", 256, A.Aead.GCM, marks=pytest.mark.capability("aes_gcm"), id="aes256-gcm"),
    pytest.param("aes", 128, A.Aead.CCM, marks=pytest.mark.capability("aes_ccm"), id="aes128-ccm"),
    pytest.param(
        "chacha20",
        256,
        A.Aead.CHACHA20_POLY1305,
        marks=pytest.mark.capability("chacha20_poly1305"),
        id="chacha20-poly1305",
    ),
]


@pytest.mark.parametrize(("key_kind", "bits", "kind"), AEADS)
def test_aead(
    provider: UnderTest, key_kind: str, bits: int, kind: A.Aead.AeadWithDefaultLengthTag
) -> None:
    wire, alg, name = provider.wire, aead(kind), f"aead-{key_kind}{bits}-{kind}"
    wire.generate(name, attributes(key_kind, bits, A(aead=alg), **CRYPT))
    nonce = b"\x07" * (12 if kind != A.Aead.CCM else 13)
    seal = psa_aead_encrypt_pb2.Operation(
        key_name=name, alg=alg, nonce=nonce, additional_data=b"ad", plaintext=b"data"
    )
    sealed = wire.ok(Opcode.PSA_AEAD_ENCRYPT, seal).ciphertext
    assert len(sealed) == 4 + 16
    open_ = psa_aead_decrypt_pb2.Operation(
        key_name=name, alg=alg, nonce=nonce, additional_data=b"ad", ciphertext=sealed
    )
    assert wire.ok(Opcode.PSA_AEAD_DECRYPT, open_).plaintext == b"data"
    open_.ciphertext = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert wire.fails(Opcode.PSA_AEAD_DECRYPT, open_) is Status.PSA_ERROR_INVALID_SIGNATURE
    open_.ciphertext, open_.additional_data = sealed, b"other"
    assert wire.fails(Opcode.PSA_AEAD_DECRYPT, open_) is Status.PSA_ERROR_INVALID_SIGNATURE
    seal.nonce = bytes(3)
    assert wire.fails(Opcode.PSA_AEAD_ENCRYPT, seal) is Status.PSA_ERROR_INVALID_ARGUMENT
