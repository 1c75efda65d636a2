"""Parsec's key-info records: bincode-serialised key ids and PSA key attributes.

Parsec 1.x keeps, per key, a provider key id and the key's attributes, both serialised with
bincode 1.x's default options: integers little-endian at fixed width (`usize` as 8 bytes), enum
variants as a 4-byte index in declaration order, `bool` as one byte 0 or 1, byte vectors as an
8-byte length then the bytes. The attributes are psa-crypto 0.9's `Attributes` (lifetime, key
type, bits, policy: usage flags and permitted algorithm).

The protobuf contract was written from the same Rust types, so every enum index maps onto it
mechanically: a oneof field number is the variant index + 1, and most enums are the index + 1
(their protobuf value 0 is "none"). The exceptions are spelled out where they occur.
"""

from __future__ import annotations

import struct
from typing import cast

from tessera.service.migrate.errors import FormatError
from tessera.wire.proto import psa_algorithm_pb2, psa_key_attributes_pb2

_Alg = psa_algorithm_pb2.Algorithm
_Sig = _Alg.AsymmetricSignature

# psa-crypto's enum sizes: the number of variants each declares.
_HASHES = 15  # Md2 ... Sha3_512
_CIPHERS = 8  # StreamCipher ... CbcPkcs7
_AEADS = 3  # Ccm, Gcm, Chacha20Poly1305
_RAW_AGREEMENTS = 2  # Ffdh, Ecdh
_ECC_FAMILIES = 9  # SecpK1 ... Montgomery
_DH_FAMILIES = 1  # Rfc7919
_USAGE_FLAGS = (
    "export",
    "copy",
    "cache",
    "encrypt",
    "decrypt",
    "sign_message",
    "verify_message",
    "sign_hash",
    "verify_hash",
    "derive",
)
# Key type variants without data, in declaration order (index = oneof field number - 1).
_PLAIN_KEY_TYPES = (
    "raw_data",
    "hmac",
    "derive",
    "aes",
    "des",
    "camellia",
    "arc4",
    "chacha20",
    "rsa_public_key",
    "rsa_key_pair",
)
_FAMILY_KEY_TYPES = ("ecc_key_pair", "ecc_public_key", "dh_key_pair", "dh_public_key")
_U32_MAX = 0xFFFFFFFF


class Reader:
    """Reads bincode values from a byte string, failing with FormatError past its end."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._offset = 0
        self._what = what

    def _take(self, size: int) -> bytes:
        if size > len(self._data) - self._offset:
            raise FormatError(f"{self._what} is truncated")
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def u32(self) -> int:
        """A little-endian u32 (also an enum variant index)."""
        value: int = struct.unpack("<I", self._take(4))[0]
        return value

    def u64(self) -> int:
        """A little-endian u64 (also a usize)."""
        value: int = struct.unpack("<Q", self._take(8))[0]
        return value

    def boolean(self) -> bool:
        """One byte, 0 or 1."""
        value = self._take(1)[0]
        if value > 1:
            raise FormatError(f"{self._what} holds {value} where a boolean belongs")
        return value == 1

    def byte_vector(self) -> bytes:
        """A u64 length, then that many bytes."""
        return self._take(self.u64())

    def variant(self, count: int, enum_name: str) -> int:
        """An enum variant index, checked against the number of variants."""
        index = self.u32()
        if index >= count:
            raise FormatError(f"{self._what} names an unknown {enum_name} variant {index}")
        return index

    def finish(self) -> None:
        """Fail unless every byte was read."""
        extra = len(self._data) - self._offset
        if extra:
            raise FormatError(f"{self._what} has {extra} unexpected trailing bytes")


def decode_u32_key_id(data: bytes) -> int:
    """The key id of the Mbed Crypto and PKCS#11 providers: a bincode u32."""
    reader = Reader(data, "the key id")
    value = reader.u32()
    reader.finish()
    return value


def decode_attributes(data: bytes) -> psa_key_attributes_pb2.KeyAttributes:
    """psa-crypto `Attributes` (bincode) as the protobuf message Tessera stores.

    The lifetime is read and dropped: Tessera's keys are all persistent. `key_bits` may be 0
    (Parsec records what the client asked, and imports may leave the size to the data).
    """
    reader = Reader(data, "the key attributes")
    _lifetime(reader)
    key_type = _key_type(reader)
    bits = reader.u64()
    if bits > _U32_MAX:
        raise FormatError(f"the key attributes give an impossible size of {bits} bits")
    flags = psa_key_attributes_pb2.UsageFlags(**{name: reader.boolean() for name in _USAGE_FLAGS})
    algorithm = _algorithm(reader)
    reader.finish()
    return psa_key_attributes_pb2.KeyAttributes(
        key_type=key_type,
        key_bits=bits,
        key_policy=psa_key_attributes_pb2.KeyPolicy(key_usage_flags=flags, key_algorithm=algorithm),
    )


def _lifetime(reader: Reader) -> None:
    if reader.variant(3, "lifetime") == 2:  # Volatile, Persistent, Custom(u32)
        reader.u32()


def _key_type(reader: Reader) -> psa_key_attributes_pb2.KeyType:
    index = reader.variant(len(_PLAIN_KEY_TYPES) + len(_FAMILY_KEY_TYPES), "key type")
    pb = psa_key_attributes_pb2.KeyType()
    if index < len(_PLAIN_KEY_TYPES):
        getattr(pb, _PLAIN_KEY_TYPES[index]).SetInParent()
        return pb
    field = _FAMILY_KEY_TYPES[index - len(_PLAIN_KEY_TYPES)]
    if field.startswith("ecc"):
        getattr(pb, field).curve_family = reader.variant(_ECC_FAMILIES, "curve family") + 1
    else:
        # The one enum whose protobuf values start at 0: RFC7919 = 0.
        getattr(pb, field).group_family = reader.variant(_DH_FAMILIES, "group family")
    return pb


