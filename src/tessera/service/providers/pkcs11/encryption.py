"""Encryption with token keys: RSA (asymmetric), AES-GCM (AEAD) and AES modes (cipher).

Private and secret-key operations always run on the token. RSA encryption (a public-key
operation) runs on the token too, or with `cryptography` on the public key read from the token
when `software_public_operations` is set, or when the token cannot (OAEP with a hash other than
SHA-1, or with a label: SoftHSM2 implements neither). Formats as the software provider: AEAD
output is ciphertext || tag; cipher output is IV || ciphertext, with a fresh random IV.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tessera.psa.algorithms import (
    CipherMode,
    EncryptionAlgorithm,
    parse_aead,
    parse_cipher,
)
from tessera.psa.hashes import hash_algorithm
from tessera.psa.policy import check_output_size
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.encrypting import check_plaintext_length, prepare_encryption
from tessera.service.providers.key_use import KeyUse
from tessera.service.providers.pkcs11 import checks
from tessera.service.providers.pkcs11.context import Context, HeldKey, open_for
from tessera.service.providers.pkcs11.keys import public_object
from tessera.service.providers.software.cipher import BLOCK, iv_length
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_cipher_decrypt_pb2,
    psa_cipher_encrypt_pb2,
)
from tessera.wire.status import Status, StatusError

_BLOCK_ALIGNED = frozenset({CipherMode.ECB_NO_PADDING, CipherMode.CBC_NO_PADDING})


def _software_encrypt(
    ctx: Context, key: HeldKey, alg: EncryptionAlgorithm, plaintext: bytes, label: bytes
) -> bytes:
    public = public_object(ctx, key)
    assert isinstance(public, rsa.RSAPublicKey)
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if alg.hash is not None:
        hash_obj = hash_algorithm(alg.hash)
        pad = padding.OAEP(mgf=padding.MGF1(hash_obj), algorithm=hash_obj, label=label or None)
    return public.encrypt(plaintext, pad)


def _check_encryption(ctx: Context, key: HeldKey, alg: EncryptionAlgorithm, usage: Usage) -> None:
    checks.check_encryption(key.attributes.key_type, key.bits, alg, usage)


_KEYS = KeyUse(open_for, _check_encryption)


@serves(contracts.PSA_ASYMMETRIC_ENCRYPT)
def asymmetric_encrypt(
    ctx: Context, owner: Owner, op: psa_asymmetric_encrypt_pb2.Operation
) -> psa_asymmetric_encrypt_pb2.Result:
    """PsaAsymmetricEncrypt (RSA key pair or public key)."""
    key, alg = prepare_encryption(_KEYS, ctx, owner, op, Usage.ENCRYPT)
    check_plaintext_length(key.bits, alg, op.plaintext)
    token_can = alg.hash is None or (alg.hash in checks.OAEP_DECRYPT_HASHES and not op.salt)
    if ctx.software_public_operations or not token_can:
        ciphertext = _software_encrypt(ctx, key, alg, op.plaintext, op.salt)
    else:
        ciphertext = ctx.token.rsa_encrypt(key.key_id, op.plaintext, alg.hash, b"")
    return psa_asymmetric_encrypt_pb2.Result(ciphertext=ciphertext)


@serves(contracts.PSA_ASYMMETRIC_DECRYPT)
def asymmetric_decrypt(
    ctx: Context, owner: Owner, op: psa_asymmetric_decrypt_pb2.Operation
) -> psa_asymmetric_decrypt_pb2.Result:
    """PsaAsymmetricDecrypt (RSA key pair); every failure is InvalidPadding."""
    key, alg = prepare_encryption(_KEYS, ctx, owner, op, Usage.DECRYPT)
    if op.salt:
        raise checks.unsupported("the token does not take OAEP labels")
    if len(op.ciphertext) != key.bits // 8:
        raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed")
    plaintext = ctx.token.rsa_decrypt(key.key_id, op.ciphertext, alg.hash, b"")
    return psa_asymmetric_decrypt_pb2.Result(plaintext=plaintext)


@serves(contracts.PSA_AEAD_ENCRYPT)
def aead_encrypt(
    ctx: Context, owner: Owner, op: psa_aead_encrypt_pb2.Operation
) -> psa_aead_encrypt_pb2.Result:
    """PsaAeadEncrypt (AES-GCM): ciphertext || tag."""
    alg = parse_aead(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.ENCRYPT, alg)
    checks.check_aead(key.attributes.key_type, key.bits, alg, Usage.ENCRYPT, op.nonce)
    check_output_size(len(op.plaintext) + alg.tag_size, ctx.buffer_limit)
    ciphertext = ctx.token.gcm_encrypt(
        key.key_id, op.nonce, op.additional_data, op.plaintext, alg.tag_size
    )
    return psa_aead_encrypt_pb2.Result(ciphertext=ciphertext)


@serves(contracts.PSA_AEAD_DECRYPT)
def aead_decrypt(
    ctx: Context, owner: Owner, op: psa_aead_decrypt_pb2.Operation
) -> psa_aead_decrypt_pb2.Result:
    """PsaAeadDecrypt (AES-GCM): takes ciphertext || tag."""
    alg = parse_aead(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.DECRYPT, alg)
    checks.check_aead(key.attributes.key_type, key.bits, alg, Usage.DECRYPT, op.nonce)
    if len(op.ciphertext) < alg.tag_size:
        raise checks.invalid("the ciphertext is shorter than the tag")
    plaintext = ctx.token.gcm_decrypt(
        key.key_id, op.nonce, op.additional_data, op.ciphertext, alg.tag_size
    )
    return psa_aead_decrypt_pb2.Result(plaintext=plaintext)


def _check_length(mode: CipherMode, length: int) -> None:
    if mode in _BLOCK_ALIGNED and length % BLOCK:
        raise checks.invalid("input must be a whole number of 16-byte blocks")


@serves(contracts.PSA_CIPHER_ENCRYPT)
def cipher_encrypt(
    ctx: Context, owner: Owner, op: psa_cipher_encrypt_pb2.Operation
) -> psa_cipher_encrypt_pb2.Result:
    """PsaCipherEncrypt: IV || ciphertext, with a fresh random IV."""
    alg = parse_cipher(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.ENCRYPT, alg)
    checks.check_cipher(key.attributes.key_type, key.bits, alg, Usage.ENCRYPT)
    mode = alg.mode
    _check_length(mode, len(op.plaintext))
    size = len(op.plaintext)
    if mode is CipherMode.CBC_PKCS7:
        size = (size // BLOCK + 1) * BLOCK
    check_output_size(iv_length(mode) + size, ctx.buffer_limit)
    iv = os.urandom(iv_length(mode))
    body = b""
    if op.plaintext or mode is CipherMode.CBC_PKCS7:  # an empty PKCS#7 input is one padding block
        body = ctx.token.cipher(key.key_id, mode, iv, op.plaintext, encrypt=True)
    return psa_cipher_encrypt_pb2.Result(ciphertext=iv + body)


@serves(contracts.PSA_CIPHER_DECRYPT)
def cipher_decrypt(
    ctx: Context, owner: Owner, op: psa_cipher_decrypt_pb2.Operation
) -> psa_cipher_decrypt_pb2.Result:
    """PsaCipherDecrypt: takes IV || ciphertext."""
    alg = parse_cipher(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.DECRYPT, alg)
    checks.check_cipher(key.attributes.key_type, key.bits, alg, Usage.DECRYPT)
    mode = alg.mode
    size = iv_length(mode)
    if len(op.ciphertext) < size:
        raise checks.invalid("the input is shorter than the IV")
    iv, body = op.ciphertext[:size], op.ciphertext[size:]
    if mode is CipherMode.CBC_PKCS7 and (not body or len(body) % BLOCK):
        raise checks.invalid("PKCS#7 ciphertext must be a non-empty whole number of blocks")
    _check_length(mode, len(body))
    plaintext = ctx.token.cipher(key.key_id, mode, iv, body, encrypt=False) if body else b""
    return psa_cipher_decrypt_pb2.Result(plaintext=plaintext)
