"""Signatures, asymmetric encryption and AEAD with token keys.

Private-key operations always run on the token. Public-key operations (verify, encrypt) run on
the token too, or with `cryptography` on the public key read from the token when
`software_public_operations` is set (Parsec's option of the same name). PSA formats as the
software provider: ECDSA signatures are r || s; RSA PKCS#1 v1.5 signs a DigestInfo (built here,
the token's RSA_PKCS pads it); PSS salts are as long as the hash; AEAD output is ciphertext || tag.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tessera.psa.algorithms import (
    EncryptionScheme,
    Hash,
    SignAlgorithm,
    SignScheme,
    parse_aead,
    parse_encryption,
    parse_sign,
    require_specific,
)
from tessera.psa.hashes import digest, hash_algorithm
from tessera.psa.policy import check_output_size
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.pkcs11 import checks
from tessera.service.providers.pkcs11.context import Context, HeldKey, open_for
from tessera.service.providers.pkcs11.keys import public_object
from tessera.service.providers.software.sign import verify_public
from tessera.wire.proto import (
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_algorithm_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status, StatusError

# DER DigestInfo prefixes (RFC 8017, section 9.2, note 1).
_DIGEST_INFO = {
    Hash.SHA_1: bytes.fromhex("3021300906052b0e03021a05000414"),
    Hash.SHA_224: bytes.fromhex("302d300d06096086480165030402040500041c"),
    Hash.SHA_256: bytes.fromhex("3031300d060960864801650304020105000420"),
    Hash.SHA_384: bytes.fromhex("3041300d060960864801650304020205000430"),
    Hash.SHA_512: bytes.fromhex("3051300d060960864801650304020305000440"),
}


def _prepare(
    ctx: Context,
    owner: Owner,
    name: str,
    alg_pb: psa_algorithm_pb2.Algorithm.AsymmetricSignature,
    usage: Usage,
) -> tuple[HeldKey, SignAlgorithm]:
    alg = require_specific(parse_sign(alg_pb))
    key = open_for(ctx, owner, name, usage, alg)
    checks.check_sign(key.attributes.key_type, key.bits, alg, usage)
    return key, alg


def _token_input(alg: SignAlgorithm, hash_value: bytes) -> tuple[bytes, str]:
    """What the token's mechanism signs, and which mechanism."""
    if alg.scheme in (SignScheme.ECDSA, SignScheme.ECDSA_ANY):
        return hash_value, "ecdsa"
    if alg.scheme is SignScheme.RSA_PSS:
        return hash_value, "pss"
    if alg.scheme is SignScheme.RSA_PKCS1V15_RAW:
        return hash_value, "pkcs1"
    assert alg.hash is not None
    return _DIGEST_INFO[alg.hash] + hash_value, "pkcs1"


def _sign(ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes) -> bytes:
    data, scheme = _token_input(alg, hash_value)
    pss_hash = alg.hash if alg.scheme is SignScheme.RSA_PSS else None
    return ctx.token.sign(key.key_id, data, scheme, pss_hash)


def _verify(
    ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes, signature: bytes
) -> None:
    if ctx.software_public_operations:
        verify_public(public_object(ctx, key), key.bits, alg, hash_value, signature)
        return
    expected = (key.bits + 7) // 8
    if key.attributes.key_type.is_ecc:
        expected *= 2
    if len(signature) != expected:
        raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "invalid signature")
    data, scheme = _token_input(alg, hash_value)
    pss_hash = alg.hash if alg.scheme is SignScheme.RSA_PSS else None
    ctx.token.verify(key.key_id, data, signature, scheme, pss_hash)


def sign_hash(
    ctx: Context, owner: Owner, op: psa_sign_hash_pb2.Operation
) -> psa_sign_hash_pb2.Result:
    """PsaSignHash."""
    key, alg = _prepare(ctx, owner, op.key_name, op.alg, Usage.SIGN_HASH)
    checks.check_hash_length(alg, key.bits, op.hash)
    return psa_sign_hash_pb2.Result(signature=_sign(ctx, key, alg, op.hash))


def verify_hash(
    ctx: Context, owner: Owner, op: psa_verify_hash_pb2.Operation
) -> psa_verify_hash_pb2.Result:
    """PsaVerifyHash."""
    key, alg = _prepare(ctx, owner, op.key_name, op.alg, Usage.VERIFY_HASH)
    checks.check_hash_length(alg, key.bits, op.hash)
    _verify(ctx, key, alg, op.hash, op.signature)
    return psa_verify_hash_pb2.Result()


def sign_message(
    ctx: Context, owner: Owner, op: psa_sign_message_pb2.Operation
) -> psa_sign_message_pb2.Result:
    """PsaSignMessage: hash here, sign on the token."""
    key, alg = _prepare(ctx, owner, op.key_name, op.alg, Usage.SIGN_MESSAGE)
    assert alg.hash is not None
    signature = _sign(ctx, key, alg, digest(alg.hash, op.message))
    return psa_sign_message_pb2.Result(signature=signature)


