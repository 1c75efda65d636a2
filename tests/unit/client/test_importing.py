"""cryptography key objects (and raw secrets) to PSA attributes and import data."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

import tessera
from tessera.client._errors import UsageError
from tessera.client._importing import attributes_and_data
from tessera.client.specs import rsa_oaep
from tessera.psa import formats
from tessera.psa.algorithms import (
    EncryptionAlgorithm,
    EncryptionScheme,
    Hash,
    KeyAgreementAlgorithm,
    KeyAgreementKind,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.attributes import parse_attributes
from tessera.psa.key_types import EccFamily, KeyKind, KeyType
from tessera.psa.usage import UsageFlags

RAW = serialization.Encoding.Raw
RAW_PUBLIC = serialization.PublicFormat.Raw
VERIFY = UsageFlags(verify_hash=True, verify_message=True)
SIGN = UsageFlags(sign_hash=True, verify_hash=True, sign_message=True, verify_message=True)
_RSA = rsa.generate_private_key(65537, 2048)


@pytest.mark.parametrize(
    ("curve", "family", "bits", "hash_alg"),
    [
        (ec.SECP256R1(), EccFamily.SECP_R1, 256, Hash.SHA_256),
        (ec.SECP384R1(), EccFamily.SECP_R1, 384, Hash.SHA_384),
        (ec.SECP521R1(), EccFamily.SECP_R1, 521, Hash.SHA_512),
        (ec.SECP256K1(), EccFamily.SECP_K1, 256, Hash.SHA_256),
    ],
)
def test_ec_private_key(
    curve: ec.EllipticCurve, family: EccFamily, bits: int, hash_alg: Hash
) -> None:
    key = ec.generate_private_key(curve)
    pb, data = attributes_and_data(key, None)
    attributes = parse_attributes(pb)
    assert attributes.key_type.kind is KeyKind.ECC_KEY_PAIR
    assert attributes.key_type.family is family
    assert attributes.bits == bits
    assert attributes.algorithm == SignAlgorithm(SignScheme.ECDSA, hash_alg)
    assert attributes.usage == SIGN
    # PSA format: the private scalar, big-endian, padded to the curve size
    assert data == key.private_numbers().private_value.to_bytes((bits + 7) // 8, "big")


def test_ec_public_key_can_only_verify() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    pb, data = attributes_and_data(public, None)
    attributes = parse_attributes(pb)
    assert attributes.key_type.kind is KeyKind.ECC_PUBLIC_KEY
    assert attributes.key_type.family is EccFamily.SECP_R1
    assert attributes.usage == VERIFY
    assert data == public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_rsa_private_key_defaults_to_pss() -> None:
    pb, data = attributes_and_data(_RSA, None)
    attributes = parse_attributes(pb)
    assert attributes.key_type.kind is KeyKind.RSA_KEY_PAIR
    assert attributes.bits == 2048
    assert attributes.algorithm == SignAlgorithm(SignScheme.RSA_PSS, Hash.SHA_256)
    assert data == _RSA.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    restored = formats.private_key(KeyType(KeyKind.RSA_KEY_PAIR), attributes.bits, data)
    assert isinstance(restored, rsa.RSAPrivateKey)
    assert restored.private_numbers() == _RSA.private_numbers()


def test_rsa_public_key() -> None:
    pb, data = attributes_and_data(_RSA.public_key(), None)
    attributes = parse_attributes(pb)
    assert attributes.key_type.kind is KeyKind.RSA_PUBLIC_KEY
    assert attributes.usage == VERIFY
    assert data == _RSA.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )


def test_an_explicit_spec_wins_but_the_size_comes_from_the_key() -> None:
    pb, _ = attributes_and_data(_RSA, rsa_oaep(3072))
    attributes = parse_attributes(pb)
    assert attributes.algorithm == EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, Hash.SHA_256)
    assert attributes.bits == 2048


def test_ed25519_keys() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pb, data = attributes_and_data(key, None)
    attributes = parse_attributes(pb)
    assert attributes.key_type.family is EccFamily.TWISTED_EDWARDS
    assert attributes.algorithm == SignAlgorithm(SignScheme.PURE_EDDSA)
    assert data == key.private_bytes(
        RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pb, data = attributes_and_data(key.public_key(), None)
    attributes = parse_attributes(pb)
    assert attributes.key_type.kind is KeyKind.ECC_PUBLIC_KEY
    assert attributes.usage == UsageFlags(verify_message=True)
    assert data == key.public_key().public_bytes(RAW, RAW_PUBLIC)


def test_x25519_private_key_agrees() -> None:
    key = x25519.X25519PrivateKey.generate()
    pb, data = attributes_and_data(key, None)
    attributes = parse_attributes(pb)
    assert attributes.key_type.family is EccFamily.MONTGOMERY
    assert attributes.bits == 255
    assert attributes.algorithm == KeyAgreementAlgorithm(KeyAgreementKind.ECDH)
    assert len(data) == 32


def test_raw_secret_needs_a_spec() -> None:
    with pytest.raises(UsageError, match="spec"):
        attributes_and_data(b"\x00" * 32, None)
    pb, data = attributes_and_data(b"\x01" * 16, tessera.AES_256_GCM)
    assert pb.key_bits == 128  # the size is the secret's, not the spec's
    assert data == b"\x01" * 16


def test_keys_without_a_default_spec() -> None:
    with pytest.raises(UsageError, match="no default key spec"):
        attributes_and_data(x25519.X25519PrivateKey.generate().public_key(), None)
    with pytest.raises(UsageError, match="not supported"):
        attributes_and_data(ec.generate_private_key(ec.SECP224R1()), None)
