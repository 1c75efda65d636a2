"""What this provider can do with SoftHSM2-class tokens, as refusals shared by the operations and
CanDoCrypto (so CanDoCrypto answers exactly what the operation would do).

Keys: RSA 1024 (deprecated: generation needs `allow_deprecated`) to 4096-bit and ECC key pairs
on the SECP_R1, SECP_K1 and Brainpool curves, and AES 128/192/256, generated on the token or
imported into it; RSA and ECC public keys. Signatures: ECDSA (randomised; the token has no
deterministic ECDSA), RSA PKCS#1 v1.5 (with a DigestInfo built here, or raw), RSA-PSS with the
token's SHA-1/224/256/384/512. Encryption: RSA PKCS#1 v1.5; OAEP decryption with SHA-1 and no
label (the only OAEP SoftHSM2 implements), OAEP encryption with any hash and label (in software,
with the public key, where the token cannot). AEAD: AES-GCM. Ciphers: AES ECB, CBC (no padding or
PKCS#7) and CTR. Key agreement: raw ECDH.

Each check first runs the software provider's generic check (which PSA combinations make sense),
then narrows to what the token does: NotSupported for what PSA allows but the token lacks.
"""

from __future__ import annotations

from tessera.psa.algorithms import (
    AeadAlgorithm,
    AeadKind,
    CipherAlgorithm,
    EncryptionAlgorithm,
    Hash,
    KeyAgreementAlgorithm,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.attributes import KeyAttributes
from tessera.psa.formats import check_symmetric_bits
from tessera.psa.key_types import (
    ECC_CURVES,
    RSA_BITS,
    WEIERSTRASS_FAMILIES,
    EccFamily,
    KeyKind,
    KeyType,
)
from tessera.psa.usage import Usage
from tessera.service.providers.pkcs11._token import TOKEN_CIPHER_MODES, TOKEN_HASHES
from tessera.service.providers.software import aead as software_aead
from tessera.service.providers.software import asym_encryption as software_encryption
from tessera.service.providers.software import cipher as software_cipher
from tessera.service.providers.software import key_agreement as software_agreement
from tessera.service.providers.software import sign as software_sign
from tessera.wire.status import Status, StatusError

SIGN_SCHEMES = frozenset(
    {
        SignScheme.ECDSA,
        SignScheme.ECDSA_ANY,
        SignScheme.RSA_PKCS1V15,
        SignScheme.RSA_PKCS1V15_RAW,
        SignScheme.RSA_PSS,
    }
)
OAEP_DECRYPT_HASHES = frozenset({Hash.SHA_1})
_NONCE_LENGTHS = {AeadKind.GCM: range(8, 129), AeadKind.CCM: range(7, 14)}
_KEY_KINDS = frozenset(
    {
        KeyKind.RSA_KEY_PAIR,
        KeyKind.RSA_PUBLIC_KEY,
        KeyKind.ECC_KEY_PAIR,
        KeyKind.ECC_PUBLIC_KEY,
        KeyKind.AES,
    }
)


def unsupported(message: str) -> StatusError:
    """PsaErrorNotSupported."""
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, message)


def invalid(message: str) -> StatusError:
    """PsaErrorInvalidArgument."""
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def check_curve(key_type: KeyType, bits: int) -> None:
    """A Weierstrass curve the token knows (any size of the family when `bits` is 0)."""
    family = key_type.family
    if not isinstance(family, EccFamily) or family not in WEIERSTRASS_FAMILIES:
        raise unsupported("only SECP_R1, SECP_K1 and Brainpool curves are supported")
    if bits and (family, bits) not in ECC_CURVES:
        raise unsupported(f"no {bits}-bit curve in family {family.name}")


def token_curve(key_type: KeyType, bits: int) -> str:
    """The name of a held key's curve."""
    check_curve(key_type, bits)
    assert isinstance(key_type.family, EccFamily)
    return ECC_CURVES[(key_type.family, bits)]


def check_generatable(attributes: KeyAttributes) -> None:
    """Everything generation would refuse, without generating (deprecation is checked apart)."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.is_public_key:
        raise invalid("public keys cannot be generated")
    if bits == 0:
        raise invalid("generation needs a key size")
    check_importable(attributes)  # what can be held can be generated


def check_importable(attributes: KeyAttributes) -> None:
    """Whether a key of this type (and size, unless 0) can be held on the token."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.kind not in _KEY_KINDS:
        raise unsupported(f"{key_type.kind.value} keys are not supported by this provider")
    if key_type.is_rsa:
        if bits and bits not in RSA_BITS:
            raise unsupported(f"{bits}-bit RSA keys are not supported")
    elif key_type.is_ecc:
        check_curve(key_type, bits)
    elif bits:
        check_symmetric_bits(key_type, bits)


def check_sign(key_type: KeyType, bits: int, alg: SignAlgorithm, usage: Usage) -> None:
    """The software provider's signature check, narrowed to the token's mechanisms."""
    software_sign.check_sign(key_type, bits, alg, usage)
    if alg.scheme not in SIGN_SCHEMES:
        raise unsupported(f"{alg.scheme.name} is not supported by this provider")
    pss_hash = alg.hash if alg.scheme is SignScheme.RSA_PSS else None
    if pss_hash is not None and pss_hash is not Hash.ANY and pss_hash not in TOKEN_HASHES:
        raise unsupported(f"PSS with {pss_hash.name} is not supported by the token")


def check_encryption(key_type: KeyType, bits: int, alg: EncryptionAlgorithm, usage: Usage) -> None:
    """The software provider's encryption check; OAEP decryption narrowed to SoftHSM2's."""
    software_encryption.check_encryption(key_type, bits, alg, usage)
    if usage is Usage.DECRYPT and alg.hash is not None and alg.hash not in OAEP_DECRYPT_HASHES:
        raise unsupported("the token decrypts OAEP with SHA-1 only")


def check_aead(
    key_type: KeyType, bits: int, alg: AeadAlgorithm, usage: Usage, nonce: bytes | None = None
) -> None:
    """AES-GCM only. What PSA refuses (tag and nonce lengths) is InvalidArgument, checked first,
    whether or not the token has the AEAD."""
    software_aead.check_aead(key_type, bits, alg, usage)
    lengths = _NONCE_LENGTHS.get(alg.kind)
    if nonce is not None and lengths is not None and len(nonce) not in lengths:
        raise invalid(f"a {len(nonce)}-byte nonce is not valid for {alg.kind.name}")
    if alg.kind is not AeadKind.GCM:
        raise unsupported(f"the token has no {alg.kind.name}")


def check_cipher(key_type: KeyType, bits: int, alg: CipherAlgorithm, usage: Usage) -> None:
    """The software provider's cipher check, narrowed to the token's AES modes."""
    software_cipher.check_cipher(key_type, bits, alg, usage)
    if alg.mode not in TOKEN_CIPHER_MODES:
        raise unsupported(f"the token has no AES {alg.mode.name}")


def check_agreement(key_type: KeyType, bits: int, alg: KeyAgreementAlgorithm, usage: Usage) -> None:
    """The software provider's agreement check, narrowed to ECDH on the token's curves."""
    software_agreement.check_agreement(key_type, bits, alg, usage)
    if not key_type.is_ecc:
        raise unsupported("the token does no FFDH")
    check_curve(key_type, bits)
