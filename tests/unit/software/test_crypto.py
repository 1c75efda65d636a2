"""Encryption, MACs and key agreement: known answers, tampering, sizes, policy."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tessera.psa.dh_groups import FfdhPrivateKey
from tessera.service.providers.software import SoftwareProvider
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_algorithm_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_cipher_decrypt_pb2,
    psa_cipher_encrypt_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
    psa_mac_compute_pb2,
    psa_mac_verify_pb2,
    psa_raw_key_agreement_pb2,
)
from tessera.wire.status import Status
from tests.vectors.loader import h, load

from .builders import (
    MONTGOMERY,
    SECP_R1,
    A,
    aead,
    attributes,
    cmac,
    ecdh,
    expect_status,
    ffdh,
    hmac,
    oaep,
    pkcs1v15_crypt,
)
from .conftest import APP, make_provider

CRYPT = {"encrypt": True, "decrypt": True}
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


# Asymmetric encryption


def asym_encrypt(
    p: SoftwareProvider, name: str, alg: Any, plaintext: bytes, salt: bytes = b""
) -> bytes:
    op = psa_asymmetric_encrypt_pb2.Operation(
        key_name=name, alg=alg, plaintext=plaintext, salt=salt
    )
    return p.call(contracts.PSA_ASYMMETRIC_ENCRYPT, APP, op).ciphertext


def asym_decrypt(
    p: SoftwareProvider, name: str, alg: Any, ciphertext: bytes, salt: bytes = b""
) -> bytes:
    op = psa_asymmetric_decrypt_pb2.Operation(
        key_name=name, alg=alg, ciphertext=ciphertext, salt=salt
    )
    return p.call(contracts.PSA_ASYMMETRIC_DECRYPT, APP, op).plaintext


def test_rsa_oaep_with_label_interoperates_with_cryptography(provider: SoftwareProvider) -> None:
    alg = oaep(A.SHA_256)
    put(
        provider,
        "r",
        attributes("rsa_key_pair", 2048, A(asymmetric_encryption=alg), **CRYPT),
        RSA_DER,
    )
    ciphertext = asym_encrypt(provider, "r", alg, b"secret", salt=b"label")
    expected = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"label")
    assert RSA_KEY.decrypt(ciphertext, expected) == b"secret"
    theirs = RSA_KEY.public_key().encrypt(b"hello", expected)
    assert asym_decrypt(provider, "r", alg, theirs, salt=b"label") == b"hello"
    with expect_status(Status.PSA_ERROR_INVALID_PADDING):
        asym_decrypt(provider, "r", alg, theirs, salt=b"other label")
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        asym_encrypt(provider, "r", alg, bytes(256 - 2 * 32 - 1))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        asym_decrypt(provider, "r", alg, theirs[:-1])
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        asym_encrypt(provider, "r", oaep(A.SHA_384), b"x")


def test_rsa_pkcs1v15_encryption(provider: SoftwareProvider) -> None:
    alg = pkcs1v15_crypt()
    public = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    put(
        provider,
        "pub",
        attributes("rsa_public_key", 2048, A(asymmetric_encryption=alg), **CRYPT),
        public,
    )
    put(
        provider,
        "pair",
        attributes("rsa_key_pair", 2048, A(asymmetric_encryption=alg), **CRYPT),
        RSA_DER,
    )
    ciphertext = asym_encrypt(provider, "pub", alg, b"m" * 245)
    assert RSA_KEY.decrypt(ciphertext, padding.PKCS1v15()) == b"m" * 245
    assert asym_decrypt(provider, "pair", alg, ciphertext) == b"m" * 245
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        asym_decrypt(provider, "pub", alg, ciphertext)  # a public key cannot decrypt
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        asym_encrypt(provider, "pub", alg, b"m", salt=b"no salt here")
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        asym_encrypt(provider, "pub", alg, b"m" * 246)


# AEAD

AEAD_KINDS = {"GCM": A.Aead.GCM, "CCM": A.Aead.CCM, "CHACHA20_POLY1305": A.Aead.CHACHA20_POLY1305}


def aead_encrypt(  # noqa: PLR0917 - mirrors the operation's fields
    p: SoftwareProvider, name: str, alg: Any, nonce: bytes, aad: bytes, plaintext: bytes
) -> bytes:
    op = psa_aead_encrypt_pb2.Operation(
        key_name=name, alg=alg, nonce=nonce, additional_data=aad, plaintext=plaintext
    )
    return p.call(contracts.PSA_AEAD_ENCRYPT, APP, op).ciphertext


def aead_decrypt(  # noqa: PLR0917 - mirrors the operation's fields
    p: SoftwareProvider, name: str, alg: Any, nonce: bytes, aad: bytes, ciphertext: bytes
) -> bytes:
    op = psa_aead_decrypt_pb2.Operation(
        key_name=name, alg=alg, nonce=nonce, additional_data=aad, ciphertext=ciphertext
    )
    return p.call(contracts.PSA_AEAD_DECRYPT, APP, op).plaintext


@pytest.mark.parametrize("vector", load("aead"), ids=lambda v: f"{v['alg']}-{v['tag_length']}")
def test_aead_known_answers(provider: SoftwareProvider, vector: dict[str, Any]) -> None:
    tag_length = vector["tag_length"]
    alg = aead(AEAD_KINDS[vector["alg"]], None if tag_length == 16 else tag_length)
    kind = "chacha20" if vector["alg"] == "CHACHA20_POLY1305" else "aes"
    put(provider, "k", attributes(kind, 0, A(aead=alg), **CRYPT), h(vector["key"]))
    nonce, aad = h(vector["nonce"]), h(vector["aad"])
    expected = h(vector["ciphertext"]) + h(vector["tag"])
    assert aead_encrypt(provider, "k", alg, nonce, aad, h(vector["plaintext"])) == expected
    assert aead_decrypt(provider, "k", alg, nonce, aad, expected) == h(vector["plaintext"])
    tampered = (
        bytes([expected[0] ^ 1]) + expected[1:]
        if expected[:-tag_length]
        else expected[:-1] + bytes([expected[-1] ^ 1])
    )
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        aead_decrypt(provider, "k", alg, nonce, aad, tampered)
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        aead_decrypt(provider, "k", alg, nonce, aad + b"x", expected)


def test_aead_shortened_tags_nonces_and_policy(provider: SoftwareProvider) -> None:
    short = aead(A.Aead.GCM, 12)
    put(provider, "short", attributes("aes", 0, A(aead=short), **CRYPT), bytes(16))
    out = aead_encrypt(provider, "short", short, bytes(12), b"", b"hello")
    assert len(out) == 5 + 12
    assert aead_decrypt(provider, "short", short, bytes(12), b"", out) == b"hello"
    # The policy names the 12-byte tag: the full tag is another algorithm.
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        aead_encrypt(provider, "short", aead(A.Aead.GCM), bytes(12), b"", b"hello")
    # A shortened tag of the full length is the default algorithm.
    full = aead(A.Aead.GCM)
    put(provider, "full", attributes("aes", 0, A(aead=full), **CRYPT), bytes(16))
    aead_encrypt(provider, "full", aead(A.Aead.GCM, 16), bytes(12), b"", b"x")
    for bad_nonce in (b"", bytes(7)):
        with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
            aead_encrypt(provider, "full", full, bad_nonce, b"", b"x")
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        aead_decrypt(provider, "full", full, bytes(12), b"", bytes(15))
    for kind, tag, status in (
        (A.Aead.GCM, 5, Status.PSA_ERROR_INVALID_ARGUMENT),
        (A.Aead.CCM, 5, Status.PSA_ERROR_INVALID_ARGUMENT),
        (A.Aead.GCM, 17, Status.PSA_ERROR_INVALID_ARGUMENT),
    ):
        alg = aead(kind, tag)
        with expect_status(status):
            put(provider, f"bad{kind}{tag}", attributes("aes", 0, A(aead=alg), **CRYPT), bytes(16))
            aead_encrypt(provider, f"bad{kind}{tag}", alg, bytes(12), b"", b"x")
    chacha = aead(A.Aead.CHACHA20_POLY1305, 8)
    put(provider, "cc", attributes("chacha20", 0, A(aead=chacha), **CRYPT), bytes(32))
    with expect_status(Status.PSA_ERROR_NOT_SUPPORTED):
        aead_encrypt(provider, "cc", chacha, bytes(12), b"", b"x")
    # GCM needs an AES key.
    put(provider, "wrong", attributes("chacha20", 0, A(aead=full), **CRYPT), bytes(32))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        aead_encrypt(provider, "wrong", full, bytes(12), b"", b"x")


def test_outputs_over_the_buffer_limit_are_refused(tmp_path: Any) -> None:
    small, store = make_provider(tmp_path, buffer_size_limit=64)
    try:
        alg = aead(A.Aead.GCM)
        put(small, "k", attributes("aes", 0, A(aead=alg), **CRYPT), bytes(16))
        aead_encrypt(small, "k", alg, bytes(12), b"", bytes(48))
        with expect_status(Status.RESPONSE_TOO_LARGE):
            aead_encrypt(small, "k", alg, bytes(12), b"", bytes(49))
    finally:
        store.close()


# Unauthenticated ciphers


def cipher_encrypt(
    p: SoftwareProvider, name: str, mode: psa_algorithm_pb2.Algorithm.Cipher, plaintext: bytes
) -> bytes:
    op = psa_cipher_encrypt_pb2.Operation(key_name=name, alg=mode, plaintext=plaintext)
    return p.call(contracts.PSA_CIPHER_ENCRYPT, APP, op).ciphertext


def cipher_decrypt(
    p: SoftwareProvider, name: str, mode: psa_algorithm_pb2.Algorithm.Cipher, ciphertext: bytes
) -> bytes:
    op = psa_cipher_decrypt_pb2.Operation(key_name=name, alg=mode, ciphertext=ciphertext)
    return p.call(contracts.PSA_CIPHER_DECRYPT, APP, op).plaintext


@pytest.mark.parametrize("vector", load("ciphers"), ids=lambda v: v["mode"])
def test_cipher_known_answers(provider: SoftwareProvider, vector: dict[str, Any]) -> None:
    mode = getattr(A, vector["mode"])
    kind = "chacha20" if vector["mode"] == "STREAM_CIPHER" else "aes"
    put(provider, "k", attributes(kind, 0, A(cipher=mode), **CRYPT), h(vector["key"]))
    iv, plaintext = h(vector["iv"]), h(vector["plaintext"])
    # Decryption takes IV || ciphertext, so a published vector checks it exactly.
    assert cipher_decrypt(provider, "k", mode, iv + h(vector["ciphertext"])) == plaintext
    out = cipher_encrypt(provider, "k", mode, plaintext)
    assert len(out) == len(iv) + len(plaintext)
    if iv:
        assert out[: len(iv)] != iv or mode == A.ECB_NO_PADDING  # a fresh random IV
    assert cipher_decrypt(provider, "k", mode, out) == plaintext


def test_cbc_pkcs7_padding_and_block_alignment(provider: SoftwareProvider) -> None:
    put(provider, "p", attributes("aes", 0, A(cipher=A.CBC_PKCS7), **CRYPT), bytes(16))
    out = cipher_encrypt(provider, "p", A.CBC_PKCS7, b"x" * 16)
    assert len(out) == 16 + 32  # IV, then a full block of padding after 16 bytes
    assert cipher_decrypt(provider, "p", A.CBC_PKCS7, out) == b"x" * 16
    put(provider, "raw", attributes("aes", 0, A(cipher=A.CBC_NO_PADDING), **CRYPT), bytes(16))
    garbage = cipher_encrypt(provider, "raw", A.CBC_NO_PADDING, bytes(range(16)))
    with expect_status(Status.PSA_ERROR_INVALID_PADDING):
        cipher_decrypt(provider, "p", A.CBC_PKCS7, garbage)  # same key, raw block: bad padding
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        cipher_encrypt(provider, "raw", A.CBC_NO_PADDING, bytes(15))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        cipher_decrypt(provider, "p", A.CBC_PKCS7, bytes(20))
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        cipher_encrypt(provider, "p", A.CTR, b"x")


def test_xts_needs_a_double_key(provider: SoftwareProvider) -> None:
    put(provider, "x", attributes("aes", 0, A(cipher=A.XTS), **CRYPT), bytes(range(32)))
    out = cipher_encrypt(provider, "x", A.XTS, b"y" * 40)
    assert cipher_decrypt(provider, "x", A.XTS, out) == b"y" * 40
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        cipher_encrypt(provider, "x", A.XTS, b"short")
    put(provider, "x128", attributes("aes", 0, A(cipher=A.XTS), **CRYPT), bytes(16))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        cipher_encrypt(provider, "x128", A.XTS, bytes(16))


# MACs


def mac_compute(p: SoftwareProvider, name: str, alg: Any, data: bytes) -> bytes:
    return p.call(
        contracts.PSA_MAC_COMPUTE,
        APP,
        psa_mac_compute_pb2.Operation(key_name=name, alg=alg, input=data),
    ).mac


def mac_verify(p: SoftwareProvider, name: str, alg: Any, data: bytes, mac: bytes) -> None:
    p.call(
        contracts.PSA_MAC_VERIFY,
        APP,
        psa_mac_verify_pb2.Operation(key_name=name, alg=alg, input=data, mac=mac),
    )


MAC_FLAGS = {"sign_message": True, "verify_message": True}


@pytest.mark.parametrize(
    "vector", load("rfc4231_hmac"), ids=lambda v: f"{v['hash']}-{len(v['mac']) // 2}"
)
def test_hmac_known_answers(provider: SoftwareProvider, vector: dict[str, str]) -> None:
    full = {"SHA_256": 32, "SHA_512": 64}[vector["hash"]]
    length = len(vector["mac"]) // 2
    alg = hmac(getattr(A, vector["hash"]), None if length == full else length)
    put(provider, "m", attributes("hmac", 0, A(mac=alg), **MAC_FLAGS), h(vector["key"]))
    assert mac_compute(provider, "m", alg, h(vector["data"])) == h(vector["mac"])
    mac_verify(provider, "m", alg, h(vector["data"]), h(vector["mac"]))
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        mac_verify(provider, "m", alg, h(vector["data"]) + b"x", h(vector["mac"]))
    with expect_status(Status.PSA_ERROR_INVALID_SIGNATURE):
        mac_verify(provider, "m", alg, h(vector["data"]), h(vector["mac"])[:-1])


@pytest.mark.parametrize("vector", load("rfc4493_cmac"), ids=["empty", "one-block"])
def test_cmac_known_answers(provider: SoftwareProvider, vector: dict[str, str]) -> None:
    alg = cmac()
    put(
        provider,
        "c",
        attributes("aes", 0, A(mac=alg), sign_hash=True, verify_hash=True),
        h(vector["key"]),
    )
    assert mac_compute(provider, "c", alg, h(vector["data"])) == h(vector["mac"])
    mac_verify(provider, "c", alg, h(vector["data"]), h(vector["mac"]))


def test_mac_truncation_and_key_types(provider: SoftwareProvider) -> None:
    put(provider, "m", attributes("hmac", 0, A(mac=hmac(A.SHA_256, 3)), **MAC_FLAGS), bytes(32))
    with expect_status(Status.PSA_ERROR_NOT_SUPPORTED):
        mac_compute(provider, "m", hmac(A.SHA_256, 3), b"x")
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        mac_compute(provider, "m", hmac(A.SHA_256, 33), b"x")
    put(provider, "raw", attributes("raw_data", 0, A(mac=hmac(A.SHA_256)), **MAC_FLAGS), bytes(32))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        mac_compute(provider, "raw", hmac(A.SHA_256), b"x")
    put(
        provider,
        "noflag",
        attributes("hmac", 0, A(mac=hmac(A.SHA_256)), verify_message=True),
        bytes(32),
    )
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        mac_compute(provider, "noflag", hmac(A.SHA_256), b"x")


# Key agreement


def agree(
    p: SoftwareProvider, name: str, alg: psa_algorithm_pb2.Algorithm.KeyAgreement.Raw, peer: bytes
) -> bytes:
    op = psa_raw_key_agreement_pb2.Operation(alg=alg, private_key_name=name, peer_key=peer)
    return p.call(contracts.PSA_RAW_KEY_AGREEMENT, APP, op).shared_secret


@pytest.mark.parametrize("vector", load("rfc7748_ecdh"), ids=["x25519", "x448"])
def test_montgomery_ecdh_matches_rfc7748(
    provider: SoftwareProvider, vector: dict[str, Any]
) -> None:
    put(
        provider,
        "x",
        attributes("ecc_key_pair", 0, ecdh(), family=MONTGOMERY, derive=True),
        h(vector["private"]),
    )
    public = provider.call(
        contracts.PSA_EXPORT_PUBLIC_KEY, APP, psa_export_public_key_pb2.Operation(key_name="x")
    ).data
    assert public == h(vector["public"])
    assert agree(provider, "x", A.KeyAgreement.ECDH, h(vector["peer"])) == h(vector["shared"])
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        agree(provider, "x", A.KeyAgreement.ECDH, bytes(len(h(vector["peer"]))))  # all-zero result
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        agree(provider, "x", A.KeyAgreement.ECDH, h(vector["peer"])[:-1])


def test_p256_ecdh_matches_nist_cavp(provider: SoftwareProvider) -> None:
    (vector,) = load("nist_ecc_cdh")
    put(
        provider,
        "p",
        attributes("ecc_key_pair", 256, ecdh(), family=SECP_R1, derive=True),
        h(vector["private"]),
    )
    peer = b"\x04" + h(vector["peer_x"]) + h(vector["peer_y"])
    assert agree(provider, "p", A.KeyAgreement.ECDH, peer) == h(vector["shared"])
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        agree(
            provider, "p", A.KeyAgreement.ECDH, peer[:-1] + bytes([peer[-1] ^ 1])
        )  # off the curve
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        agree(provider, "p", A.KeyAgreement.FFDH, peer)


def test_ffdh_parties_agree(provider: SoftwareProvider) -> None:
    family = psa_key_attributes_pb2.KeyType.RFC7919
    provider.call(
        contracts.PSA_GENERATE_KEY,
        APP,
        psa_generate_key_pb2.Operation(
            key_name="dh",
            attributes=attributes("dh_key_pair", 2048, ffdh(), family=family, derive=True),
        ),
    )
    ours = provider.call(
        contracts.PSA_EXPORT_PUBLIC_KEY, APP, psa_export_public_key_pb2.Operation(key_name="dh")
    ).data
    peer = FfdhPrivateKey.generate(2048)
    shared = agree(provider, "dh", A.KeyAgreement.FFDH, peer.public_key().public_bytes())
    assert len(shared) == 256
    from tessera.psa.dh_groups import FfdhPublicKey

    assert shared == peer.exchange(FfdhPublicKey(2048, int.from_bytes(ours, "big")))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        agree(provider, "dh", A.KeyAgreement.FFDH, (1).to_bytes(256, "big"))
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        agree(provider, "dh", A.KeyAgreement.ECDH, ours)


def test_a_kdf_policy_permits_the_raw_agreement(provider: SoftwareProvider) -> None:
    (vector,) = load("nist_ecc_cdh")
    with_kdf = A(
        key_agreement=A.KeyAgreement(
            with_key_derivation=A.KeyAgreement.WithKeyDerivation(
                ka_alg=A.KeyAgreement.ECDH,
                kdf_alg=A.KeyDerivation(hkdf=A.KeyDerivation.Hkdf(hash_alg=A.SHA_256)),
            )
        )
    )
    put(
        provider,
        "p",
        attributes("ecc_key_pair", 256, with_kdf, family=SECP_R1, derive=True),
        h(vector["private"]),
    )
    peer = b"\x04" + h(vector["peer_x"]) + h(vector["peer_y"])
    assert agree(provider, "p", A.KeyAgreement.ECDH, peer) == h(vector["shared"])
    put(
        provider,
        "noflag",
        attributes("ecc_key_pair", 256, ecdh(), family=SECP_R1),
        h(vector["private"]),
    )
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        agree(provider, "noflag", A.KeyAgreement.ECDH, peer)
