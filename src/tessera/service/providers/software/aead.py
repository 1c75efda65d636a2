"""AEAD: AES-GCM, AES-CCM and ChaCha20-Poly1305, with PSA's shortened tags.

PSA output is ciphertext || tag. Tag lengths: GCM 4, 8, 12..16; CCM 4..16 even; ChaCha20-Poly1305
16 only (a shortened tag there is NotSupported). Nonce lengths: GCM 8..128 bytes (12 is the one
to use), CCM 7..13, ChaCha20-Poly1305 12. Out-of-range tags and nonces are InvalidArgument; a
tag that does not verify is InvalidSignature.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, ChaCha20Poly1305

from tessera.psa.algorithms import AeadAlgorithm, AeadKind, parse_aead
from tessera.psa.key_types import KeyKind, KeyType
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.software.policy import Settings, check_output, open_for
from tessera.wire import contracts
from tessera.wire.proto import psa_aead_decrypt_pb2, psa_aead_encrypt_pb2
from tessera.wire.status import Status, StatusError

_TAG_LENGTHS = {
    AeadKind.GCM: frozenset({4, 8, 12, 13, 14, 15, 16}),
    AeadKind.CCM: frozenset({4, 6, 8, 10, 12, 14, 16}),
    AeadKind.CHACHA20_POLY1305: frozenset({16}),
}
_NONCE_LENGTHS = {
    AeadKind.GCM: range(8, 129),
    AeadKind.CCM: range(7, 14),
    AeadKind.CHACHA20_POLY1305: range(12, 13),
}
AEAD_USAGES = (Usage.ENCRYPT, Usage.DECRYPT)


def _invalid(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def check_aead(key_type: KeyType, bits: int, alg: AeadAlgorithm, usage: Usage) -> None:
    """Refuse a key/algorithm combination that cannot work."""
    wanted = KeyKind.CHACHA20 if alg.kind is AeadKind.CHACHA20_POLY1305 else KeyKind.AES
    if key_type.kind is not wanted:
        raise _invalid(f"{alg.kind.name} needs a {wanted.value} key")
    if alg.tag_size not in _TAG_LENGTHS[alg.kind]:
        if alg.kind is AeadKind.CHACHA20_POLY1305:
            raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "ChaCha20-Poly1305 tags are 16 bytes")
        raise _invalid(f"{alg.tag_size}-byte tags are not valid for {alg.kind.name}")


def _check_nonce(alg: AeadAlgorithm, nonce: bytes) -> None:
    if len(nonce) not in _NONCE_LENGTHS[alg.kind]:
        raise _invalid(f"a {len(nonce)}-byte nonce is not valid for {alg.kind.name}")


def _encrypt(alg: AeadAlgorithm, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
    if alg.kind is AeadKind.CHACHA20_POLY1305:
        return ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    if alg.kind is AeadKind.CCM:
        return AESCCM(key, tag_length=alg.tag_size).encrypt(nonce, plaintext, aad)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return ciphertext + encryptor.tag[: alg.tag_size]


def _decrypt(alg: AeadAlgorithm, key: bytes, nonce: bytes, aad: bytes, data: bytes) -> bytes:
    if alg.kind is AeadKind.CHACHA20_POLY1305:
        return ChaCha20Poly1305(key).decrypt(nonce, data, aad)
    if alg.kind is AeadKind.CCM:
        return AESCCM(key, tag_length=alg.tag_size).decrypt(nonce, data, aad)
    ciphertext, tag = data[: -alg.tag_size], data[-alg.tag_size :]
    mode = modes.GCM(nonce, tag, min_tag_length=alg.tag_size)
    decryptor = Cipher(algorithms.AES(key), mode).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(ciphertext) + decryptor.finalize()


@serves(contracts.PSA_AEAD_ENCRYPT)
def aead_encrypt(
    settings: Settings, owner: Owner, op: psa_aead_encrypt_pb2.Operation
) -> psa_aead_encrypt_pb2.Result:
    """PsaAeadEncrypt: ciphertext || tag."""
    alg = parse_aead(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.ENCRYPT, alg)
    check_aead(key.attributes.key_type, key.bits, alg, Usage.ENCRYPT)
    _check_nonce(alg, op.nonce)
    check_output(settings, len(op.plaintext) + alg.tag_size)
    try:
        ciphertext = _encrypt(alg, key.data, op.nonce, op.additional_data, op.plaintext)
    except (ValueError, OverflowError):
        raise _invalid("input too long for this nonce length") from None
    return psa_aead_encrypt_pb2.Result(ciphertext=ciphertext)


@serves(contracts.PSA_AEAD_DECRYPT)
def aead_decrypt(
    settings: Settings, owner: Owner, op: psa_aead_decrypt_pb2.Operation
) -> psa_aead_decrypt_pb2.Result:
    """PsaAeadDecrypt: takes ciphertext || tag."""
    alg = parse_aead(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.DECRYPT, alg)
    check_aead(key.attributes.key_type, key.bits, alg, Usage.DECRYPT)
    _check_nonce(alg, op.nonce)
    if len(op.ciphertext) < alg.tag_size:
        raise _invalid("the ciphertext is shorter than the tag")
    try:
        plaintext = _decrypt(alg, key.data, op.nonce, op.additional_data, op.ciphertext)
    except InvalidTag:
        raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "authentication failed") from None
    except (ValueError, OverflowError):
        raise _invalid("input too long for this nonce length") from None
    return psa_aead_decrypt_pb2.Result(plaintext=plaintext)
