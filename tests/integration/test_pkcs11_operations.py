"""The PKCS#11 provider's imports, ciphers, ECDH, hashes and wider signatures, through the real
daemon on a temporary SoftHSM2 token, checked against `cryptography` with known keys; and its
CanDoCrypto with `parsec_compatible` (the shared driver's Parsec-style answer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    can_do_crypto_pb2,
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_cipher_decrypt_pb2,
    psa_cipher_encrypt_pb2,
    psa_export_key_pb2,
    psa_generate_key_pb2,
    psa_hash_compare_pb2,
    psa_hash_compute_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
    psa_raw_key_agreement_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.status import Status
from tests.integration.client_support import short_dir
from tests.integration.pkcs11_support import USER_PIN, SoftToken, make_token, require_softhsm
from tests.integration.provider_calls import ProviderCalls
from tests.support import start_service, stop_service
from tests.unit.software.builders import SECP_R1, A, aead, attributes, ecdh, oaep, sign

pytestmark = pytest.mark.integration

PKCS11 = 2
BRAINPOOL = psa_key_attributes_pb2.KeyType.BRAINPOOL_P_R1
CRYPT = {"encrypt": True, "decrypt": True}
AES_KEY = bytes(range(16))
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def wire() -> Iterator[tuple[ProviderCalls, SoftToken]]:
    require_softhsm()
    with short_dir() as state:
        token = make_token(state / "hsm")
        config = state / "config.toml"
        parsec_answers = "[core_settings]\nparsec_compatible = true\n\n"
        config.write_text(parsec_answers + token.provider_table(allow_export=True))
        service = start_service(state / "d", "--auth", "direct", config=config, env=token.env)
        try:
            yield ProviderCalls(service, PKCS11), token
        finally:
            stop_service(service)


def put(
    wire: ProviderCalls, name: str, attrs: psa_key_attributes_pb2.KeyAttributes, data: bytes
) -> None:
    op = psa_import_key_pb2.Operation(key_name=name, attributes=attrs, data=data)
    wire.ok(Opcode.PSA_IMPORT_KEY, op)


def export(wire: ProviderCalls, name: str) -> Status | bytes:
    status, result = wire.call(Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name=name))
    return result.data if status is Status.SUCCESS else status


# Run apart: python-pkcs11 loads SoftHSM2 once per process, with the first SOFTHSM2_CONF it saw.
_READ_FLAGS = """
import json, sys, pkcs11
from pkcs11 import Attribute, ObjectClass
token = pkcs11.lib(sys.argv[1]).get_token(token_label=sys.argv[2])
with token.open(user_pin=sys.argv[3]) as session:
    print(json.dumps([
        [bool(o[Attribute.SENSITIVE]), bool(o[Attribute.EXTRACTABLE])]
        for kind in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY)
        for o in session.get_objects({Attribute.CLASS: kind})
    ]))
