"""Key types and algorithms as the CLI prints them: JSON values for scripts, words for people."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tessera
from tessera.cli._psa_names import (
    algorithm_json,
    algorithm_words,
    hash_name,
    key_type_json,
    key_type_words,
)
from tessera.client import specs
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyType

A = Algorithm
Sig = Algorithm.AsymmetricSignature
NONE = A()
NONE.none.SetInParent()


@pytest.mark.parametrize(
    ("spec", "json_type", "json_algorithm", "words"),
    [
        (
            tessera.ECDSA_P256,
            {"kind": "ecc_key_pair", "curve_family": "secp_r1"},
            {"category": "asymmetric_signature", "scheme": "ecdsa", "hash": "sha256"},
            ("ECC key pair (secp256r1)", "ECDSA with SHA-256"),
        ),
        (
            tessera.ED25519,
            {"kind": "ecc_key_pair", "curve_family": "twisted_edwards"},
            {"category": "asymmetric_signature", "scheme": "pure_eddsa"},
            ("ECC key pair (Edwards25519)", "pure EdDSA"),
        ),
        (
            specs.rsa_pss(2048, A.SHA_512),
            {"kind": "rsa_key_pair"},
            {"category": "asymmetric_signature", "scheme": "rsa_pss", "hash": "sha512"},
            ("RSA key pair", "RSA-PSS with SHA-512"),
        ),
        (
            tessera.RSA_3072_OAEP,
            {"kind": "rsa_key_pair"},
            {"category": "asymmetric_encryption", "scheme": "rsa_oaep", "hash": "sha256"},
            ("RSA key pair", "RSA-OAEP with SHA-256"),
        ),
        (
            tessera.AES_256_GCM,
            {"kind": "aes"},
            {"category": "aead", "scheme": "gcm"},
            ("AES key", "GCM"),
        ),
        (
            tessera.HMAC_SHA256,
            {"kind": "hmac"},
            {"category": "mac", "scheme": "hmac", "hash": "sha256"},
            ("HMAC key", "HMAC with SHA-256"),
        ),
        (
            tessera.X25519,
            {"kind": "ecc_key_pair", "curve_family": "montgomery"},
            {"category": "key_agreement", "scheme": "ecdh"},
            ("ECC key pair (Curve25519)", "ECDH"),
        ),
    ],
)
def test_the_specs(
    spec: tessera.KeySpec,
    json_type: dict[str, Any],
    json_algorithm: dict[str, Any],
    words: tuple[str, str],
) -> None:
    attributes = spec.attributes()
    as_type = key_type_json(attributes.key_type)
    as_algorithm = algorithm_json(attributes.key_policy.key_algorithm)
    assert (as_type, as_algorithm) == (json_type, json_algorithm)
    assert json.loads(json.dumps([as_type, as_algorithm])) == [as_type, as_algorithm]
    described = (key_type_words(as_type, spec.bits), algorithm_words(as_algorithm))
    assert described == words


@pytest.mark.parametrize(
    ("algorithm", "json_value", "words"),
    [
        (NONE, {"category": "none"}, "none"),
        (A(), None, "none"),
        (A(hash=A.SHA_512_224), {"category": "hash", "hash": "sha512-224"}, "hash SHA-512/224"),
        (
            A(cipher=A.CBC_PKCS7),
            {"category": "cipher", "scheme": "cbc_pkcs7"},
            "CBC with PKCS#7 padding",
        ),
        (
            A(
                aead=A.Aead(
                    aead_with_shortened_tag=A.Aead.AeadWithShortenedTag(
                        aead_alg=A.Aead.CCM, tag_length=8
                    )
                )
            ),
            {"category": "aead", "scheme": "ccm", "tag_length": 8},
            "CCM (8-byte tag)",
        ),
        (
            A(
                mac=A.Mac(
                    truncated=A.Mac.Truncated(
                        mac_alg=A.Mac.FullLength(cmac=A.Mac.FullLength.Cmac()), mac_length=8
                    )
                )
            ),
            {"category": "mac", "scheme": "cmac", "mac_length": 8},
            "CMAC, truncated to 8 bytes",
        ),
        (
            A(
                asymmetric_signature=Sig(
                    ecdsa=Sig.Ecdsa(hash_alg=Sig.SignHash(any=Sig.SignHash.Any()))
                )
            ),
            {"category": "asymmetric_signature", "scheme": "ecdsa", "hash": "any"},
            "ECDSA with any hash",
        ),
        (
            A(
                key_agreement=A.KeyAgreement(
                    with_key_derivation=A.KeyAgreement.WithKeyDerivation(
                        ka_alg=A.KeyAgreement.ECDH,
                        kdf_alg=A.KeyDerivation(hkdf=A.KeyDerivation.Hkdf(hash_alg=A.SHA3_256)),
                    )
                )
            ),
            {
                "category": "key_agreement",
                "scheme": "ecdh",
                "kdf": {"scheme": "hkdf", "hash": "sha3-256"},
            },
            "ECDH, then HKDF with SHA3-256",
        ),
    ],
)
def test_algorithms(algorithm: Algorithm, json_value: dict[str, Any] | None, words: str) -> None:
    value = algorithm_json(algorithm)
    assert value == json_value
    assert algorithm_words(value) == words


def test_key_types_keep_their_zero_valued_parameters() -> None:
    dh = KeyType(dh_key_pair=KeyType.DhKeyPair(group_family=KeyType.RFC7919))
    assert key_type_json(dh) == {"kind": "dh_key_pair", "group_family": "rfc7919"}
    assert key_type_words(key_type_json(dh), 2048) == "DH key pair (RFC 7919 group)"
    assert key_type_json(KeyType()) is None
    assert key_type_words(None, 0) == "unspecified type"


def test_curves_are_named_from_family_and_size() -> None:
    brainpool = KeyType(ecc_public_key=KeyType.EccPublicKey(curve_family=KeyType.BRAINPOOL_P_R1))
    assert key_type_words(key_type_json(brainpool), 384) == "ECC public key (brainpoolP384r1)"
    assert key_type_words(key_type_json(brainpool), 0) == "ECC public key (brainpool p r1 family)"


def test_hash_names_are_those_hash_alg_takes() -> None:
    assert [hash_name(v) for v in (A.SHA_256, A.SHA3_512, A.SHA_1, A.RIPEMD160)] == [
        "sha256",
        "sha3-512",
        "sha1",
        "ripemd160",
    ]
