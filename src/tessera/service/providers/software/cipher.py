"""Unauthenticated ciphers: AES in CBC (no padding, PKCS#7), CTR, CFB-128, OFB, ECB, XTS, and
ChaCha20 (STREAM_CIPHER with a ChaCha20 key).

As psa_cipher_encrypt does, the service draws a random IV and returns IV || ciphertext;
decryption takes IV || ciphertext. IVs: 16 bytes for the AES modes, 12 for ChaCha20 (RFC 8439,
block counter starting at 0), none for ECB. XTS takes a 256-bit AES key as two AES-128 halves.
"""

from __future__ import annotations

import os

from cryptography.hazmat.decrepit.ciphers import modes as legacy_modes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from tessera.psa.algorithms import CipherAlgorithm as PsaCipher
from tessera.psa.algorithms import CipherMode, parse_cipher
from tessera.psa.key_types import KeyKind, KeyType
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.software.policy import Settings, check_output, open_for
from tessera.wire import contracts
from tessera.wire.proto import psa_cipher_decrypt_pb2, psa_cipher_encrypt_pb2
from tessera.wire.status import Status, StatusError

BLOCK = 16
CIPHER_USAGES = (Usage.ENCRYPT, Usage.DECRYPT)
_BLOCK_ALIGNED = frozenset({CipherMode.ECB_NO_PADDING, CipherMode.CBC_NO_PADDING})


def _invalid(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def check_cipher(key_type: KeyType, bits: int, alg: PsaCipher, usage: Usage) -> None:
    """Refuse a key/algorithm combination that cannot work."""
    if alg.mode is CipherMode.STREAM_CIPHER:
        if key_type.kind is not KeyKind.CHACHA20:
            raise _invalid("the stream cipher needs a ChaCha20 key")
        return
    if key_type.kind is not KeyKind.AES:
        raise _invalid("block cipher modes need an AES key")
    if alg.mode is CipherMode.XTS and bits != 256:
        raise _invalid("XTS needs a 256-bit AES key (two AES-128 keys)")


def iv_length(mode: CipherMode) -> int:
    """Bytes of IV the mode prepends to its output."""
    if mode is CipherMode.ECB_NO_PADDING:
        return 0
    return 12 if mode is CipherMode.STREAM_CIPHER else BLOCK


def _mode(
    mode: CipherMode, iv: bytes
) -> modes.ModeWithNonce | modes.ModeWithTweak | modes.ModeWithInitializationVector | modes.ECB:
    if mode is CipherMode.CTR:
        return modes.CTR(iv)
    if mode is CipherMode.CFB:
        return legacy_modes.CFB(iv)  # moved to `decrepit`, but still what PSA_ALG_CFB is
    if mode is CipherMode.OFB:
        return legacy_modes.OFB(iv)
    if mode is CipherMode.XTS:
        return modes.XTS(iv)
    if mode is CipherMode.ECB_NO_PADDING:
        return modes.ECB()  # noqa: S305 - PSA_ALG_ECB_NO_PADDING is asked for by name
    return modes.CBC(iv)


def _context(mode: CipherMode, key: bytes, iv: bytes, *, encrypt: bool) -> CipherContext:
    try:
        if mode is CipherMode.STREAM_CIPHER:
            # cryptography's ChaCha20 nonce: 32-bit little-endian counter, then 96-bit nonce.
            stream = Cipher(algorithms.ChaCha20(key, bytes(4) + iv), None)
            return stream.encryptor() if encrypt else stream.decryptor()
        block = Cipher(algorithms.AES(key), _mode(mode, iv))
        return block.encryptor() if encrypt else block.decryptor()
    except ValueError:
        raise _invalid("the key cannot be used with this mode") from None


def _check_length(mode: CipherMode, length: int) -> None:
    if mode in _BLOCK_ALIGNED and length % BLOCK:
        raise _invalid("input must be a whole number of 16-byte blocks")
    if mode is CipherMode.XTS and length < BLOCK:
        raise _invalid("XTS needs at least one block")


@serves(contracts.PSA_CIPHER_ENCRYPT)
def cipher_encrypt(
    settings: Settings, owner: Owner, op: psa_cipher_encrypt_pb2.Operation
) -> psa_cipher_encrypt_pb2.Result:
    """PsaCipherEncrypt: IV || ciphertext, with a fresh random IV."""
    alg = parse_cipher(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.ENCRYPT, alg)
    check_cipher(key.attributes.key_type, key.bits, alg, Usage.ENCRYPT)
    mode = alg.mode
    _check_length(mode, len(op.plaintext))
    padded_size = (len(op.plaintext) // BLOCK + 1) * BLOCK
    check_output(
        settings,
        iv_length(mode) + (padded_size if mode is CipherMode.CBC_PKCS7 else len(op.plaintext)),
    )
    data = op.plaintext
    if mode is CipherMode.CBC_PKCS7:
        padder = sym_padding.PKCS7(BLOCK * 8).padder()
        data = padder.update(data) + padder.finalize()
    iv = os.urandom(iv_length(mode))
    encryptor = _context(mode, key.data, iv, encrypt=True)
    return psa_cipher_encrypt_pb2.Result(
        ciphertext=iv + encryptor.update(data) + encryptor.finalize()
    )


@serves(contracts.PSA_CIPHER_DECRYPT)
def cipher_decrypt(
    settings: Settings, owner: Owner, op: psa_cipher_decrypt_pb2.Operation
) -> psa_cipher_decrypt_pb2.Result:
    """PsaCipherDecrypt: takes IV || ciphertext."""
    alg = parse_cipher(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.DECRYPT, alg)
    check_cipher(key.attributes.key_type, key.bits, alg, Usage.DECRYPT)
    mode = alg.mode
    size = iv_length(mode)
    if len(op.ciphertext) < size:
        raise _invalid("the input is shorter than the IV")
    iv, body = op.ciphertext[:size], op.ciphertext[size:]
    if mode is CipherMode.CBC_PKCS7 and (not body or len(body) % BLOCK):
        raise _invalid("PKCS#7 ciphertext must be a non-empty whole number of blocks")
    _check_length(mode, len(body))
    decryptor = _context(mode, key.data, iv, encrypt=False)
    plaintext = decryptor.update(body) + decryptor.finalize()
    if mode is CipherMode.CBC_PKCS7:
        unpadder = sym_padding.PKCS7(BLOCK * 8).unpadder()
        try:
            plaintext = unpadder.update(plaintext) + unpadder.finalize()
        except ValueError:
            raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "invalid padding") from None
    return psa_cipher_decrypt_pb2.Result(plaintext=plaintext)
