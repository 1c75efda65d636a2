"""PSA key types and algorithms as JSON values for scripts, and as words for people.

The JSON form is flat and stable: names are the Parsec contracts' own field and enum names in
lower case (`ecc_key_pair`, `secp_r1`, `rsa_pss`, `gcm`), hashes are named as `hash --alg`
takes them (`sha256`, `sha3-256`), and numbers stay numbers:

    {"kind": "ecc_key_pair", "curve_family": "secp_r1"}
    {"category": "asymmetric_signature", "scheme": "ecdsa", "hash": "sha256"}
    {"category": "aead", "scheme": "ccm", "tag_length": 8}

The text form is derived from the JSON one: "ECC key pair (secp256r1)", "ECDSA with SHA-256".
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyType

JsonObject = dict[str, Any]

_HASH_WORDS = {
    "md2": "MD2",
    "md4": "MD4",
    "md5": "MD5",
    "ripemd160": "RIPEMD-160",
    "sha1": "SHA-1",
    "sha224": "SHA-224",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "sha512-224": "SHA-512/224",
    "sha512-256": "SHA-512/256",
    "sha3-224": "SHA3-224",
    "sha3-256": "SHA3-256",
    "sha3-384": "SHA3-384",
    "sha3-512": "SHA3-512",
}
_KIND_WORDS = {
    "raw_data": "raw data",
    "hmac": "HMAC key",
    "derive": "key derivation secret",
    "aes": "AES key",
    "des": "DES key",
    "camellia": "Camellia key",
    "arc4": "ARC4 key",
    "chacha20": "ChaCha20 key",
    "rsa_public_key": "RSA public key",
    "rsa_key_pair": "RSA key pair",
    "ecc_key_pair": "ECC key pair",
    "ecc_public_key": "ECC public key",
    "dh_key_pair": "DH key pair",
    "dh_public_key": "DH public key",
}
_SCHEME_WORDS = {
    "rsa_pkcs1v15_sign": "RSA PKCS#1 v1.5 signature",
    "rsa_pkcs1v15_sign_raw": "RSA PKCS#1 v1.5 signature of raw digests",
    "rsa_pss": "RSA-PSS",
    "ecdsa": "ECDSA",
    "ecdsa_any": "ECDSA of any digest",
    "deterministic_ecdsa": "deterministic ECDSA",
    "pure_eddsa": "pure EdDSA",
    "rsa_pkcs1v15_crypt": "RSA PKCS#1 v1.5 encryption",
    "rsa_oaep": "RSA-OAEP",
    "hmac": "HMAC",
    "cbc_mac": "CBC-MAC",
    "cmac": "CMAC",
    "ccm": "CCM",
    "gcm": "GCM",
    "chacha20_poly1305": "ChaCha20-Poly1305",
    "stream_cipher": "stream cipher",
    "ecb_no_padding": "ECB without padding",
    "cbc_no_padding": "CBC without padding",
    "cbc_pkcs7": "CBC with PKCS#7 padding",
    "ecdh": "ECDH",
    "ffdh": "FFDH",
    "hkdf": "HKDF",
    "tls12_prf": "TLS 1.2 PRF",
    "tls12_psk_to_ms": "TLS 1.2 PSK-to-master-secret",
}
# Standard curve names from a family and a size (PSA names families, SEC 2 and RFCs curves).
_CURVE_PATTERNS = {
    "secp_k1": "secp{}k1",
    "secp_r1": "secp{}r1",
    "secp_r2": "secp{}r2",
    "sect_k1": "sect{}k1",
    "sect_r1": "sect{}r1",
    "sect_r2": "sect{}r2",
    "brainpool_p_r1": "brainpoolP{}r1",
    "frp": "FRP{}v1",
}
_NAMED_CURVES = {
    ("montgomery", 255): "Curve25519",
    ("montgomery", 448): "Curve448",
    ("twisted_edwards", 255): "Edwards25519",
    ("twisted_edwards", 448): "Edwards448",
}


def hash_name(value: int) -> str:
    """`sha256` for SHA_256, `sha3-256` for SHA3_256, `sha512-224` for SHA_512_224."""
    name = Algorithm.Hash.Name(value) if value in Algorithm.Hash.values() else f"hash_{value}"
    return name.lower().replace("sha_", "sha", 1).replace("_", "-")


def _enum_value(field: FieldDescriptor, value: int) -> str | int:
    known = field.enum_type.values_by_number.get(value) if field.enum_type else None
    return known.name.lower() if known is not None else value


def _chosen(message: Message) -> tuple[str | None, Any]:
    variant = message.WhichOneof("variant")
    return variant, (getattr(message, variant) if variant else None)


# JSON


def key_type_json(key_type: KeyType) -> JsonObject | None:
    """`{"kind": ..., <the kind's parameters>}`; None for an unset type."""
    kind, inner = _chosen(key_type)
    if kind is None:
        return None
    out: JsonObject = {"kind": kind}
    for field in inner.DESCRIPTOR.fields:  # all of them: RFC7919 is the zero value
        value = getattr(inner, field.name)
        out[field.name] = (
            _enum_value(field, value) if field.type == FieldDescriptor.TYPE_ENUM else value
        )
    return out


def _sign_hash(choice: Algorithm.AsymmetricSignature.SignHash) -> str | None:
    variant: str | None = choice.WhichOneof("variant")
    if variant == "specific":
        return hash_name(choice.specific)
    return variant  # "any", or None when unset


def _with_hash(scheme: str | None, hash_value: str | None) -> JsonObject:
    out: JsonObject = {"scheme": scheme}
    if hash_value is not None:
        out["hash"] = hash_value
    return out


def _signature(signature: Algorithm.AsymmetricSignature) -> JsonObject:
    scheme, inner = _chosen(signature)
    has_hash = inner is not None and "hash_alg" in inner.DESCRIPTOR.fields_by_name
    return _with_hash(scheme, _sign_hash(inner.hash_alg) if has_hash else None)


def _encryption(encryption: Algorithm.AsymmetricEncryption) -> JsonObject:
    scheme, inner = _chosen(encryption)
    return _with_hash(scheme, hash_name(inner.hash_alg) if scheme == "rsa_oaep" else None)


def _full_mac(full: Algorithm.Mac.FullLength) -> JsonObject:
    scheme, inner = _chosen(full)
    return _with_hash(scheme, hash_name(inner.hash_alg) if scheme == "hmac" else None)


def _mac(mac: Algorithm.Mac) -> JsonObject:
    if mac.WhichOneof("variant") == "truncated":
        return {**_full_mac(mac.truncated.mac_alg), "mac_length": mac.truncated.mac_length}
    return _full_mac(mac.full_length)


def _aead(aead: Algorithm.Aead) -> JsonObject:
    enum = Algorithm.Aead.AeadWithDefaultLengthTag
    if aead.WhichOneof("variant") == "aead_with_shortened_tag":
        shortened = aead.aead_with_shortened_tag
        scheme = enum.Name(shortened.aead_alg).lower()
        return {"scheme": scheme, "tag_length": shortened.tag_length}
    return {"scheme": enum.Name(aead.aead_with_default_length_tag).lower()}


def _derivation(kdf: Algorithm.KeyDerivation) -> JsonObject:
    scheme, inner = _chosen(kdf)
    return _with_hash(scheme, hash_name(inner.hash_alg) if inner is not None else None)


def _agreement(agreement: Algorithm.KeyAgreement) -> JsonObject:
    raw = Algorithm.KeyAgreement.Raw
    if agreement.WhichOneof("variant") == "with_key_derivation":
        derived = agreement.with_key_derivation
        return {
            "scheme": raw.Name(derived.ka_alg).lower(),
            "kdf": _derivation(derived.kdf_alg),
        }
    return {"scheme": raw.Name(agreement.raw).lower()}


def algorithm_json(algorithm: Algorithm) -> JsonObject | None:
    """`{"category": ..., "scheme": ..., "hash": ..., <lengths>}`; None when unset."""
    category = algorithm.WhichOneof("variant")
    if category is None:
        return None
    out: JsonObject = {"category": category}
    if category == "hash":
        out["hash"] = hash_name(algorithm.hash)
    elif category == "cipher":
        out["scheme"] = Algorithm.Cipher.Name(algorithm.cipher).lower()
    elif category == "mac":
        out.update(_mac(algorithm.mac))
    elif category == "aead":
        out.update(_aead(algorithm.aead))
    elif category == "asymmetric_signature":
        out.update(_signature(algorithm.asymmetric_signature))
    elif category == "asymmetric_encryption":
        out.update(_encryption(algorithm.asymmetric_encryption))
    elif category == "key_agreement":
        out.update(_agreement(algorithm.key_agreement))
    elif category == "key_derivation":
        out.update(_derivation(algorithm.key_derivation))
    return out


# words


def _words(name: str | None, table: dict[str, str]) -> str:
    if name is None:
        return "unspecified"
    return table.get(name, name.replace("_", " "))


def _curve(family: str | int, bits: int) -> str:
    named = _NAMED_CURVES.get((str(family), bits))
    if named is not None:
        return named
    pattern = _CURVE_PATTERNS.get(str(family))
    if pattern is not None and bits:
        return pattern.format(bits)
    return f"{str(family).replace('_', ' ')} family"


def key_type_words(key_type: JsonObject | None, bits: int) -> str:
    """ "ECC key pair (secp256r1)", "RSA key pair", "DH key pair (RFC 7919 group)"."""
    if key_type is None:
        return "unspecified type"
    words = _words(key_type["kind"], _KIND_WORDS)
    if "curve_family" in key_type:
        return f"{words} ({_curve(key_type['curve_family'], bits)})"
    if key_type.get("group_family") == "rfc7919":
        return f"{words} (RFC 7919 group)"
    return words


def _scheme_words(part: JsonObject) -> str:
    words = _words(part.get("scheme"), _SCHEME_WORDS)
    hash_value = part.get("hash")
    if hash_value == "any":
        words += " with any hash"
    elif hash_value is not None:
        words += f" with {_HASH_WORDS.get(hash_value, hash_value)}"
    if "tag_length" in part:
        words += f" ({part['tag_length']}-byte tag)"
    if "mac_length" in part:
        words += f", truncated to {part['mac_length']} bytes"
    if "kdf" in part:
        words += f", then {_scheme_words(part['kdf'])}"
    return words


def algorithm_words(algorithm: JsonObject | None) -> str:
    """ "ECDSA with SHA-256", "GCM", "HMAC with SHA-256", "ECDH, then HKDF with SHA-256"."""
    if algorithm is None or algorithm["category"] == "none":
        return "none"
    if algorithm["category"] == "hash":
        return f"hash {_HASH_WORDS.get(algorithm['hash'], algorithm['hash'])}"
    return _scheme_words(algorithm)
