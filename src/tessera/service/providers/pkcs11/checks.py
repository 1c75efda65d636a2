"""What this provider can do with SoftHSM2-class tokens, as refusals shared by the operations and
CanDoCrypto (so CanDoCrypto answers exactly what the operation would do).

Keys: RSA 2048/3072/4096 and ECC SECP_R1 256/384/521 key pairs and AES 128/192/256 are generated
on the token; RSA and SECP_R1 public keys can be imported. Signatures: ECDSA (randomised; the
token has no deterministic ECDSA), RSA PKCS#1 v1.5 (with DigestInfo, or raw), RSA-PSS, with
SHA-1/224/256/384/512. Encryption: RSA PKCS#1 v1.5 and OAEP with SHA-1 and no label (the only
OAEP SoftHSM2 implements). AEAD: AES-GCM with 8 to 12-byte nonces.

Each check first runs the software provider's generic check (which PSA combinations make sense),
then narrows to what the token does: NotSupported for what PSA allows but the token lacks.
"""

from __future__ import annotations

from tessera.psa.algorithms import (
    AeadAlgorithm,
    AeadKind,
    EncryptionAlgorithm,
    Hash,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.attributes import KeyAttributes
from tessera.psa.formats import check_symmetric_bits
from tessera.psa.key_types import RSA_BITS, RSA_GENERATE_BITS, EccFamily, KeyKind, KeyType
from tessera.psa.usage import Usage
from tessera.service.providers.pkcs11._token import TOKEN_HASHES
from tessera.service.providers.software import aead as software_aead
from tessera.service.providers.software import asym_encryption as software_encryption
from tessera.service.providers.software import sign as software_sign
from tessera.wire.status import Status, StatusError

EC_CURVES = {256: "secp256r1", 384: "secp384r1", 521: "secp521r1"}
SIGN_SCHEMES = frozenset(
    {
        SignScheme.ECDSA,
        SignScheme.ECDSA_ANY,
        SignScheme.RSA_PKCS1V15,
        SignScheme.RSA_PKCS1V15_RAW,
        SignScheme.RSA_PSS,
    }
)
OAEP_HASHES = frozenset({Hash.SHA_1})
GCM_NONCE_LENGTHS = range(8, 13)
PREHASH_LENGTHS = frozenset({20, 28, 32, 48, 64})


def unsupported(message: str) -> StatusError:
    """PsaErrorNotSupported."""
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, message)


def invalid(message: str) -> StatusError:
    """PsaErrorInvalidArgument."""
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def _check_ecc(key_type: KeyType, bits: int) -> None:
    if key_type.family is not EccFamily.SECP_R1 or (bits and bits not in EC_CURVES):
        raise unsupported("only SECP_R1 256, 384 and 521-bit curves are supported")


def check_generatable(attributes: KeyAttributes) -> None:
    """Everything generation would refuse, without generating."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.is_public_key:
        raise invalid("public keys cannot be generated")
    if bits == 0:
        raise invalid("generation needs a key size")
    if key_type.kind is KeyKind.RSA_KEY_PAIR:
        if bits not in RSA_GENERATE_BITS:
            raise unsupported(f"cannot generate {bits}-bit RSA keys")
    elif key_type.kind is KeyKind.ECC_KEY_PAIR:
        _check_ecc(key_type, bits)
    elif key_type.kind is KeyKind.AES:
        check_symmetric_bits(key_type, bits)
    else:
        raise unsupported(f"{key_type.kind.value} keys are not supported by this provider")


def check_importable(attributes: KeyAttributes) -> None:
    """Import takes RSA and SECP_R1 public keys (private material never enters the token)."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.kind is KeyKind.RSA_PUBLIC_KEY:
        if bits and bits not in RSA_BITS:
            raise unsupported(f"{bits}-bit RSA keys are not supported")
    elif key_type.kind is KeyKind.ECC_PUBLIC_KEY:
        _check_ecc(key_type, bits)
    else:
        raise unsupported("only RSA and ECC public keys can be imported into this provider")


def check_held(attributes: KeyAttributes) -> None:
    """Whether a key of this type and size can exist here (generated or imported)."""
    try:
        check_generatable(attributes)
    except StatusError:
        check_importable(attributes)


def check_sign(key_type: KeyType, bits: int, alg: SignAlgorithm, usage: Usage) -> None:
    """The software provider's signature check, narrowed to the token's mechanisms."""
    software_sign.check_sign(key_type, bits, alg, usage)
    if alg.scheme not in SIGN_SCHEMES:
        raise unsupported(f"{alg.scheme.name} is not supported by this provider")
    if alg.hash is not None and alg.hash is not Hash.ANY and alg.hash not in TOKEN_HASHES:
        raise unsupported(f"{alg.hash.name} is not supported by this provider")


def check_hash_length(alg: SignAlgorithm, bits: int, hash_value: bytes) -> None:
    """The hash given to SignHash/VerifyHash has the length the algorithm implies."""
    if alg.hash is not None:
        if len(hash_value) != alg.hash.size:
            raise invalid("the hash length does not match the algorithm")
    elif alg.scheme is SignScheme.ECDSA_ANY:
        if len(hash_value) not in PREHASH_LENGTHS:
            raise invalid("not the length of a supported hash")
    elif alg.scheme is SignScheme.RSA_PKCS1V15_RAW and len(hash_value) > bits // 8 - 11:
        raise invalid("input too long for raw PKCS#1 v1.5 with this key")


def check_encryption(key_type: KeyType, bits: int, alg: EncryptionAlgorithm, usage: Usage) -> None:
    """The software provider's encryption check, narrowed to SoftHSM2's OAEP."""
    software_encryption.check_encryption(key_type, bits, alg, usage)
    if alg.hash is not None and alg.hash not in OAEP_HASHES:
        raise unsupported("the token implements OAEP with SHA-1 only")


def check_aead(key_type: KeyType, bits: int, alg: AeadAlgorithm, usage: Usage) -> None:
    """AES-GCM only."""
    if alg.kind is not AeadKind.GCM:
        raise unsupported(f"{alg.kind.name} is not supported by this provider")
    software_aead.check_aead(key_type, bits, alg, usage)


def check_gcm_nonce(nonce: bytes) -> None:
    """PSA allows 8 to 128-byte GCM nonces; the token takes at most 12."""
    if len(nonce) < 8 or len(nonce) > 128:
        raise invalid(f"a {len(nonce)}-byte nonce is not valid for GCM")
    if len(nonce) not in GCM_NONCE_LENGTHS:
        raise unsupported("the token takes GCM nonces of 8 to 12 bytes")
