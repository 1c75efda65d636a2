"""Behaviours that Parsec's own e2e suite pins, and Tessera's secure defaults beside them."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tessera.psa.ripemd160 import ripemd160, ripemd160_python
from tessera.service.config import parse_config
from tessera.service.providers.software import SoftwareProvider
from tessera.wire import contracts
from tessera.wire.proto import (
    can_do_crypto_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_hash_compute_pb2,
    psa_import_key_pb2,
    psa_sign_hash_pb2,
    psa_verify_hash_pb2,
)
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes
from tessera.wire.status import Status

from .builders import (
    EDWARDS,
    MONTGOMERY,
    SECP_R1,
    A,
    aead,
    attributes,
    expect_status,
    pkcs1v15_crypt,
    sign,
    sign_policy,
)
from .conftest import APP, make_provider
from .test_capabilities import can

SECT_K1 = 4
SECT_R1 = 5
FRP = 8

# RIPEMD-160 known answers from the algorithm's authors (Dobbertin, Bosselaers, Preneel).
RIPEMD160_VECTORS = [
    (b"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
    (b"a", "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe"),
    (b"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
    (b"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"),
    (b"abcdefghijklmnopqrstuvwxyz", "f71c27109c692c1b56bbdceb5b9d2865b3708dbc"),
    (b"1234567890" * 8, "9b752e45573d4b39f4dbd3323cab82bf63326bfb"),
    (b"a" * 1_000_000, "52783243c1697bdbe16d37f97f68f08325dc1528"),
]


@pytest.mark.parametrize(("message", "expected"), RIPEMD160_VECTORS[:-1])
def test_ripemd160_known_answers(message: bytes, expected: str) -> None:
    assert ripemd160_python(message).hex() == expected
    assert ripemd160(message).hex() == expected


def test_ripemd160_million_a_and_block_boundaries() -> None:
    message, expected = RIPEMD160_VECTORS[-1]
    assert ripemd160(message).hex() == expected
    for length in (55, 56, 63, 64, 65, 119, 120):
        data = bytes(range(256))[:length]
        assert ripemd160_python(data) == hashlib.new("ripemd160", data).digest()


def test_hash_compute_ripemd160(provider: SoftwareProvider) -> None:
    operation = psa_hash_compute_pb2.Operation(alg=A.RIPEMD160, input=b"abc")
    result = provider.call(contracts.PSA_HASH_COMPUTE, APP, operation)
    assert result.hash.hex() == RIPEMD160_VECTORS[2][1]


def _generate(p: SoftwareProvider, name: str, attrs: KeyAttributes) -> None:
    p.call(
        contracts.PSA_GENERATE_KEY,
        APP,
        psa_generate_key_pb2.Operation(key_name=name, attributes=attrs),
    )


def test_rsa_pkcs1v15_with_ripemd160_signs_a_digest_info(lenient: SoftwareProvider) -> None:
    alg = sign("rsa_pkcs1v15_sign", A.RIPEMD160)
    attrs = attributes(
        "rsa_key_pair", 1024, A(asymmetric_signature=alg), sign_hash=True, verify_hash=True
    )
    _generate(lenient, "k", attrs)
    digest = ripemd160(b"message")
    signature = lenient.call(
        contracts.PSA_SIGN_HASH,
        APP,
        psa_sign_hash_pb2.Operation(key_name="k", alg=alg, hash=digest),
    ).signature
    lenient.call(
        contracts.PSA_VERIFY_HASH,
        APP,
        psa_verify_hash_pb2.Operation(key_name="k", alg=alg, hash=digest, signature=signature),
    )
    public_der = lenient.call(
        contracts.PSA_EXPORT_PUBLIC_KEY, APP, psa_export_public_key_pb2.Operation(key_name="k")
    ).data
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    recovered = public.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    assert recovered == bytes.fromhex("3021300906052b2403020105000414") + digest
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        lenient.call(
            contracts.PSA_VERIFY_HASH,
            APP,
            psa_verify_hash_pb2.Operation(
                key_name="k", alg=alg, hash=ripemd160(b"other"), signature=signature
            ),
        )


def test_ripemd160_refused_where_a_hash_object_is_needed(provider: SoftwareProvider) -> None:
    pss = attributes("rsa_key_pair", 2048, sign_policy("rsa_pss", A.RIPEMD160), sign_hash=True)
    with expect_status(Status.PSA_ERROR_NOT_SUPPORTED):
        provider.call(
            contracts.CAN_DO_CRYPTO,
            APP,
            can_do_crypto_pb2.Operation(check_type=can_do_crypto_pb2.USE, attributes=pss),
        )


def _pkcs1_key(p: SoftwareProvider) -> bytes:
    policy = A(asymmetric_encryption=pkcs1v15_crypt())
    _generate(p, "enc", attributes("rsa_key_pair", 2048, policy, encrypt=True, decrypt=True))
    return p.call(
        contracts.PSA_ASYMMETRIC_ENCRYPT,
        APP,
        psa_asymmetric_encrypt_pb2.Operation(
            key_name="enc", alg=pkcs1v15_crypt(), plaintext=b"secret"
        ),
    ).ciphertext


def test_pkcs1v15_bad_padding_is_reported_only_when_parsec_compatible(
    parsec_like: SoftwareProvider,
) -> None:
    ciphertext = _pkcs1_key(parsec_like)
    decrypt = psa_asymmetric_decrypt_pb2.Operation(key_name="enc", alg=pkcs1v15_crypt())
    decrypt.ciphertext = ciphertext
    assert parsec_like.call(contracts.PSA_ASYMMETRIC_DECRYPT, APP, decrypt).plaintext == b"secret"
    tampered = bytearray(ciphertext)
    tampered[20] ^= 1
    decrypt.ciphertext = bytes(tampered)
    with expect_status(Status.PSA_ERROR_INVALID_PADDING):
        parsec_like.call(contracts.PSA_ASYMMETRIC_DECRYPT, APP, decrypt)


def test_the_padding_oracle_needs_deprecated_primitives_allowed_too(tmp_path: Path) -> None:
    for allow_deprecated, parsec_compatible, oracle in [
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (True, True, True),
    ]:
        provider, store = make_provider(
            tmp_path / f"{allow_deprecated}-{parsec_compatible}",
            allow_deprecated=allow_deprecated,
            parsec_compatible=parsec_compatible,
        )
        store.close()
        assert provider.settings.pkcs1v15_padding_errors is oracle


def test_pkcs1v15_default_decryption_still_round_trips(provider: SoftwareProvider) -> None:
    ciphertext = _pkcs1_key(provider)
    decrypt = psa_asymmetric_decrypt_pb2.Operation(
        key_name="enc", alg=pkcs1v15_crypt(), ciphertext=ciphertext
    )
    assert provider.call(contracts.PSA_ASYMMETRIC_DECRYPT, APP, decrypt).plaintext == b"secret"


def test_an_unusable_aead_tag_length_is_stored_and_refused_on_use(
    provider: SoftwareProvider,
) -> None:
    alg = aead(A.Aead.GCM, 17)
    key = attributes("aes", 128, A(aead=alg), encrypt=True)
    provider.call(
        contracts.PSA_IMPORT_KEY,
        APP,
        psa_import_key_pb2.Operation(key_name="aes", attributes=key, data=bytes(16)),
    )
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        provider.call(
            contracts.PSA_AEAD_ENCRYPT,
            APP,
            psa_aead_encrypt_pb2.Operation(
                key_name="aes", alg=alg, nonce=bytes(12), plaintext=b"x"
            ),
        )


def test_a_public_key_exports_without_the_export_flag(provider: SoftwareProvider) -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    data = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    attrs = attributes("ecc_public_key", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1)
    provider.call(
        contracts.PSA_IMPORT_KEY,
        APP,
        psa_import_key_pb2.Operation(key_name="pub", attributes=attrs, data=data),
    )
    assert (
        provider.call(
            contracts.PSA_EXPORT_KEY, APP, psa_export_key_pb2.Operation(key_name="pub")
        ).data
        == data
    )


def test_a_size_that_disagrees_with_the_data_is_an_invalid_argument(
    provider: SoftwareProvider,
) -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    data = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    for bits in (224, 384, 200):
        attrs = attributes("ecc_public_key", bits, family=SECP_R1)
        with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
            provider.call(
                contracts.PSA_IMPORT_KEY,
                APP,
                psa_import_key_pb2.Operation(key_name="p", attributes=attrs, data=data),
            )


def test_p224_keys_sign(provider: SoftwareProvider) -> None:
    alg = sign("ecdsa", A.SHA_224)
    attrs = attributes(
        "ecc_key_pair", 224, A(asymmetric_signature=alg), family=SECP_R1, sign_hash=True
    )
    _generate(provider, "p224", attrs)
    signature = provider.call(
        contracts.PSA_SIGN_HASH,
        APP,
        psa_sign_hash_pb2.Operation(key_name="p224", alg=alg, hash=hashlib.sha224(b"m").digest()),
    ).signature
    assert len(signature) == 56


def _ecdsa_key(family: int, bits: int) -> KeyAttributes:
    return attributes(
        "ecc_key_pair", bits, sign_policy("ecdsa", A.SHA_256), family=family, sign_hash=True
    )


def test_can_do_crypto_is_truthful_by_default_and_parsec_shaped_when_asked(
    provider: SoftwareProvider, parsec_like: SoftwareProvider
) -> None:
    generate = can_do_crypto_pb2.GENERATE
    # Keys Parsec says it can make (by PSA's tables) but no library here makes.
    for family, bits in ((SECT_K1, 409), (SECT_R1, 409), (MONTGOMERY, 448)):
        assert not can(provider, generate, _ecdsa_key(family, bits))
        assert can(parsec_like, generate, _ecdsa_key(family, bits))
    # What neither can.
    for family, bits in ((SECP_R1, 512), (FRP, 256), (EDWARDS, 256)):
        assert not can(provider, generate, _ecdsa_key(family, bits))
        assert not can(parsec_like, generate, _ecdsa_key(family, bits))
    # Parsec counts any operation flag as "some use"; the default asks for a fitting one.
    decrypt_only = attributes(
        "ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1, decrypt=True
    )
    assert can(parsec_like, can_do_crypto_pb2.USE, decrypt_only)
    assert not can(provider, can_do_crypto_pb2.USE, decrypt_only)
    no_flags = attributes("ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1)
    assert not can(parsec_like, can_do_crypto_pb2.USE, no_flags)
    wrong_type = attributes("rsa_key_pair", 2048, sign_policy("ecdsa", A.SHA_256), encrypt=True)
    assert not can(parsec_like, can_do_crypto_pb2.USE, wrong_type)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("", (False, False)),  # the secure defaults
        ("allow_deprecated = true\n", (True, True)),  # one setting, as Parsec's own suite needs
        ("allow_deprecated = true\nparsec_compatible = false\n", (True, False)),
        ("parsec_compatible = true\n", (False, True)),
    ],
)
def test_parsec_compatible_follows_allow_deprecated_unless_set(
    settings: str, expected: tuple[bool, bool]
) -> None:
    config = parse_config(tomllib.loads(f"[core_settings]\n{settings}"))
    assert (config.allow_deprecated, config.parsec_compatible) == expected
