"""Which keys and algorithms count as deprecated primitives.

Deprecated: DES and ARC4 keys; RSA keys under 2048 bits; the SECP_R2 and SECT_R2 curve families,
the 163-bit binary curves, the 160-bit Brainpool curve and P-192 (under 112-bit security); any
algorithm built on MD2, MD4, MD5 or SHA-1 (signatures, HMAC, OAEP, KDFs), as the wire contract
marks those hashes deprecated.

What happens to them is the provider's call; the software provider, as Parsec, refuses to
generate such keys (DeprecatedPrimitive) unless `allow_deprecated` is set, and imports them with
a warning.
"""

from __future__ import annotations

from tessera.psa.algorithms import DEPRECATED_HASHES, Algorithm, hashes_in
from tessera.psa.attributes import KeyAttributes
from tessera.psa.key_types import EccFamily, KeyKind

MIN_RSA_BITS = 2048

_DEPRECATED_CURVES = frozenset(
    {
        (EccFamily.SECT_K1, 163),
        (EccFamily.SECT_R1, 163),
        (EccFamily.BRAINPOOL_P_R1, 160),
        (EccFamily.SECP_R1, 192),
    }
)
_DEPRECATED_FAMILIES = frozenset({EccFamily.SECP_R2, EccFamily.SECT_R2})


def algorithm_deprecation(alg: Algorithm) -> str | None:
    """Why an algorithm is deprecated, or None."""
    for hash_alg in hashes_in(alg):
        if hash_alg in DEPRECATED_HASHES:
            return f"{hash_alg.name} is a deprecated hash"
    return None


def key_deprecation(attributes: KeyAttributes) -> str | None:
    """Why a key (its type, size or policy algorithm) is deprecated, or None."""
    key_type = attributes.key_type
    if key_type.kind in (KeyKind.DES, KeyKind.ARC4):
        return f"{key_type.kind.value} keys are deprecated"
    if key_type.is_rsa and 0 < attributes.bits < MIN_RSA_BITS:
        return f"RSA keys under {MIN_RSA_BITS} bits are deprecated"
    if key_type.is_ecc:
        if key_type.family in _DEPRECATED_FAMILIES:
            return "this curve family is deprecated"
        if (key_type.family, attributes.bits) in _DEPRECATED_CURVES:
            return "this curve is deprecated"
    return algorithm_deprecation(attributes.algorithm)
