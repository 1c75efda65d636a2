"""What Parsec's TPM provider stores per key, and the TPM objects it stands for.

A TPM key's key id in Parsec's key-info store is a bincode `PasswordContext` (Parsec 1.x):

    context: TpmsContext   u64 sequence, u32 saved handle, u32 hierarchy, byte vector blob
                           (all zero and empty since Parsec 1.0: kept for old entries)
    auth_value: bytes      the key's own auth value (32 random bytes; empty for a public key)
    key_material:
      public: PublicKey    enum: 0 = Rsa(modulus bytes), 1 = Ecc { x bytes, y bytes }
      private: bytes       the TPM2B_PRIVATE's buffer, without its size (empty: a public key)

Entries written before Parsec 1.0 (`LegacyPasswordContext`: a saved TPM context and the auth
value, nothing else) are converted by Parsec itself the first time it uses the key.

The public area is not stored: tss-esapi's TransientKeyContext rebuilds it from the key's PSA
policy on every use, and the TPM checks it against the name sealed into the private part, so it
is rebuilt here byte for byte. Every child: name algorithm SHA-256, attributes fixedTPM,
fixedParent, sensitiveDataOrigin, userWithAuth and sign (plus decrypt for an RSA encryption key;
no noDA), no auth policy, no symmetric algorithm, unique = the stored public key. RSA: exponent 0,
scheme RSASSA or RSAPSS with the policy's hash for signing keys, none for encryption keys. ECC:
the SECP_R1 curve of the key's size, ECDSA with the policy's hash, no KDF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tessera.psa.algorithms import (
    EncryptionAlgorithm,
    EncryptionScheme,
    Hash,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.attributes import KeyAttributes
from tessera.psa.key_types import EccFamily, KeyKind
from tessera.service.migrate.errors import FormatError
from tessera.service.migrate.parsec_attributes import Reader
from tessera.service.providers.tpm.parsec_keys import MAX_AUTH, sized

# TPM 2.0 constants (Part 2: Structures).
_ALG_RSA = 0x0001
_ALG_SHA256 = 0x000B
_ALG_NULL = 0x0010
_ALG_RSASSA = 0x0014
_ALG_RSAPSS = 0x0016
_ALG_ECDSA = 0x0018
_ALG_ECC = 0x0023
_CHILD_ATTRIBUTES = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 18)  # ... | sign
_DECRYPT = 1 << 17
#: The hashes Parsec's TPM provider names to the TPM (its TPM algorithm ids).
TPM_HASHES = {
    Hash.SHA_1: 0x0004,
    Hash.SHA_256: 0x000B,
    Hash.SHA_384: 0x000C,
    Hash.SHA_512: 0x000D,
    Hash.SHA3_256: 0x0027,
    Hash.SHA3_384: 0x0028,
    Hash.SHA3_512: 0x0029,
}
#: Parsec's SECP_R1 sizes and their TPM curve ids.
TPM_CURVES = {192: 0x0001, 224: 0x0002, 256: 0x0003, 384: 0x0004, 521: 0x0005}


class LegacyContextError(FormatError):
    """A pre-1.0 entry: a saved TPM context that Parsec converts itself on first use."""


@dataclass(frozen=True, slots=True)
class ParsecTpmKey:
    """One decoded `PasswordContext`: the public key as the TPM gave it, and the secrets."""

    modulus: bytes | None  # an RSA key's; None for an ECC key
    point: tuple[bytes, bytes] | None  # an ECC key's (x, y); None for an RSA key
    private: bytes = field(repr=False)  # TPM2B_PRIVATE's buffer; empty for a public key
    auth: bytes = field(repr=False)

    @property
    def is_key_pair(self) -> bool:
        """False for an imported public key (Parsec keeps no private part for it)."""
        return bool(self.private)


def decode_context(data: bytes) -> ParsecTpmKey:
    """A TPM key id (FormatError if malformed; LegacyContextError for a pre-1.0 entry)."""
    reader = Reader(data, "the TPM key context")
    try:
        _context(reader)
        auth = reader.byte_vector()
        kind = reader.variant(2, "public key")
        modulus: bytes | None = None
        point: tuple[bytes, bytes] | None = None
        if kind == 0:
            modulus = reader.byte_vector()
        else:
            point = (reader.byte_vector(), reader.byte_vector())
        private = reader.byte_vector()
        reader.finish()
    except FormatError:
        if _is_legacy(data):
            raise LegacyContextError(
                "Parsec keeps this key in its pre-1.0 form (a saved TPM context): have Parsec "
                "1.x use it once (parsec-tool export-public-key converts it), then migrate again"
            ) from None
        raise
    if len(auth) > MAX_AUTH:
        raise FormatError(f"the TPM key context holds a {len(auth)}-byte auth value")
    if len(private) > 0xFFFF or (point is None and not modulus):
        raise FormatError("the TPM key context holds an impossible key")
    if not private and auth:
        raise FormatError("the TPM key context has an auth value but no private part")
    return ParsecTpmKey(modulus, point, private, auth)


def _context(reader: Reader) -> None:
    reader.u64()  # sequence
    reader.u32()  # saved handle
    reader.u32()  # hierarchy
    reader.byte_vector()  # context blob


def _is_legacy(data: bytes) -> bool:
    reader = Reader(data, "the TPM key context")
    try:
        _context(reader)
        reader.byte_vector()  # auth value
        reader.finish()
    except FormatError:
        return False
    return True


def checked_bits(key: ParsecTpmKey, attributes: KeyAttributes) -> int:
    """The key's size, after checking the public key against Parsec's record (FormatError)."""
    key_type = attributes.key_type
    if key_type.is_key_pair != key.is_key_pair:
        held = "a key pair" if key.is_key_pair else "a public key"
        raise FormatError(f"the TPM key context holds {held} but Parsec's record says otherwise")
    if key_type.kind in (KeyKind.RSA_KEY_PAIR, KeyKind.RSA_PUBLIC_KEY):
        if key.modulus is None:
            raise FormatError("the TPM key context holds an ECC key; Parsec's record says RSA")
        bits = len(key.modulus.lstrip(b"\x00")) * 8
        if bits < 1024 or attributes.bits not in (0, bits):
            raise FormatError(
                f"the TPM key context holds a {bits}-bit modulus; Parsec's record says "
                f"{attributes.bits} bits"
            )
        return bits
    if key_type.kind in (KeyKind.ECC_KEY_PAIR, KeyKind.ECC_PUBLIC_KEY):
        if key.point is None:
            raise FormatError("the TPM key context holds an RSA key; Parsec's record says ECC")
        if key_type.family is not EccFamily.SECP_R1 or attributes.bits not in TPM_CURVES:
            raise FormatError("Parsec's TPM provider holds SECP_R1 keys of 192 to 521 bits only")
        size = (attributes.bits + 7) // 8
        if not all(0 < len(c) <= size for c in key.point):
            raise FormatError(
                f"the TPM key context's point does not fit a {attributes.bits}-bit curve"
            )
        return attributes.bits
    raise FormatError(f"Parsec's TPM provider holds no {key_type.kind.value} keys")


def child_public(key: ParsecTpmKey, attributes: KeyAttributes, bits: int) -> bytes:
    """The key's TPM2B_PUBLIC, marshalled, as tss-esapi builds it (`bits` from `checked_bits`;
    FormatError for a policy Parsec's TPM provider could not have made a key with)."""
    alg = attributes.algorithm
    if key.modulus is not None:
        if isinstance(alg, SignAlgorithm) and alg.scheme in _RSA_SIGN:
            scheme, decrypt = struct.pack(">HH", _RSA_SIGN[alg.scheme], _hash(alg.hash)), False
        elif isinstance(alg, EncryptionAlgorithm):
            if alg.scheme is EncryptionScheme.RSA_OAEP:
                _hash(alg.hash)
            scheme, decrypt = struct.pack(">H", _ALG_NULL), True
        else:
            raise FormatError("Parsec's TPM provider makes no RSA key with this policy")
        attributes_bits = _CHILD_ATTRIBUTES | (_DECRYPT if decrypt else 0)
        parameters = struct.pack(">H", _ALG_NULL) + scheme  # no symmetric algorithm
        parameters += struct.pack(">HI", bits, 0)
        unique = sized(key.modulus)
        kind = _ALG_RSA
    else:
        assert key.point is not None
        if not (isinstance(alg, SignAlgorithm) and alg.scheme is SignScheme.ECDSA):
            raise FormatError("Parsec's TPM provider makes ECC keys for ECDSA with a hash only")
        attributes_bits = _CHILD_ATTRIBUTES
        parameters = struct.pack(">HHH", _ALG_NULL, _ALG_ECDSA, _hash(alg.hash))
        parameters += struct.pack(">HH", TPM_CURVES[bits], _ALG_NULL)  # no KDF
        unique = sized(key.point[0]) + sized(key.point[1])
        kind = _ALG_ECC
    area = struct.pack(">HHI", kind, _ALG_SHA256, attributes_bits) + sized(b"")
    return sized(area + parameters + unique)


_RSA_SIGN = {SignScheme.RSA_PKCS1V15: _ALG_RSASSA, SignScheme.RSA_PSS: _ALG_RSAPSS}


def _hash(hash_alg: Hash | None) -> int:
    if hash_alg is None or hash_alg not in TPM_HASHES:
        raise FormatError("Parsec's TPM provider makes keys for a specific SHA hash only")
    return TPM_HASHES[hash_alg]


def private_blob(key: ParsecTpmKey) -> bytes:
    """The key's TPM2B_PRIVATE, marshalled (as Tessera's rows keep it)."""
    return sized(key.private)