def verify_message(
    ctx: Context, owner: Owner, op: psa_verify_message_pb2.Operation
) -> psa_verify_message_pb2.Result:
    """PsaVerifyMessage."""
    key, alg = _prepare(ctx, owner, op.key_name, op.alg, Usage.VERIFY_MESSAGE)
    assert alg.hash is not None
    _verify(ctx, key, alg, digest(alg.hash, op.message), op.signature)
    return psa_verify_message_pb2.Result()


def asymmetric_encrypt(
    ctx: Context, owner: Owner, op: psa_asymmetric_encrypt_pb2.Operation
) -> psa_asymmetric_encrypt_pb2.Result:
    """PsaAsymmetricEncrypt (RSA key pair or public key)."""
    alg = parse_encryption(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.ENCRYPT, alg)
    checks.check_encryption(key.attributes.key_type, key.bits, alg, Usage.ENCRYPT)
    pkcs1 = alg.scheme is EncryptionScheme.RSA_PKCS1V15
    if pkcs1 and op.salt:
        raise checks.invalid("PKCS#1 v1.5 encryption takes no salt")
    if op.salt:
        raise checks.unsupported("the token does not take OAEP labels")
    limit = key.bits // 8 - (11 if alg.hash is None else 2 * alg.hash.size + 2)
    if len(op.plaintext) > limit:
        raise checks.invalid("plaintext too long for this key and algorithm")
    if ctx.software_public_operations:
        public = public_object(ctx, key)
        assert isinstance(public, rsa.RSAPublicKey)
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if alg.hash is not None:
            hash_obj = hash_algorithm(alg.hash)
            pad = padding.OAEP(mgf=padding.MGF1(hash_obj), algorithm=hash_obj, label=None)
        ciphertext = public.encrypt(op.plaintext, pad)
    else:
        ciphertext = ctx.token.rsa_encrypt(key.key_id, op.plaintext, alg.hash, b"")
    return psa_asymmetric_encrypt_pb2.Result(ciphertext=ciphertext)


def asymmetric_decrypt(
    ctx: Context, owner: Owner, op: psa_asymmetric_decrypt_pb2.Operation
) -> psa_asymmetric_decrypt_pb2.Result:
    """PsaAsymmetricDecrypt (RSA key pair); every failure is InvalidPadding."""
    alg = parse_encryption(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.DECRYPT, alg)
    checks.check_encryption(key.attributes.key_type, key.bits, alg, Usage.DECRYPT)
    if alg.scheme is EncryptionScheme.RSA_PKCS1V15 and op.salt:
        raise checks.invalid("PKCS#1 v1.5 encryption takes no salt")
    if op.salt:
        raise checks.unsupported("the token does not take OAEP labels")
    if len(op.ciphertext) != key.bits // 8:
        raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed")
    plaintext = ctx.token.rsa_decrypt(key.key_id, op.ciphertext, alg.hash, b"")
    return psa_asymmetric_decrypt_pb2.Result(plaintext=plaintext)


def aead_encrypt(
    ctx: Context, owner: Owner, op: psa_aead_encrypt_pb2.Operation
) -> psa_aead_encrypt_pb2.Result:
    """PsaAeadEncrypt (AES-GCM): ciphertext || tag."""
    alg = parse_aead(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.ENCRYPT, alg)
    checks.check_aead(key.attributes.key_type, key.bits, alg, Usage.ENCRYPT)
    checks.check_gcm_nonce(op.nonce)
    check_output_size(len(op.plaintext) + alg.tag_size, ctx.buffer_limit)
    ciphertext = ctx.token.gcm_encrypt(
        key.key_id, op.nonce, op.additional_data, op.plaintext, alg.tag_size
    )
    return psa_aead_encrypt_pb2.Result(ciphertext=ciphertext)


def aead_decrypt(
    ctx: Context, owner: Owner, op: psa_aead_decrypt_pb2.Operation
) -> psa_aead_decrypt_pb2.Result:
    """PsaAeadDecrypt (AES-GCM): takes ciphertext || tag."""
    alg = parse_aead(op.alg)
    key = open_for(ctx, owner, op.key_name, Usage.DECRYPT, alg)
    checks.check_aead(key.attributes.key_type, key.bits, alg, Usage.DECRYPT)
    checks.check_gcm_nonce(op.nonce)
    if len(op.ciphertext) < alg.tag_size:
        raise checks.invalid("the ciphertext is shorter than the tag")
    plaintext = ctx.token.gcm_decrypt(
        key.key_id, op.nonce, op.additional_data, op.ciphertext, alg.tag_size
    )
    return psa_aead_decrypt_pb2.Result(plaintext=plaintext)
