"""Named key specs turn into the PSA attributes their names promise."""

from __future__ import annotations

import pytest

import tessera
from tessera.client import specs
from tessera.client.specs import KeySpec
from tessera.psa.algorithms import (
    AeadAlgorithm,
    AeadKind,
    EncryptionAlgorithm,
    EncryptionScheme,
    Hash,
    KeyAgreementAlgorithm,
    KeyAgreementKind,
    MacAlgorithm,
    MacKind,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.attributes import parse_attributes
from tessera.psa.key_types import EccFamily, KeyKind
from tessera.psa.usage import UsageFlags

SIGNS = UsageFlags(sign_hash=True, verify_hash=True, sign_message=True, verify_message=True)
CRYPTS = UsageFlags(encrypt=True, decrypt=True)

EXPECTED = [
    (
        tessera.ECDSA_P256,
        KeyKind.ECC_KEY_PAIR,
        EccFamily.SECP_R1,
        256,
        SignAlgorithm(SignScheme.ECDSA, Hash.SHA_256),
        SIGNS,
    ),
    (
        tessera.ECDSA_P384,
        KeyKind.ECC_KEY_PAIR,
        EccFamily.SECP_R1,
        384,
        SignAlgorithm(SignScheme.ECDSA, Hash.SHA_384),
        SIGNS,
    ),
    (
        tessera.ECDSA_P521,
        KeyKind.ECC_KEY_PAIR,
        EccFamily.SECP_R1,
        521,
        SignAlgorithm(SignScheme.ECDSA, Hash.SHA_512),
        SIGNS,
    ),
    (
        tessera.ED25519,
        KeyKind.ECC_KEY_PAIR,
        EccFamily.TWISTED_EDWARDS,
        255,
        SignAlgorithm(SignScheme.PURE_EDDSA),
        UsageFlags(sign_message=True, verify_message=True),
    ),
    (
        tessera.RSA_3072_PSS,
        KeyKind.RSA_KEY_PAIR,
        None,
        3072,
        SignAlgorithm(SignScheme.RSA_PSS, Hash.SHA_256),
        SIGNS,
    ),
    (
        tessera.RSA_3072_OAEP,
        KeyKind.RSA_KEY_PAIR,
        None,
        3072,
        EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, Hash.SHA_256),
        CRYPTS,
    ),
    (
        tessera.AES_256_GCM,
        KeyKind.AES,
        None,
        256,
        AeadAlgorithm(AeadKind.GCM),
        CRYPTS,
    ),
    (
        tessera.CHACHA20_POLY1305,
        KeyKind.CHACHA20,
        None,
        256,
        AeadAlgorithm(AeadKind.CHACHA20_POLY1305),
        CRYPTS,
    ),
    (
        tessera.HMAC_SHA256,
        KeyKind.HMAC,
        None,
        256,
        MacAlgorithm(MacKind.HMAC, Hash.SHA_256),
        SIGNS,
    ),
    (
        tessera.ECDH_P256,
        KeyKind.ECC_KEY_PAIR,
        EccFamily.SECP_R1,
        256,
        KeyAgreementAlgorithm(KeyAgreementKind.ECDH),
        UsageFlags(derive=True),
    ),
    (
        tessera.X25519,
        KeyKind.ECC_KEY_PAIR,
        EccFamily.MONTGOMERY,
        255,
        KeyAgreementAlgorithm(KeyAgreementKind.ECDH),
        UsageFlags(derive=True),
    ),
]


@pytest.mark.parametrize(
    ("spec", "kind", "family", "bits", "algorithm", "usage"),
    EXPECTED,
    ids=[e[0].name for e in EXPECTED],
)
def test_named_spec_attributes(
    *,
    spec: KeySpec,
    kind: KeyKind,
    family: EccFamily | None,
    bits: int,
    algorithm: object,
    usage: UsageFlags,
) -> None:
    parsed = parse_attributes(spec.attributes())
    assert parsed.key_type.kind is kind
    assert parsed.key_type.family is family
    assert parsed.bits == bits
    assert parsed.algorithm == algorithm
    assert parsed.usage == usage
    assert not parsed.usage.export  # private material stays in the service unless asked


def test_exportable_is_a_copy_with_the_export_flag() -> None:
    exportable = tessera.AES_256_GCM.exportable()
    assert parse_attributes(exportable.attributes()).usage.export
    assert not parse_attributes(tessera.AES_256_GCM.attributes()).usage.export
    assert exportable.name == tessera.AES_256_GCM.name
    assert exportable.attributes().key_policy.key_algorithm == (
        tessera.AES_256_GCM.attributes().key_policy.key_algorithm
    )


def test_attributes_are_fresh_messages() -> None:
    first = tessera.ECDSA_P256.attributes()
    first.key_bits = 384
    first.key_policy.key_usage_flags.export = True
    again = parse_attributes(tessera.ECDSA_P256.attributes())
    assert again.bits == 256
    assert not again.usage.export


def test_specs_are_immutable() -> None:
    with pytest.raises(AttributeError):
        tessera.ECDSA_P256.bits = 384  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "bits", "algorithm"),
    [
        (specs.rsa_pss(2048), 2048, SignAlgorithm(SignScheme.RSA_PSS, Hash.SHA_256)),
        (
            specs.rsa_pss(4096, specs.Algorithm.SHA_512),
            4096,
            SignAlgorithm(SignScheme.RSA_PSS, Hash.SHA_512),
        ),
        (
            specs.rsa_pkcs1v15_sign(2048),
            2048,
            SignAlgorithm(SignScheme.RSA_PKCS1V15, Hash.SHA_256),
        ),
        (
            specs.rsa_oaep(2048, specs.Algorithm.SHA_384),
            2048,
            EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, Hash.SHA_384),
        ),
        (specs.aes_gcm(128), 128, AeadAlgorithm(AeadKind.GCM)),
        (specs.hmac(specs.Algorithm.SHA_512, 512), 512, MacAlgorithm(MacKind.HMAC, Hash.SHA_512)),
    ],
)
def test_spec_factories(spec: KeySpec, bits: int, algorithm: object) -> None:
    parsed = parse_attributes(spec.attributes())
    assert parsed.bits == bits
    assert parsed.algorithm == algorithm


def test_spec_names() -> None:
    assert specs.rsa_pss(2048).name == "rsa-2048-pss"
    assert specs.rsa_oaep().name == "rsa-3072-oaep"
    assert specs.hmac(specs.Algorithm.SHA_384).name == "hmac-sha384"
    assert tessera.HMAC_SHA256.name == "hmac-sha256"
    assert tessera.AES_256_GCM.name == "aes-256-gcm"
