"""Asymmetric encryption: RSA PKCS#1 v1.5 and RSA-OAEP (MGF1 with the OAEP hash).

PSA passes the OAEP label in the `salt` field; PKCS#1 v1.5 takes no salt, so a non-empty one is
PsaErrorInvalidArgument. A failed OAEP decryption is PsaErrorInvalidPadding, with no detail. A
bad PKCS#1 v1.5 padding gives a random message by default (OpenSSL's implicit rejection: no
padding oracle); with both `parsec_compatible` and `allow_deprecated` (the oracle is a deprecated
primitive), PsaErrorInvalidPadding, as Parsec answers.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tessera.psa.algorithms import EncryptionAlgorithm, EncryptionScheme, parse_encryption
from tessera.psa.hashes import hash_algorithm
from tessera.psa.key_types import KeyType
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.encrypting import check_plaintext_length
from tessera.service.providers.software.policy import Settings, open_for
from tessera.service.providers.software.rsa_private import pkcs1v15_decrypt_explicit
from tessera.wire import contracts
from tessera.wire.proto import psa_asymmetric_decrypt_pb2, psa_asymmetric_encrypt_pb2
from tessera.wire.status import Status, StatusError

ENCRYPTION_USAGES = (Usage.ENCRYPT, Usage.DECRYPT)


def _invalid(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def check_encryption(key_type: KeyType, bits: int, alg: EncryptionAlgorithm, usage: Usage) -> None:
    """Refuse a key/algorithm/use combination that cannot work."""
    if not key_type.is_rsa:
        raise _invalid("asymmetric encryption needs an RSA key")
    if usage is Usage.DECRYPT and not key_type.is_key_pair:
        raise _invalid("decryption needs a key pair")
    if alg.hash is not None:
        hash_algorithm(alg.hash)
        if alg.max_plaintext(bits) < 0:
            raise _invalid("the RSA key is too small for OAEP with this hash")


def _padding(alg: EncryptionAlgorithm, salt: bytes) -> padding.AsymmetricPadding:
    if alg.scheme is EncryptionScheme.RSA_PKCS1V15:
        if salt:
            raise _invalid("PKCS#1 v1.5 encryption takes no salt")
        return padding.PKCS1v15()
    assert alg.hash is not None
    hash_obj = hash_algorithm(alg.hash)
    return padding.OAEP(mgf=padding.MGF1(hash_obj), algorithm=hash_obj, label=salt or None)


@serves(contracts.PSA_ASYMMETRIC_ENCRYPT)
def asymmetric_encrypt(
    settings: Settings, owner: Owner, op: psa_asymmetric_encrypt_pb2.Operation
) -> psa_asymmetric_encrypt_pb2.Result:
    """PsaAsymmetricEncrypt (key pair or public key)."""
    alg = parse_encryption(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.ENCRYPT, alg)
    check_encryption(key.attributes.key_type, key.bits, alg, Usage.ENCRYPT)
    pad = _padding(alg, op.salt)
    check_plaintext_length(key.bits, alg, op.plaintext)
    public = settings.vault.public_key(key)
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        ciphertext = public.encrypt(op.plaintext, pad)
    except UnsupportedAlgorithm:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "unsupported by the backend") from None
    return psa_asymmetric_encrypt_pb2.Result(ciphertext=ciphertext)


@serves(contracts.PSA_ASYMMETRIC_DECRYPT)
def asymmetric_decrypt(
    settings: Settings, owner: Owner, op: psa_asymmetric_decrypt_pb2.Operation
) -> psa_asymmetric_decrypt_pb2.Result:
    """PsaAsymmetricDecrypt (key pair only)."""
    alg = parse_encryption(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.DECRYPT, alg)
    check_encryption(key.attributes.key_type, key.bits, alg, Usage.DECRYPT)
    pad = _padding(alg, op.salt)
    if len(op.ciphertext) != key.bits // 8:
        raise _invalid("the ciphertext is not as long as the modulus")
    private = settings.vault.private_key(key)
    assert isinstance(private, rsa.RSAPrivateKey)
    if alg.scheme is EncryptionScheme.RSA_PKCS1V15 and settings.pkcs1v15_padding_errors:
        plaintext = pkcs1v15_decrypt_explicit(private, op.ciphertext)
        return psa_asymmetric_decrypt_pb2.Result(plaintext=plaintext)
    try:
        plaintext = private.decrypt(op.ciphertext, pad)
    except UnsupportedAlgorithm:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "unsupported by the backend") from None
    except ValueError:
        raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed") from None
    return psa_asymmetric_decrypt_pb2.Result(plaintext=plaintext)
