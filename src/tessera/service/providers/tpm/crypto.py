"""Signatures and asymmetric encryption with TPM keys.

Private-key operations (sign, decrypt) run in the TPM. Public-key operations (verify, encrypt)
run with `cryptography` on the public key from the stored TPM2B_PUBLIC (or the imported data):
they need no secret, and this also serves imported public keys, which are never loaded into the
TPM. PSA formats as the software provider: ECDSA signatures are r || s; RSA-PSS salts are as long
as the hash (what the TPM uses); RSA PKCS#1 v1.5 signs a hash whose DigestInfo the TPM builds.
The signature operations are the shared ones (`providers.signing`), over this module's primitives.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tessera.psa.algorithms import (
    EncryptionAlgorithm,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.hashes import hash_algorithm
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.encrypting import check_plaintext_length, prepare_encryption
from tessera.service.providers.key_use import KeyUse
from tessera.service.providers.signing import SignPrimitives, signature_operations
from tessera.service.providers.software.sign import verify_public
from tessera.service.providers.tpm import checks
from tessera.service.providers.tpm.context import Context, HeldKey, open_for, public_object
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
)
from tessera.wire.status import Status, StatusError

_TPM_SCHEMES = {
    SignScheme.ECDSA: "ecdsa",
    SignScheme.ECDSA_ANY: "ecdsa",
    SignScheme.RSA_PKCS1V15: "rsassa",
    SignScheme.RSA_PSS: "rsapss",
}


def _sign(ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes) -> bytes:
    hash_alg = checks.tpm_hash(ctx.caps, alg, hash_value)
    if key.wrapped is None:  # check_sign refuses signing with public keys; kept for safety
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "signing needs a key pair")
    return ctx.tpm.sign(key.wrapped, _TPM_SCHEMES[alg.scheme], hash_alg, hash_value)


def _verify(
    ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes, signature: bytes
) -> None:
    verify_public(public_object(key), key.bits, alg, hash_value, signature)


def _check(ctx: Context, key: HeldKey, alg: SignAlgorithm, usage: Usage) -> None:
    checks.check_sign(ctx.caps, key.attributes.key_type, key.bits, alg, usage)


def _check_hash(ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes) -> None:
    checks.tpm_hash(ctx.caps, alg, hash_value)


KEY_OPERATIONS = signature_operations(
    SignPrimitives(KeyUse(open_for, _check), _check_hash, sign=_sign, verify=_verify)
)


def _check_encryption(ctx: Context, key: HeldKey, alg: EncryptionAlgorithm, usage: Usage) -> None:
    checks.check_encryption(ctx.caps, key.attributes.key_type, key.bits, alg, usage)


_KEYS = KeyUse(open_for, _check_encryption)


def _refuse_label(salt: bytes) -> None:
    if salt:
        raise checks.unsupported("this provider does not take OAEP labels")


@serves(contracts.PSA_ASYMMETRIC_ENCRYPT)
def asymmetric_encrypt(
    ctx: Context, owner: Owner, op: psa_asymmetric_encrypt_pb2.Operation
) -> psa_asymmetric_encrypt_pb2.Result:
    """PsaAsymmetricEncrypt (RSA key pair or public key), with the public key."""
    key, alg = prepare_encryption(_KEYS, ctx, owner, op, Usage.ENCRYPT)
    _refuse_label(op.salt)
    check_plaintext_length(key.bits, alg, op.plaintext)
    public = public_object(key)
    assert isinstance(public, rsa.RSAPublicKey)
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if alg.hash is not None:
        hash_obj = hash_algorithm(alg.hash)
        pad = padding.OAEP(mgf=padding.MGF1(hash_obj), algorithm=hash_obj, label=None)
    return psa_asymmetric_encrypt_pb2.Result(ciphertext=public.encrypt(op.plaintext, pad))


@serves(contracts.PSA_ASYMMETRIC_DECRYPT)
def asymmetric_decrypt(
    ctx: Context, owner: Owner, op: psa_asymmetric_decrypt_pb2.Operation
) -> psa_asymmetric_decrypt_pb2.Result:
    """PsaAsymmetricDecrypt (RSA key pair, in the TPM); every failure is InvalidPadding."""
    key, alg = prepare_encryption(_KEYS, ctx, owner, op, Usage.DECRYPT)
    _refuse_label(op.salt)
    if key.wrapped is None or len(op.ciphertext) != key.bits // 8:
        raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed")
    plaintext = ctx.tpm.rsa_decrypt(key.wrapped, op.ciphertext, alg.hash)
    return psa_asymmetric_decrypt_pb2.Result(plaintext=plaintext)
