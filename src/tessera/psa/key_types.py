"""PSA key types: what kind of key, which curve or group family, and which sizes exist.

`KeyType` is the typed form of the protobuf `KeyType` oneof. The size tables say which
(type, bits) pairs this implementation knows; providers decide which of those they support.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tessera.wire.proto import psa_key_attributes_pb2
from tessera.wire.status import Status, StatusError

# PSA_MAX_KEY_BITS: the largest key size PSA can express; a bound checked before allocating.
MAX_KEY_BITS = 0xFFF8


class KeyKind(enum.Enum):
    """The key type without its family parameter."""

    # Members are singletons compared by identity: hash them so too (Enum's own hash is a
    # Python-level call on the name, paid by every set and dict lookup on the request path).
    __hash__ = object.__hash__

    RAW_DATA = "raw-data"
    HMAC = "hmac"
    DERIVE = "derive"
    AES = "aes"
    DES = "des"
    CAMELLIA = "camellia"
    ARC4 = "arc4"
    CHACHA20 = "chacha20"
    RSA_PUBLIC_KEY = "rsa-public-key"
    RSA_KEY_PAIR = "rsa-key-pair"
    ECC_PUBLIC_KEY = "ecc-public-key"
    ECC_KEY_PAIR = "ecc-key-pair"
    DH_PUBLIC_KEY = "dh-public-key"
    DH_KEY_PAIR = "dh-key-pair"


class EccFamily(enum.IntEnum):
    """Elliptic curve families (values as on the wire)."""

    SECP_K1 = 1
    SECP_R1 = 2
    SECP_R2 = 3
    SECT_K1 = 4
    SECT_R1 = 5
    SECT_R2 = 6
    BRAINPOOL_P_R1 = 7
    FRP = 8
    MONTGOMERY = 9
    TWISTED_EDWARDS = 10


class DhFamily(enum.IntEnum):
    """Finite-field Diffie-Hellman group families (values as on the wire)."""

    RFC7919 = 0


_PAIRS = {
    KeyKind.RSA_PUBLIC_KEY: KeyKind.RSA_KEY_PAIR,
    KeyKind.ECC_PUBLIC_KEY: KeyKind.ECC_KEY_PAIR,
    KeyKind.DH_PUBLIC_KEY: KeyKind.DH_KEY_PAIR,
}
_PUBLIC = {pair: public for public, pair in _PAIRS.items()}


@dataclass(frozen=True, slots=True)
class KeyType:
    """A key type; `family` is the curve or group family for ECC and DH keys, else None."""

    kind: KeyKind
    family: EccFamily | DhFamily | None = None

    @property
    def is_key_pair(self) -> bool:
        """An asymmetric key with its private half."""
        return self.kind in _PUBLIC

    @property
    def is_public_key(self) -> bool:
        """The public half of an asymmetric key, alone."""
        return self.kind in _PAIRS

    @property
    def is_asymmetric(self) -> bool:
        """RSA, ECC or DH, pair or public."""
        return self.is_key_pair or self.is_public_key

    @property
    def is_rsa(self) -> bool:
        """RSA pair or public key."""
        return self.kind in (KeyKind.RSA_KEY_PAIR, KeyKind.RSA_PUBLIC_KEY)

    @property
    def is_ecc(self) -> bool:
        """ECC pair or public key (any family)."""
        return self.kind in (KeyKind.ECC_KEY_PAIR, KeyKind.ECC_PUBLIC_KEY)

    @property
    def is_dh(self) -> bool:
        """DH pair or public key."""
        return self.kind in (KeyKind.DH_KEY_PAIR, KeyKind.DH_PUBLIC_KEY)

    def public(self) -> KeyType:
        """The type of this key's public half (itself for public keys)."""
        return KeyType(_PUBLIC.get(self.kind, self.kind), self.family)


def parse_key_type(pb: psa_key_attributes_pb2.KeyType) -> KeyType:
    """The typed key type; an unset type or family is PsaErrorInvalidArgument."""
    variant = pb.WhichOneof("variant")
    if variant is None:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "no key type given")
    kind = KeyKind(variant.replace("_", "-"))
    if kind in (KeyKind.ECC_KEY_PAIR, KeyKind.ECC_PUBLIC_KEY):
        message = pb.ecc_key_pair if kind is KeyKind.ECC_KEY_PAIR else pb.ecc_public_key
        try:
            return KeyType(kind, EccFamily(message.curve_family))
        except ValueError:
            raise StatusError(
                Status.PSA_ERROR_INVALID_ARGUMENT, "unknown or missing curve family"
            ) from None
    if kind in (KeyKind.DH_KEY_PAIR, KeyKind.DH_PUBLIC_KEY):
        group = pb.dh_key_pair if kind is KeyKind.DH_KEY_PAIR else pb.dh_public_key
        try:
            return KeyType(kind, DhFamily(group.group_family))
        except ValueError:
            raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "unknown group family") from None
    return KeyType(kind)


def key_type_to_proto(key_type: KeyType) -> psa_key_attributes_pb2.KeyType:
    """The protobuf form of a key type."""
    pb = psa_key_attributes_pb2.KeyType()
    field = key_type.kind.value.replace("-", "_")
    message = getattr(pb, field)
    message.SetInParent()
    if key_type.is_ecc:
        message.curve_family = int(key_type.family or 0)
    elif key_type.is_dh:
        message.group_family = int(key_type.family or 0)
    return pb


# Curves this implementation knows, by (family, bits): the OpenSSL-style curve name.
ECC_CURVES: dict[tuple[EccFamily, int], str] = {
    (EccFamily.SECP_R1, 192): "secp192r1",
    (EccFamily.SECP_R1, 224): "secp224r1",
    (EccFamily.SECP_R1, 256): "secp256r1",
    (EccFamily.SECP_R1, 384): "secp384r1",
    (EccFamily.SECP_R1, 521): "secp521r1",
    (EccFamily.SECP_K1, 256): "secp256k1",
    (EccFamily.BRAINPOOL_P_R1, 256): "brainpoolP256r1",
    (EccFamily.BRAINPOOL_P_R1, 384): "brainpoolP384r1",
    (EccFamily.BRAINPOOL_P_R1, 512): "brainpoolP512r1",
    (EccFamily.MONTGOMERY, 255): "x25519",
    (EccFamily.MONTGOMERY, 448): "x448",
    (EccFamily.TWISTED_EDWARDS, 255): "ed25519",
    (EccFamily.TWISTED_EDWARDS, 448): "ed448",
}

# Weierstrass curves: ECDSA and ECDH over (x, y) points.
WEIERSTRASS_FAMILIES = frozenset({EccFamily.SECP_R1, EccFamily.SECP_K1, EccFamily.BRAINPOOL_P_R1})

RSA_BITS = (1024, 2048, 3072, 4096)
RSA_GENERATE_BITS = (2048, 3072, 4096)
AES_BITS = (128, 192, 256)
CHACHA20_BITS = (256,)
DH_BITS = (2048, 3072, 4096, 6144, 8192)


def ecc_byte_length(bits: int) -> int:
    """Bytes of one coordinate or scalar on a curve of `bits` bits."""
    return (bits + 7) // 8