"""


def private_flags(token: SoftToken) -> list[tuple[bool, bool]]:
    """(CKA_SENSITIVE, CKA_EXTRACTABLE) of every private and secret key on the token."""
    command = [sys.executable, "-c", _READ_FLAGS, token.library, token.label, USER_PIN]
    done = subprocess.run(command, env=token.env, capture_output=True, text=True, check=True)
    return [(sensitive, extractable) for sensitive, extractable in json.loads(done.stdout)]


def test_imported_keys_stay_on_the_token_unless_exportable(
    wire: tuple[ProviderCalls, SoftToken],
) -> None:
    calls, token = wire
    der = RSA_KEY.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    policy = A(asymmetric_encryption=oaep(A.Hash.SHA_256))
    put(calls, "rsa-sealed", attributes("rsa_key_pair", 2048, policy, **CRYPT), der)
    put(calls, "rsa-open", attributes("rsa_key_pair", 0, policy, export=True, **CRYPT), der)
    put(calls, "aes-sealed", attributes("aes", 0, A(cipher=A.CTR), **CRYPT), AES_KEY)
    assert export(calls, "rsa-open") == der
    assert export(calls, "rsa-sealed") is Status.PSA_ERROR_NOT_PERMITTED
    assert export(calls, "aes-sealed") is Status.PSA_ERROR_NOT_PERMITTED
    assert sorted(private_flags(token)) == [(False, True), (True, False), (True, False)]
    # OAEP-SHA-256 with a label: encrypted (in software, public key), not decrypted by SoftHSM2.
    encrypt = psa_asymmetric_encrypt_pb2.Operation(
        key_name="rsa-sealed", alg=oaep(A.Hash.SHA_256), plaintext=b"secret", salt=b"label"
    )
    ciphertext = calls.ok(Opcode.PSA_ASYMMETRIC_ENCRYPT, encrypt).ciphertext
    mgf = padding.MGF1(hashes.SHA256())
    assert RSA_KEY.decrypt(ciphertext, padding.OAEP(mgf, hashes.SHA256(), b"label")) == b"secret"
    decrypt = psa_asymmetric_decrypt_pb2.Operation(
        key_name="rsa-sealed", alg=oaep(A.Hash.SHA_256), ciphertext=ciphertext, salt=b"label"
    )
    assert calls.fails(Opcode.PSA_ASYMMETRIC_DECRYPT, decrypt) is Status.PSA_ERROR_NOT_SUPPORTED
    # RSA-1024 is deprecated: imported (with a warning), generated only if allowed.
    small = attributes("rsa_key_pair", 1024, policy, **CRYPT)
    op = psa_generate_key_pb2.Operation(key_name="small", attributes=small)
    assert calls.fails(Opcode.PSA_GENERATE_KEY, op) is Status.DEPRECATED_PRIMITIVE


@pytest.mark.parametrize(
    ("mode", "iv_size", "plaintext"),
    [
        (A.ECB_NO_PADDING, 0, bytes(range(32))),
        (A.CBC_NO_PADDING, 16, bytes(range(48))),
        (A.CBC_PKCS7, 16, b"seventeen bytes!!"),
        (A.CBC_PKCS7, 16, b""),
        (A.CTR, 16, b"any length at all"),
    ],
)
def test_cipher_modes(
    wire: tuple[ProviderCalls, SoftToken], mode: Algorithm.Cipher, iv_size: int, plaintext: bytes
) -> None:
    calls, _ = wire
    name = f"cipher-{mode}-{len(plaintext)}"
    put(calls, name, attributes("aes", 128, A(cipher=mode), **CRYPT), AES_KEY)
    enc = psa_cipher_encrypt_pb2.Operation(key_name=name, alg=mode, plaintext=plaintext)
    output = calls.ok(Opcode.PSA_CIPHER_ENCRYPT, enc).ciphertext
    iv, body = output[:iv_size], output[iv_size:]
    reference: modes.CBC | modes.CTR | modes.ECB = modes.CBC(iv)
    if mode == A.CTR:
        reference = modes.CTR(iv)
    if mode == A.ECB_NO_PADDING:
        reference = modes.ECB()
    decryptor = Cipher(algorithms.AES(AES_KEY), reference).decryptor()
    clear = decryptor.update(body) + decryptor.finalize()
    if mode == A.CBC_PKCS7:
        assert len(body) == (len(plaintext) // 16 + 1) * 16
        clear = clear[: -clear[-1]]
    assert clear == plaintext
    dec = psa_cipher_decrypt_pb2.Operation(key_name=name, alg=mode, ciphertext=output)
    assert calls.ok(Opcode.PSA_CIPHER_DECRYPT, dec).plaintext == plaintext


def test_cipher_edges(wire: tuple[ProviderCalls, SoftToken]) -> None:
    calls, _ = wire
    put(calls, "ctr", attributes("aes", 128, A(cipher=A.CTR), **CRYPT), AES_KEY)
    # A counter that wraps (PSA wraps it; the token would refuse).
    iv = b"\xff" * 15 + b"\xfe"
    body = Cipher(algorithms.AES(AES_KEY), modes.CTR(iv)).encryptor().update(b"x" * 50)
    dec = psa_cipher_decrypt_pb2.Operation(key_name="ctr", alg=A.CTR, ciphertext=iv + body)
    assert calls.ok(Opcode.PSA_CIPHER_DECRYPT, dec).plaintext == b"x" * 50
    put(calls, "pad", attributes("aes", 128, A(cipher=A.CBC_PKCS7), **CRYPT), AES_KEY)
    enc = Cipher(algorithms.AES(AES_KEY), modes.CBC(bytes(16))).encryptor()
    bad = enc.update(b"\x00" * 15 + b"\x11") + enc.finalize()
    dec = psa_cipher_decrypt_pb2.Operation(
        key_name="pad", alg=A.CBC_PKCS7, ciphertext=bytes(16) + bad
    )
    assert calls.fails(Opcode.PSA_CIPHER_DECRYPT, dec) is Status.PSA_ERROR_INVALID_PADDING
    put(calls, "ecb", attributes("aes", 128, A(cipher=A.ECB_NO_PADDING), **CRYPT), AES_KEY)
    op = psa_cipher_encrypt_pb2.Operation(key_name="ecb", alg=A.ECB_NO_PADDING, plaintext=b"x" * 17)
    assert calls.fails(Opcode.PSA_CIPHER_ENCRYPT, op) is Status.PSA_ERROR_INVALID_ARGUMENT
    put(calls, "cfb", attributes("aes", 128, A(cipher=A.CFB), **CRYPT), AES_KEY)
    op = psa_cipher_encrypt_pb2.Operation(key_name="cfb", alg=A.CFB, plaintext=b"x")
    assert calls.fails(Opcode.PSA_CIPHER_ENCRYPT, op) is Status.PSA_ERROR_NOT_SUPPORTED


@pytest.mark.parametrize("nonce_size", [8, 12, 13, 128])
def test_gcm_nonce_lengths(wire: tuple[ProviderCalls, SoftToken], nonce_size: int) -> None:
    calls, _ = wire
    name = f"gcm{nonce_size}"
    put(calls, name, attributes("aes", 128, A(aead=aead(A.Aead.GCM)), **CRYPT), AES_KEY)
    nonce = os.urandom(nonce_size)
    enc = psa_aead_encrypt_pb2.Operation(
        key_name=name, alg=aead(A.Aead.GCM), nonce=nonce, additional_data=b"ad", plaintext=b"hi"
    )
    ciphertext = calls.ok(Opcode.PSA_AEAD_ENCRYPT, enc).ciphertext
    assert AESGCM(AES_KEY).decrypt(nonce, ciphertext, b"ad") == b"hi"
    dec = psa_aead_decrypt_pb2.Operation(
        key_name=name,
        alg=aead(A.Aead.GCM),
        nonce=nonce,
        additional_data=b"ad",
        ciphertext=ciphertext,
    )
    assert calls.ok(Opcode.PSA_AEAD_DECRYPT, dec).plaintext == b"hi"


def _agree(calls: ProviderCalls, name: str, peer: bytes) -> tuple[Status, bytes]:
    op = psa_raw_key_agreement_pb2.Operation(
        alg=A.KeyAgreement.ECDH, private_key_name=name, peer_key=peer
    )
    status, result = calls.call(Opcode.PSA_RAW_KEY_AGREEMENT, op)
    return status, result.shared_secret if result is not None else b""


@pytest.mark.parametrize(
    ("family", "curve"),
    [(SECP_R1, ec.SECP256R1()), (SECP_R1, ec.SECP521R1()), (BRAINPOOL, ec.BrainpoolP256R1())],
)
def test_ecdh(wire: tuple[ProviderCalls, SoftToken], family: int, curve: ec.EllipticCurve) -> None:
    calls, _ = wire
    ours, theirs = ec.generate_private_key(curve), ec.generate_private_key(curve)
    size = (curve.key_size + 7) // 8
    scalar = ours.private_numbers().private_value.to_bytes(size, "big")
    name = f"ecdh-{curve.name}"
    put(calls, name, attributes("ecc_key_pair", 0, ecdh(), family=family, derive=True), scalar)
    point = theirs.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    status, shared = _agree(calls, name, point)
    assert status is Status.SUCCESS
    assert shared == theirs.exchange(ec.ECDH(), ours.public_key())
    off_curve = b"\x04" + bytes(2 * size - 1) + b"\x01"
    assert _agree(calls, name, off_curve)[0] is Status.PSA_ERROR_INVALID_ARGUMENT


def test_ecdh_generated_and_without_the_derive_flag(wire: tuple[ProviderCalls, SoftToken]) -> None:
    calls, _ = wire
    calls.generate("gen", attributes("ecc_key_pair", 384, ecdh(), family=SECP_R1, derive=True))
    calls.generate("nod", attributes("ecc_key_pair", 384, ecdh(), family=SECP_R1))
    peer = ec.generate_private_key(ec.SECP384R1())
    point = peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    ours = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), calls.public("gen"))
    assert _agree(calls, "gen", point) == (Status.SUCCESS, peer.exchange(ec.ECDH(), ours))
    assert _agree(calls, "nod", point)[0] is Status.PSA_ERROR_NOT_PERMITTED


def test_hashes(wire: tuple[ProviderCalls, SoftToken]) -> None:
    calls, _ = wire
    op = psa_hash_compute_pb2.Operation(alg=A.Hash.SHA_256, input=b"abc")
    expected = bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert calls.ok(Opcode.PSA_HASH_COMPUTE, op).hash == expected
    cmp = psa_hash_compare_pb2.Operation(alg=A.Hash.SHA_256, input=b"abc", hash=expected)
    calls.ok(Opcode.PSA_HASH_COMPARE, cmp)
    cmp = psa_hash_compare_pb2.Operation(alg=A.Hash.SHA_256, input=b"abd", hash=expected)
    assert calls.fails(Opcode.PSA_HASH_COMPARE, cmp) is Status.PSA_ERROR_INVALID_SIGNATURE


@pytest.mark.parametrize(
    ("hash_alg", "reference"),
    [(A.Hash.SHA3_256, hashes.SHA3_256()), (A.Hash.SHA_512_256, hashes.SHA512_256())],
)
def test_pkcs1v15_over_more_hashes(
    wire: tuple[ProviderCalls, SoftToken],
    hash_alg: Algorithm.Hash,
    reference: hashes.HashAlgorithm,
) -> None:
    calls, _ = wire
    alg = sign("rsa_pkcs1v15_sign", hash_alg)
    name = f"rsa-{hash_alg}"
    calls.generate(
        name, attributes("rsa_key_pair", 2048, A(asymmetric_signature=alg), sign_message=True)
    )
    op = psa_sign_message_pb2.Operation(key_name=name, alg=alg, message=b"hello")
    signature = calls.ok(Opcode.PSA_SIGN_MESSAGE, op).signature
    public = serialization.load_der_public_key(calls.public(name))
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, b"hello", padding.PKCS1v15(), reference)


@pytest.mark.parametrize(
    ("family", "bits", "curve"),
    [
        (psa_key_attributes_pb2.KeyType.SECP_K1, 256, ec.SECP256K1()),
        (BRAINPOOL, 384, ec.BrainpoolP384R1()),
    ],
)
def test_ecdsa_on_more_curves(
    wire: tuple[ProviderCalls, SoftToken], family: int, bits: int, curve: ec.EllipticCurve
) -> None:
    calls, _ = wire
    alg = sign("ecdsa", A.Hash.SHA_256)
    name = f"ecdsa-{curve.name}"
    calls.generate(
        name,
        attributes(
            "ecc_key_pair", bits, A(asymmetric_signature=alg), family=family, sign_hash=True
        ),
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"msg")
    op = psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=digest.finalize())
    signature = calls.ok(Opcode.PSA_SIGN_HASH, op).signature
    size = (bits + 7) // 8
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )
    public = ec.EllipticCurvePublicKey.from_encoded_point(curve, calls.public(name))
    public.verify(der, b"msg", ec.ECDSA(hashes.SHA256()))


def test_can_do_crypto_answers_as_parsec(wire: tuple[ProviderCalls, SoftToken]) -> None:
    calls, _ = wire
    sect = psa_key_attributes_pb2.KeyType.SECT_K1
    ecdsa = A(asymmetric_signature=sign("ecdsa", A.Hash.SHA_256))
    cases = [
        # PSA's tables say yes, though this provider cannot make such a key.
        (attributes("ecc_key_pair", 409, ecdsa, family=sect, sign_hash=True), Status.SUCCESS),
        (
            attributes("ecc_key_pair", 512, ecdsa, family=sect, sign_hash=True),
            Status.PSA_ERROR_NOT_SUPPORTED,
        ),
        (
            attributes("ecc_public_key", 256, ecdsa, family=SECP_R1, sign_hash=True),
            Status.PSA_ERROR_NOT_SUPPORTED,
        ),
    ]
    for attrs, expected in cases:
        op = can_do_crypto_pb2.Operation(check_type=can_do_crypto_pb2.GENERATE, attributes=attrs)
        assert calls.call(Opcode.CAN_DO_CRYPTO, op)[0] is expected
