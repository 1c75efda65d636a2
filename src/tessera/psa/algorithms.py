"""PSA algorithm identifiers as small typed values, and the rule that compares them to a policy.

The wire carries algorithms as nested protobuf oneofs (`psa_algorithm.proto`); everything past the
request decoder works on the frozen dataclasses defined here. Parsing rejects what PSA calls an
invalid algorithm (unset oneof, zero enum, wildcard where a specific hash is needed) with
PsaErrorInvalidArgument.

Normalisation follows PSA: a MAC truncated to its full length *is* the full-length MAC, and an
AEAD tag shortened to its default length *is* the default-length AEAD, so both compare equal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tessera.wire.proto import psa_algorithm_pb2
from tessera.wire.status import Status, StatusError

_pb = psa_algorithm_pb2.Algorithm


class Hash(enum.IntEnum):
    """PSA hash algorithms (values as on the wire), plus the policy-only wildcard ANY."""

    MD2 = 1
    MD4 = 2
    MD5 = 3
    RIPEMD160 = 4
    SHA_1 = 5
    SHA_224 = 6
    SHA_256 = 7
    SHA_384 = 8
    SHA_512 = 9
    SHA_512_224 = 10
    SHA_512_256 = 11
    SHA3_224 = 12
    SHA3_256 = 13
    SHA3_384 = 14
    SHA3_512 = 15
    ANY = -1  # PSA_ALG_ANY_HASH: only meaningful inside a key policy

    @property
    def size(self) -> int:
        """Digest length in bytes."""
        return _HASH_SIZES[self]


_HASH_SIZES = {
    Hash.MD2: 16,
    Hash.MD4: 16,
    Hash.MD5: 16,
    Hash.RIPEMD160: 20,
    Hash.SHA_1: 20,
    Hash.SHA_224: 28,
    Hash.SHA_256: 32,
    Hash.SHA_384: 48,
    Hash.SHA_512: 64,
    Hash.SHA_512_224: 28,
    Hash.SHA_512_256: 32,
    Hash.SHA3_224: 28,
    Hash.SHA3_256: 32,
    Hash.SHA3_384: 48,
    Hash.SHA3_512: 64,
}

DEPRECATED_HASHES = frozenset({Hash.MD2, Hash.MD4, Hash.MD5, Hash.SHA_1})


class SignScheme(enum.Enum):
    """Asymmetric signature schemes."""

    # Members are singletons compared by identity: hash them so too (Enum's own hash is a
    # Python-level call on the name, paid by every set and dict lookup on the request path).
    __hash__ = object.__hash__

    RSA_PKCS1V15 = "rsa-pkcs1v15"
    RSA_PKCS1V15_RAW = "rsa-pkcs1v15-raw"
    RSA_PSS = "rsa-pss"
    ECDSA = "ecdsa"
    ECDSA_ANY = "ecdsa-any"
    DETERMINISTIC_ECDSA = "deterministic-ecdsa"
    PURE_EDDSA = "pure-eddsa"


HASHED_SIGN_SCHEMES = frozenset(
    {SignScheme.RSA_PKCS1V15, SignScheme.RSA_PSS, SignScheme.ECDSA, SignScheme.DETERMINISTIC_ECDSA}
)


class MacKind(enum.Enum):
    """MAC constructions."""

    # Members are singletons compared by identity: hash them so too (Enum's own hash is a
    # Python-level call on the name, paid by every set and dict lookup on the request path).
    __hash__ = object.__hash__

    HMAC = "hmac"
    CBC_MAC = "cbc-mac"
    CMAC = "cmac"


class CipherMode(enum.IntEnum):
    """Unauthenticated cipher modes (values as on the wire)."""

    STREAM_CIPHER = 1
    CTR = 2
    CFB = 3
    OFB = 4
    XTS = 5
    ECB_NO_PADDING = 6
    CBC_NO_PADDING = 7
    CBC_PKCS7 = 8


class AeadKind(enum.IntEnum):
    """AEAD constructions (values as on the wire)."""

    CCM = 1
    GCM = 2
    CHACHA20_POLY1305 = 3


AEAD_DEFAULT_TAG_LENGTH = 16  # the same for CCM, GCM and ChaCha20-Poly1305
AEAD_MAX_ENCODED_TAG_LENGTH = 63


class EncryptionScheme(enum.Enum):
    """Asymmetric encryption schemes."""

    # Members are singletons compared by identity: hash them so too (Enum's own hash is a
    # Python-level call on the name, paid by every set and dict lookup on the request path).
    __hash__ = object.__hash__

    RSA_PKCS1V15 = "rsa-pkcs1v15-crypt"
    RSA_OAEP = "rsa-oaep"


class KeyAgreementKind(enum.IntEnum):
    """Raw key agreement primitives (values as on the wire)."""

    FFDH = 1
    ECDH = 2


class KdfKind(enum.Enum):
    """Key derivation functions."""

    # Members are singletons compared by identity: hash them so too (Enum's own hash is a
    # Python-level call on the name, paid by every set and dict lookup on the request path).
    __hash__ = object.__hash__

    HKDF = "hkdf"
    TLS12_PRF = "tls12-prf"
    TLS12_PSK_TO_MS = "tls12-psk-to-ms"


@dataclass(frozen=True, slots=True)
class NoAlgorithm:
    """The policy "no algorithm": the key can be stored and exported, not used."""


@dataclass(frozen=True, slots=True)
class HashAlgorithm:
    """A bare hash (only meaningful in policies; hashing needs no key)."""

    hash: Hash


@dataclass(frozen=True, slots=True)
class SignAlgorithm:
    """A signature scheme; `hash` is None for schemes that take no hash parameter."""

    scheme: SignScheme
    hash: Hash | None = None

    @property
    def is_hash_and_sign(self) -> bool:
        """True when the scheme signs a digest of a known hash (usable for messages)."""
        return self.scheme in HASHED_SIGN_SCHEMES


@dataclass(frozen=True, slots=True)
class MacAlgorithm:
    """A MAC; `length` is the truncated length in bytes, None for the full length."""

    kind: MacKind
    hash: Hash | None = None
    length: int | None = None

    @property
    def full_length(self) -> int:
        """The untruncated MAC length (for the AES block ciphers this provider knows)."""
        if self.kind is MacKind.HMAC:
            assert self.hash is not None
            return self.hash.size
        return 16

    @property
    def output_length(self) -> int:
        """Bytes the MAC produces."""
        return self.full_length if self.length is None else self.length


@dataclass(frozen=True, slots=True)
class CipherAlgorithm:
    """An unauthenticated cipher mode."""

    mode: CipherMode


@dataclass(frozen=True, slots=True)
class AeadAlgorithm:
    """An AEAD; `tag_length` is None for the default tag length."""

    kind: AeadKind
    tag_length: int | None = None

    @property
    def tag_size(self) -> int:
        """Bytes of tag appended to the ciphertext."""
        return AEAD_DEFAULT_TAG_LENGTH if self.tag_length is None else self.tag_length


@dataclass(frozen=True, slots=True)
class EncryptionAlgorithm:
    """An asymmetric encryption scheme; `hash` only for OAEP."""

    scheme: EncryptionScheme
    hash: Hash | None = None

    def max_plaintext(self, key_bits: int) -> int:
        """The longest plaintext one block of a `key_bits` RSA key holds under this padding:
        PKCS#1 v1.5 takes 11 bytes of the block, OAEP two hashes and 2 (RFC 8017, 7.1.1 and
        7.2.1). Negative when the key is too small for the padding itself."""
        overhead = 11 if self.hash is None else 2 * self.hash.size + 2
        return key_bits // 8 - overhead


@dataclass(frozen=True, slots=True)
class KdfAlgorithm:
    """A key derivation function."""

    kind: KdfKind
    hash: Hash


@dataclass(frozen=True, slots=True)
class KeyAgreementAlgorithm:
    """A key agreement, raw (`kdf` None) or followed by a key derivation."""

    raw: KeyAgreementKind
    kdf: KdfAlgorithm | None = None


Algorithm = (
    NoAlgorithm
    | HashAlgorithm
    | SignAlgorithm
    | MacAlgorithm
    | CipherAlgorithm
    | AeadAlgorithm
    | EncryptionAlgorithm
    | KeyAgreementAlgorithm
    | KdfAlgorithm
)


def _invalid(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


# Wire values of the specific hashes (a dict lookup: an enum call costs a microsecond).
_HASH_BY_VALUE = {int(h): h for h in Hash if h is not Hash.ANY}


def parse_hash(value: int) -> Hash:
    """A specific hash from its wire value (HASH_NONE and unknown values are invalid)."""
    found = _HASH_BY_VALUE.get(value)
    if found is None:
        if value <= 0:
            raise _invalid("no hash algorithm given")
        raise _invalid(f"unknown hash algorithm {value}")
    return found


# The signature oneof's variants: the scheme each names, and whether it carries a hash.
_SIGN_VARIANTS = {
    "rsa_pkcs1v15_sign": (SignScheme.RSA_PKCS1V15, True),
    "rsa_pkcs1v15_sign_raw": (SignScheme.RSA_PKCS1V15_RAW, False),
    "rsa_pss": (SignScheme.RSA_PSS, True),
    "ecdsa": (SignScheme.ECDSA, True),
    "ecdsa_any": (SignScheme.ECDSA_ANY, False),
    "deterministic_ecdsa": (SignScheme.DETERMINISTIC_ECDSA, True),
    "pure_eddsa": (SignScheme.PURE_EDDSA, False),
}
# One value per (scheme, hash) (at most a hundred): parsed once, compared by identity first.
_SIGN_ALGORITHMS: dict[tuple[SignScheme, Hash | None], SignAlgorithm] = {}


def parse_sign(pb: psa_algorithm_pb2.Algorithm.AsymmetricSignature) -> SignAlgorithm:
    """A signature algorithm; hash wildcards are kept (`require_specific` rejects them)."""
    variant = pb.WhichOneof("variant")
    entry = _SIGN_VARIANTS.get(variant) if variant is not None else None
    if entry is None:
        raise _invalid("no signature algorithm given")
    scheme, hashed = entry
    hash_alg = _sign_hash(getattr(pb, variant).hash_alg) if hashed else None
    found = _SIGN_ALGORITHMS.get((scheme, hash_alg))
    if found is None:
        found = _SIGN_ALGORITHMS.setdefault((scheme, hash_alg), SignAlgorithm(scheme, hash_alg))
    return found


def _sign_hash(pb: psa_algorithm_pb2.Algorithm.AsymmetricSignature.SignHash) -> Hash:
    variant = pb.WhichOneof("variant")
    if variant == "any":
        return Hash.ANY
    if variant == "specific":
        return parse_hash(pb.specific)
    raise _invalid("no signature hash given")


def parse_mac(pb: psa_algorithm_pb2.Algorithm.Mac) -> MacAlgorithm:
    """A MAC algorithm, normalised so a truncation to the full length is the full MAC."""
    variant = pb.WhichOneof("variant")
    if variant == "full_length":
        return _mac_full(pb.full_length)
    if variant == "truncated":
        base = _mac_full(pb.truncated.mac_alg)
        length = pb.truncated.mac_length
        if length == 0 or length > base.full_length:
            raise _invalid(f"MAC truncation length {length} is out of range")
        if length == base.full_length:
            return base
        return MacAlgorithm(base.kind, base.hash, length)
    raise _invalid("no MAC algorithm given")


def _mac_full(pb: psa_algorithm_pb2.Algorithm.Mac.FullLength) -> MacAlgorithm:
    variant = pb.WhichOneof("variant")
    if variant == "hmac":
        return MacAlgorithm(MacKind.HMAC, parse_hash(pb.hmac.hash_alg))
    if variant == "cbc_mac":
        return MacAlgorithm(MacKind.CBC_MAC)
    if variant == "cmac":
        return MacAlgorithm(MacKind.CMAC)
    raise _invalid("no MAC algorithm given")


def parse_cipher(value: int) -> CipherAlgorithm:
    """A cipher mode from its wire value."""
    try:
        return CipherAlgorithm(CipherMode(value))
    except ValueError:
        raise _invalid(f"unknown cipher algorithm {value}") from None


def parse_aead(pb: psa_algorithm_pb2.Algorithm.Aead) -> AeadAlgorithm:
    """An AEAD algorithm, normalised so a tag of the default length is the default AEAD."""
    variant = pb.WhichOneof("variant")
    if variant == "aead_with_default_length_tag":
        return AeadAlgorithm(_aead_kind(pb.aead_with_default_length_tag))
    if variant == "aead_with_shortened_tag":
        kind = _aead_kind(pb.aead_with_shortened_tag.aead_alg)
        length = pb.aead_with_shortened_tag.tag_length
        # PSA encodes the length in six bits; whether the AEAD accepts it is judged on use (as
        # Parsec, a policy with an unusable length can be stored and fails when used).
        if length == 0 or length > AEAD_MAX_ENCODED_TAG_LENGTH:
            raise _invalid(f"AEAD tag length {length} is out of range")
        if length == AEAD_DEFAULT_TAG_LENGTH:
            return AeadAlgorithm(kind)
        return AeadAlgorithm(kind, length)
    raise _invalid("no AEAD algorithm given")


def _aead_kind(value: int) -> AeadKind:
    try:
        return AeadKind(value)
    except ValueError:
        raise _invalid(f"unknown AEAD algorithm {value}") from None


def parse_encryption(pb: psa_algorithm_pb2.Algorithm.AsymmetricEncryption) -> EncryptionAlgorithm:
    """An asymmetric encryption algorithm."""
    variant = pb.WhichOneof("variant")
    if variant == "rsa_pkcs1v15_crypt":
        return EncryptionAlgorithm(EncryptionScheme.RSA_PKCS1V15)
    if variant == "rsa_oaep":
        return EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, parse_hash(pb.rsa_oaep.hash_alg))
    raise _invalid("no asymmetric encryption algorithm given")


def parse_raw_key_agreement(value: int) -> KeyAgreementAlgorithm:
    """A raw key agreement from its wire value."""
    try:
        return KeyAgreementAlgorithm(KeyAgreementKind(value))
    except ValueError:
        raise _invalid(f"unknown key agreement algorithm {value}") from None


def parse_kdf(pb: psa_algorithm_pb2.Algorithm.KeyDerivation) -> KdfAlgorithm:
    """A key derivation algorithm."""
    variant = pb.WhichOneof("variant")
    if variant == "hkdf":
        return KdfAlgorithm(KdfKind.HKDF, parse_hash(pb.hkdf.hash_alg))
    if variant == "tls12_prf":
        return KdfAlgorithm(KdfKind.TLS12_PRF, parse_hash(pb.tls12_prf.hash_alg))
    if variant == "tls12_psk_to_ms":
        return KdfAlgorithm(KdfKind.TLS12_PSK_TO_MS, parse_hash(pb.tls12_psk_to_ms.hash_alg))
    raise _invalid("no key derivation algorithm given")


def parse_key_agreement(pb: psa_algorithm_pb2.Algorithm.KeyAgreement) -> KeyAgreementAlgorithm:
    """A key agreement, raw or with a KDF."""
    variant = pb.WhichOneof("variant")
    if variant == "raw":
        return parse_raw_key_agreement(pb.raw)
    if variant == "with_key_derivation":
        raw = parse_raw_key_agreement(pb.with_key_derivation.ka_alg).raw
        return KeyAgreementAlgorithm(raw, parse_kdf(pb.with_key_derivation.kdf_alg))
    raise _invalid("no key agreement algorithm given")


def parse_algorithm(pb: psa_algorithm_pb2.Algorithm) -> Algorithm:
    """Any algorithm, as found in a key policy. An unset algorithm is "none", as in Parsec."""
    variant = pb.WhichOneof("variant")
    if variant is None or variant == "none":
        return NoAlgorithm()
    if variant == "hash":
        return HashAlgorithm(parse_hash(pb.hash))
    if variant == "mac":
        return parse_mac(pb.mac)
    if variant == "cipher":
        return parse_cipher(pb.cipher)
    if variant == "aead":
        return parse_aead(pb.aead)
    if variant == "asymmetric_signature":
        return parse_sign(pb.asymmetric_signature)
    if variant == "asymmetric_encryption":
        return parse_encryption(pb.asymmetric_encryption)
    if variant == "key_agreement":
        return parse_key_agreement(pb.key_agreement)
    return parse_kdf(pb.key_derivation)


def require_specific(alg: SignAlgorithm) -> SignAlgorithm:
    """An operation needs a concrete hash: the wildcard is for policies only."""
    if alg.hash is Hash.ANY:
        raise _invalid("the any-hash wildcard is only valid in a key policy")
    return alg


def permits(policy: Algorithm, requested: Algorithm) -> bool:
    """True when a key whose policy is `policy` may be used with `requested` (PSA rules).

    Equal algorithms match. A hash-and-sign policy with the any-hash wildcard matches the same
    scheme with any specific hash. A key-agreement policy with a KDF also permits the raw
    agreement (as Mbed TLS does, so raw agreement stays usable for keys meant for derivation).
    """
    if requested is policy or requested == policy:
        return True
    if isinstance(policy, SignAlgorithm) and isinstance(requested, SignAlgorithm):
        return (
            policy.hash is Hash.ANY
            and requested.scheme is policy.scheme
            and requested.hash not in (None, Hash.ANY)
        )
    if isinstance(policy, KeyAgreementAlgorithm) and isinstance(requested, KeyAgreementAlgorithm):
        return requested.kdf is None and requested.raw is policy.raw
    return False


def hashes_in(alg: Algorithm) -> tuple[Hash, ...]:
    """Every hash an algorithm names (for the deprecation rules)."""
    if isinstance(alg, HashAlgorithm):
        return (alg.hash,)
    if isinstance(alg, SignAlgorithm | MacAlgorithm | EncryptionAlgorithm) and alg.hash is not None:
        return (alg.hash,)
    if isinstance(alg, KdfAlgorithm):
        return (alg.hash,)
    if isinstance(alg, KeyAgreementAlgorithm) and alg.kdf is not None:
        return (alg.kdf.hash,)
    return ()
