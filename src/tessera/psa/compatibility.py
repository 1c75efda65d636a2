"""Which key types an algorithm can be used with, by PSA's coarse rule.

This is the question "is a key of this type ever meant for this algorithm?" (an RSA key for an
RSA signature or an asymmetric encryption, an ECC key for ECDSA or ECDH, an AES key for a block
cipher mode...), not "will this exact curve and hash work": that finer question belongs to each
provider's operation checks. Parsec's CanDoCrypto answers with this coarse rule, and its clients
rely on that answer (docs/compatibility.md).
"""

from __future__ import annotations

from tessera.psa.algorithms import (
    AeadAlgorithm,
    AeadKind,
    Algorithm,
    CipherAlgorithm,
    CipherMode,
    EncryptionAlgorithm,
    KdfAlgorithm,
    KeyAgreementAlgorithm,
    KeyAgreementKind,
    MacAlgorithm,
    MacKind,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.key_types import EccFamily, KeyKind, KeyType

_RSA_SIGN = frozenset({SignScheme.RSA_PKCS1V15, SignScheme.RSA_PKCS1V15_RAW, SignScheme.RSA_PSS})
_BLOCK_CIPHER_MODES = frozenset(CipherMode) - {CipherMode.STREAM_CIPHER}
_BLOCK_CIPHER_AEADS = frozenset({AeadKind.CCM, AeadKind.GCM})


def _block_cipher_use(alg: Algorithm, *, aead: bool) -> bool:
    if isinstance(alg, MacAlgorithm):
        return alg.kind is not MacKind.HMAC
    if isinstance(alg, CipherAlgorithm):
        return alg.mode in _BLOCK_CIPHER_MODES
    return aead and isinstance(alg, AeadAlgorithm) and alg.kind in _BLOCK_CIPHER_AEADS


def compatible(key_type: KeyType, alg: Algorithm) -> bool:
    """True when keys of `key_type` are meant for `alg` (PSA's key type/algorithm pairing)."""
    kind = key_type.kind
    if kind is KeyKind.HMAC:
        return isinstance(alg, MacAlgorithm) and alg.kind is MacKind.HMAC
    if kind is KeyKind.DERIVE:
        return isinstance(alg, KdfAlgorithm)
    if kind in (KeyKind.AES, KeyKind.CAMELLIA):
        return _block_cipher_use(alg, aead=True)
    if kind is KeyKind.DES:
        return _block_cipher_use(alg, aead=False)
    if kind is KeyKind.ARC4:
        return isinstance(alg, CipherAlgorithm) and alg.mode is CipherMode.STREAM_CIPHER
    if kind is KeyKind.CHACHA20:
        if isinstance(alg, CipherAlgorithm):
            return alg.mode is CipherMode.STREAM_CIPHER
        return isinstance(alg, AeadAlgorithm) and alg.kind is AeadKind.CHACHA20_POLY1305
    if key_type.is_rsa:
        if isinstance(alg, SignAlgorithm):
            return alg.scheme in _RSA_SIGN
        return isinstance(alg, EncryptionAlgorithm)
    if key_type.is_ecc:
        if isinstance(alg, SignAlgorithm):
            return alg.scheme not in _RSA_SIGN
        return isinstance(alg, KeyAgreementAlgorithm) and alg.raw is KeyAgreementKind.ECDH
    if key_type.is_dh:
        return isinstance(alg, KeyAgreementAlgorithm) and alg.raw is KeyAgreementKind.FFDH
    return False  # raw data: no algorithm uses it


# The curve sizes PSA defines for each ECC family (the PSA Crypto API's curve tables). FRP is
# left out: no implementation Tessera or Parsec builds on knows it.
PSA_CURVE_BITS: dict[EccFamily, frozenset[int]] = {
    EccFamily.SECP_K1: frozenset({192, 224, 256}),
    EccFamily.SECP_R1: frozenset({192, 224, 256, 384, 521}),
    EccFamily.SECP_R2: frozenset({160}),
    EccFamily.SECT_K1: frozenset({163, 233, 239, 283, 409, 571}),
    EccFamily.SECT_R1: frozenset({163, 233, 283, 409, 571}),
    EccFamily.SECT_R2: frozenset({163}),
    EccFamily.BRAINPOOL_P_R1: frozenset({160, 192, 224, 256, 320, 384, 512}),
    EccFamily.MONTGOMERY: frozenset({255, 448}),
    EccFamily.TWISTED_EDWARDS: frozenset({255, 448}),
}


def psa_defines_size(key_type: KeyType, bits: int) -> bool:
    """True when PSA defines a key of this type and size (0, "any size", always is)."""
    if bits == 0 or not key_type.is_ecc:
        return True
    assert isinstance(key_type.family, EccFamily)
    return bits in PSA_CURVE_BITS.get(key_type.family, frozenset())
