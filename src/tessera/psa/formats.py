"""PSA key import/export formats, to and from `cryptography` key objects.

Formats (PSA Crypto API, "Key formats"):
- RSA key pair: DER RSAPrivateKey (PKCS#1); RSA public key: DER RSAPublicKey (PKCS#1).
- Weierstrass ECC key pair: the private scalar, big-endian, ceil(bits/8) bytes; public key: the
  uncompressed point 0x04 || x || y.
- Montgomery (X25519, X448) and Edwards (Ed25519, Ed448): the raw RFC 7748 / RFC 8032 strings.
- DH key pair: the private exponent x, big-endian, as long as p; public key: y, as long as p.
- Symmetric keys and raw data: the bytes themselves.

Imports are strict: data must be the canonical encoding (re-encoding it gives the same bytes), so
SubjectPublicKeyInfo, PKCS#8, compressed points and the like are refused with
PsaErrorInvalidArgument. The bytes a key is stored as are its export format, so one parser serves
import, storage and export.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from tessera.psa.dh_groups import FfdhPrivateKey, FfdhPublicKey
from tessera.psa.key_types import (
    AES_BITS,
    CHACHA20_BITS,
    DH_BITS,
    ECC_CURVES,
    MAX_KEY_BITS,
    RSA_BITS,
    EccFamily,
    KeyKind,
    KeyType,
    ecc_byte_length,
)
from tessera.wire.status import Status, StatusError

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | x25519.X25519PrivateKey
    | x448.X448PrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | FfdhPrivateKey
)
PublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | x25519.X25519PublicKey
    | x448.X448PublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
    | FfdhPublicKey
)

_DER = serialization.Encoding.DER
_RAW = serialization.Encoding.Raw

WEIERSTRASS_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp192r1": ec.SECP192R1,
    "secp224r1": ec.SECP224R1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}

# Raw key lengths of the Montgomery and Edwards curves: (private, public).
_RAW_LENGTHS = {"x25519": (32, 32), "x448": (56, 56), "ed25519": (32, 32), "ed448": (57, 57)}


def _invalid(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def _unsupported(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, message)


def curve_name(key_type: KeyType, bits: int) -> str:
    """The curve of an ECC key type and size; PsaErrorNotSupported if unknown."""
    assert isinstance(key_type.family, EccFamily)
    name = ECC_CURVES.get((key_type.family, bits))
    if name is None:
        raise _unsupported(f"no {bits}-bit curve in family {key_type.family.name}")
    return name


def weierstrass_curve(name: str) -> ec.EllipticCurve:
    """A `cryptography` curve object for a Weierstrass curve name."""
    return WEIERSTRASS_CURVES[name]()


def _ecc_bits_from_length(family: EccFamily, length: int, public: bool) -> int:
    """The curve size implied by the length of import data (for bits = 0)."""
    for (fam, bits), name in ECC_CURVES.items():
        if fam is not family:
            continue
        if name in _RAW_LENGTHS:
            expected = _RAW_LENGTHS[name][1 if public else 0]
        else:
            expected = 1 + 2 * ecc_byte_length(bits) if public else ecc_byte_length(bits)
        if expected == length:
            return bits
    raise _invalid("key data length fits no curve of this family")


def _symmetric_bits(key_type: KeyType, bits: int, data: bytes) -> int:
    actual = len(data) * 8
    if bits not in (0, actual):
        raise _invalid("key data length does not match the key size")
    check_symmetric_bits(key_type, actual)
    return actual


def check_symmetric_bits(key_type: KeyType, bits: int) -> None:
    """PsaErrorInvalidArgument for a size the symmetric key type cannot have."""
    kind = key_type.kind
    if bits <= 0 or bits % 8 or bits > MAX_KEY_BITS:
        raise _invalid(f"{bits} bits is not a valid size for a {kind.value} key")
    if kind is KeyKind.AES and bits not in AES_BITS:
        raise _invalid(f"{bits} bits is not an AES key size")
    if kind is KeyKind.CHACHA20 and bits not in CHACHA20_BITS:
        raise _invalid("ChaCha20 keys are 256 bits")


def import_key(key_type: KeyType, bits: int, data: bytes) -> tuple[int, bytes]:
    """Validate import data for `key_type`; the key's size in bits and its canonical bytes.

    `bits` = 0 takes the size from the data; otherwise a mismatch is PsaErrorInvalidArgument.
    """
    kind = key_type.kind
    if kind in (KeyKind.RAW_DATA, KeyKind.HMAC, KeyKind.AES, KeyKind.CHACHA20):
        return _symmetric_bits(key_type, bits, data), data
    if kind is KeyKind.RSA_KEY_PAIR or kind is KeyKind.RSA_PUBLIC_KEY:
        return _import_rsa(key_type, bits, data)
    if key_type.is_ecc:
        return _import_ecc(key_type, bits, data)
    if key_type.is_dh:
        return _import_dh(key_type, bits, data)
    raise _unsupported(f"{kind.value} keys are not supported")


def _load_either(key_type: KeyType, bits: int, data: bytes) -> PrivateKey | PublicKey:
    if key_type.is_key_pair:
        return private_key(key_type, bits, data)
    return public_key(key_type, bits, data)


def _import_ecc(key_type: KeyType, bits: int, data: bytes) -> tuple[int, bytes]:
    assert isinstance(key_type.family, EccFamily)
    from_data = _ecc_bits_from_length(key_type.family, len(data), key_type.is_public_key)
    if bits not in (0, from_data):
        raise _invalid("key data does not match the key size")
    bits = from_data
    name = curve_name(key_type, bits)
    if encode_key(_load_either(key_type, bits, data), bits) != data:
        raise _invalid(f"key data is not in the PSA format for {name}")
    return bits, data


def _import_dh(key_type: KeyType, bits: int, data: bytes) -> tuple[int, bytes]:
    if bits == 0:
        bits = len(data) * 8
    if bits not in DH_BITS:
        raise _unsupported(f"no {bits}-bit RFC 7919 group")
    if len(data) != bits // 8:
        raise _invalid("DH key data must be as long as the group's prime")
    _load_either(key_type, bits, data)
    return bits, data


def _import_rsa(key_type: KeyType, bits: int, data: bytes) -> tuple[int, bytes]:
    key = _load_either(key_type, bits, data)
    assert isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey)
    actual = key.key_size
    if bits not in (0, actual):
        raise _invalid("key data does not match the key size")
    if actual not in RSA_BITS:
        raise _unsupported(f"{actual}-bit RSA keys are not supported")
    if encode_key(key, actual) != data:
        raise _invalid("RSA key data is not a canonical DER RSAPrivateKey/RSAPublicKey")
    return actual, data


def private_key(key_type: KeyType, bits: int, data: bytes, *, trusted: bool = False) -> PrivateKey:
    """The private key object of a key pair from its PSA format.

    `trusted` skips RSA's expensive consistency checks for data this service validated at
    import or made itself (stored data is authenticated by its encryption).
    """
    try:
        if key_type.is_rsa:
            key = serialization.load_der_private_key(
                data, None, unsafe_skip_rsa_key_validation=trusted
            )
            if not isinstance(key, rsa.RSAPrivateKey):
                raise _invalid("not an RSA private key")
            return key
        if key_type.is_ecc:
            return _ecc_private(curve_name(key_type, bits), bits, data)
        if key_type.is_dh:
            if len(data) != bits // 8:
                raise _invalid("DH key data must be as long as the group's prime")
            return FfdhPrivateKey(bits, int.from_bytes(data, "big"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _invalid("key data is not a valid private key of this type") from None
    raise _unsupported(f"{key_type.kind.value} has no private key")


def _ecc_private(name: str, bits: int, data: bytes) -> PrivateKey:
    if name in _RAW_LENGTHS:
        if len(data) != _RAW_LENGTHS[name][0]:
            raise _invalid(f"{name} private keys are {_RAW_LENGTHS[name][0]} bytes")
        if name == "x25519":
            return x25519.X25519PrivateKey.from_private_bytes(data)
        if name == "x448":
            return x448.X448PrivateKey.from_private_bytes(data)
        if name == "ed25519":
            return ed25519.Ed25519PrivateKey.from_private_bytes(data)
        return ed448.Ed448PrivateKey.from_private_bytes(data)
    if len(data) != ecc_byte_length(bits):
        raise _invalid("ECC private key length does not match the curve")
    return ec.derive_private_key(int.from_bytes(data, "big"), weierstrass_curve(name))


def public_key(key_type: KeyType, bits: int, data: bytes) -> PublicKey:
    """The public key object from a public key's PSA format."""
    try:
        if key_type.is_rsa:
            key = serialization.load_der_public_key(data)
            if not isinstance(key, rsa.RSAPublicKey):
                raise _invalid("not an RSA public key")
            return key
        if key_type.is_ecc:
            return _ecc_public(curve_name(key_type, bits), bits, data)
        if key_type.is_dh:
            if len(data) != bits // 8:
                raise _invalid("DH key data must be as long as the group's prime")
            return FfdhPublicKey(bits, int.from_bytes(data, "big"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _invalid("key data is not a valid public key of this type") from None
    raise _unsupported(f"{key_type.kind.value} has no public key")


def _ecc_public(name: str, bits: int, data: bytes) -> PublicKey:
    if name in _RAW_LENGTHS:
        if len(data) != _RAW_LENGTHS[name][1]:
            raise _invalid(f"{name} public keys are {_RAW_LENGTHS[name][1]} bytes")
        if name == "x25519":
            return x25519.X25519PublicKey.from_public_bytes(data)
        if name == "x448":
            return x448.X448PublicKey.from_public_bytes(data)
        if name == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(data)
        return ed448.Ed448PublicKey.from_public_bytes(data)
    if len(data) != 1 + 2 * ecc_byte_length(bits) or data[0] != 0x04:
        raise _invalid("ECC public keys are uncompressed points 0x04 || x || y")
    return ec.EllipticCurvePublicKey.from_encoded_point(weierstrass_curve(name), data)


def encode_key(key: PrivateKey | PublicKey, bits: int) -> bytes:
    """The PSA format of a private or public key object."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_bytes(
            _DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(_DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.private_numbers().private_value.to_bytes(ecc_byte_length(bits), "big")
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(key, FfdhPrivateKey):
        return key.private_bytes()
    if isinstance(key, FfdhPublicKey):
        return key.public_bytes()
    if isinstance(
        key,
        x25519.X25519PrivateKey
        | x448.X448PrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        return key.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    return key.public_bytes(_RAW, serialization.PublicFormat.Raw)


def export_public(key_type: KeyType, bits: int, data: bytes) -> bytes:
    """The public key's PSA format, from a stored key pair or public key."""
    if key_type.is_public_key:
        return data
    return encode_key(private_key(key_type, bits, data, trusted=True).public_key(), bits)