def _hash(reader: Reader) -> _Alg.Hash:
    return cast(_Alg.Hash, reader.variant(_HASHES, "hash") + 1)


def _cipher(reader: Reader) -> _Alg.Cipher:
    return cast(_Alg.Cipher, reader.variant(_CIPHERS, "cipher") + 1)


def _aead_base(reader: Reader) -> _Alg.Aead.AeadWithDefaultLengthTag:
    return cast(_Alg.Aead.AeadWithDefaultLengthTag, reader.variant(_AEADS, "AEAD") + 1)


def _raw_agreement(reader: Reader) -> _Alg.KeyAgreement.Raw:
    return cast(_Alg.KeyAgreement.Raw, reader.variant(_RAW_AGREEMENTS, "key agreement") + 1)


def _algorithm(reader: Reader) -> psa_algorithm_pb2.Algorithm:
    index = reader.variant(9, "algorithm")
    if index == 0:
        none = _Alg()
        none.none.SetInParent()  # the message class is named None, unreachable by attribute
        return none
    if index == 1:
        return _Alg(hash=_hash(reader))
    if index == 2:
        return _Alg(mac=_mac(reader))
    if index == 3:
        return _Alg(cipher=_cipher(reader))
    if index == 4:
        return _Alg(aead=_aead(reader))
    if index == 5:
        return _Alg(asymmetric_signature=_signature(reader))
    if index == 6:
        return _Alg(asymmetric_encryption=_encryption(reader))
    if index == 7:
        return _Alg(key_agreement=_key_agreement(reader))
    return _Alg(key_derivation=_key_derivation(reader))


def _full_length_mac(reader: Reader) -> _Alg.Mac.FullLength:
    full = _Alg.Mac.FullLength
    index = reader.variant(3, "MAC")
    if index == 0:
        return full(hmac=full.Hmac(hash_alg=_hash(reader)))
    if index == 1:
        return full(cbc_mac=full.CbcMac())
    return full(cmac=full.Cmac())


def _mac(reader: Reader) -> _Alg.Mac:
    if reader.variant(2, "MAC") == 0:
        return _Alg.Mac(full_length=_full_length_mac(reader))
    mac_alg = _full_length_mac(reader)
    length = _bounded(reader.u64(), "MAC length")
    return _Alg.Mac(truncated=_Alg.Mac.Truncated(mac_alg=mac_alg, mac_length=length))


def _aead(reader: Reader) -> _Alg.Aead:
    if reader.variant(2, "AEAD") == 0:
        return _Alg.Aead(aead_with_default_length_tag=_aead_base(reader))
    base = _aead_base(reader)
    length = _bounded(reader.u64(), "AEAD tag length")
    shortened = _Alg.Aead.AeadWithShortenedTag(aead_alg=base, tag_length=length)
    return _Alg.Aead(aead_with_shortened_tag=shortened)


def _sign_hash(reader: Reader) -> _Sig.SignHash:
    # Rust declares Specific(Hash) then Any; the protobuf oneof numbers them the other way round.
    if reader.variant(2, "signature hash") == 0:
        return _Sig.SignHash(specific=_hash(reader))
    return _Sig.SignHash(any=_Sig.SignHash.Any())


def _signature(reader: Reader) -> _Sig:
    index = reader.variant(6, "signature algorithm")
    if index == 0:
        return _Sig(rsa_pkcs1v15_sign=_Sig.RsaPkcs1v15Sign(hash_alg=_sign_hash(reader)))
    if index == 1:
        return _Sig(rsa_pkcs1v15_sign_raw=_Sig.RsaPkcs1v15SignRaw())
    if index == 2:
        return _Sig(rsa_pss=_Sig.RsaPss(hash_alg=_sign_hash(reader)))
    if index == 3:
        return _Sig(ecdsa=_Sig.Ecdsa(hash_alg=_sign_hash(reader)))
    if index == 4:
        return _Sig(ecdsa_any=_Sig.EcdsaAny())
    return _Sig(deterministic_ecdsa=_Sig.DeterministicEcdsa(hash_alg=_sign_hash(reader)))


def _encryption(reader: Reader) -> _Alg.AsymmetricEncryption:
    enc = _Alg.AsymmetricEncryption
    if reader.variant(2, "encryption algorithm") == 0:
        return enc(rsa_pkcs1v15_crypt=enc.RsaPkcs1v15Crypt())
    return enc(rsa_oaep=enc.RsaOaep(hash_alg=_hash(reader)))


def _key_derivation(reader: Reader) -> _Alg.KeyDerivation:
    kdf = _Alg.KeyDerivation
    index = reader.variant(3, "key derivation")
    hash_alg = _hash(reader)
    if index == 0:
        return kdf(hkdf=kdf.Hkdf(hash_alg=hash_alg))
    if index == 1:
        return kdf(tls12_prf=kdf.Tls12Prf(hash_alg=hash_alg))
    return kdf(tls12_psk_to_ms=kdf.Tls12PskToMs(hash_alg=hash_alg))


def _key_agreement(reader: Reader) -> _Alg.KeyAgreement:
    agreement = _Alg.KeyAgreement
    if reader.variant(2, "key agreement") == 0:
        return agreement(raw=_raw_agreement(reader))
    raw = _raw_agreement(reader)
    derived = agreement.WithKeyDerivation(ka_alg=raw, kdf_alg=_key_derivation(reader))
    return agreement(with_key_derivation=derived)


def _bounded(value: int, what: str) -> int:
    if value > _U32_MAX:
        raise FormatError(f"the key attributes give an impossible {what} of {value}")
    return value
