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

from tessera.client import _messages as m
from tessera.wire.protowire import ENUM, Schema, decode, enum_name, which

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyType

    JsonObject = dict[str, Any]
    # The functions below read messages as `protowire` decodes them (dicts), so that
    # `list-keys` needs no protobuf; a protobuf message given is read through its encoding.
    Fields = dict[str, Any]

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
    name = m.HASH.names.get(value, f"hash_{value}")
    return name.lower().replace("sha_", "sha", 1).replace("_", "-")


def _fields(message: Fields | Any, schema: Schema) -> Fields:
    if isinstance(message, dict):
        return message
    return decode(schema, message.SerializeToString())


def _inner(values: Fields, name: str, schema: Schema) -> Fields:
    """A message field's values; its defaults when absent (as protobuf reads an unset one)."""
    inner = values.get(name)
    if inner is not None:
        assert isinstance(inner, dict)
        return inner
    field = schema.by_name[name]
    assert field.schema is not None
    return decode(field.schema, b"")


def _chosen(values: Fields, schema: Schema) -> tuple[str | None, Any]:
    variant = which(schema, values, "variant")
    return variant, (values[variant] if variant else None)


def _enum(values: Fields, name: str, schema: Schema) -> str:
    """An enum field's value name in lower case (ValueError for a value without a name)."""
    value = values.get(name)
    return enum_name(schema.by_name[name], value or 0).lower()


# JSON


def key_type_json(key_type: KeyType | Fields) -> JsonObject | None:
    """`{"kind": ..., <the kind's parameters>}`; None for an unset type."""
    values = _fields(key_type, m.KEY_TYPE)
    kind, inner = _chosen(values, m.KEY_TYPE)
    if kind is None:
        return None
    out: JsonObject = {"kind": kind}
    inner_schema = m.KEY_TYPE.by_name[kind].schema
    assert inner_schema is not None
    for field in inner_schema.fields:  # all of them: RFC7919 is the zero value
        value = inner[field.name]
        if field.kind == ENUM and field.enum is not None:
            known = field.enum.names.get(value)
            out[field.name] = known.lower() if known is not None else value
        else:
            out[field.name] = value
    return out


def _sign_hash(choice: Fields) -> str | None:
    variant = which(m.SIGN_HASH, choice, "variant")
    if variant == "specific":
        return hash_name(choice["specific"])
    return variant  # "any", or None when unset


def _with_hash(scheme: str | None, hash_value: str | None) -> JsonObject:
    out: JsonObject = {"scheme": scheme}
    if hash_value is not None:
        out["hash"] = hash_value
    return out


def _signature(signature: Fields) -> JsonObject:
    scheme, inner = _chosen(signature, m.ASYMMETRIC_SIGNATURE)
    if scheme is None:
        return _with_hash(None, None)
    scheme_schema = m.ASYMMETRIC_SIGNATURE.by_name[scheme].schema
    assert scheme_schema is not None
    has_hash = "hash_alg" in scheme_schema.by_name
    hash_value = _sign_hash(_inner(inner, "hash_alg", scheme_schema)) if has_hash else None
    return _with_hash(scheme, hash_value)


def _encryption(encryption: Fields) -> JsonObject:
    scheme, inner = _chosen(encryption, m.ASYMMETRIC_ENCRYPTION)
    return _with_hash(scheme, hash_name(inner["hash_alg"]) if scheme == "rsa_oaep" else None)


def _full_mac(full: Fields) -> JsonObject:
    scheme, inner = _chosen(full, m.MAC_FULL_LENGTH)
    return _with_hash(scheme, hash_name(inner["hash_alg"]) if scheme == "hmac" else None)


def _mac(mac: Fields) -> JsonObject:
    if which(m.MAC, mac, "variant") == "truncated":
        truncated = mac["truncated"]
        full = _inner(truncated, "mac_alg", m.MAC_TRUNCATED)
        return {**_full_mac(full), "mac_length": truncated["mac_length"]}
    return _full_mac(_inner(mac, "full_length", m.MAC))


def _aead(aead: Fields) -> JsonObject:
    if which(m.AEAD, aead, "variant") == "aead_with_shortened_tag":
        shortened = aead["aead_with_shortened_tag"]
        scheme = _enum(shortened, "aead_alg", m.AEAD_WITH_SHORTENED_TAG)
        return {"scheme": scheme, "tag_length": shortened["tag_length"]}
    return {"scheme": _enum(aead, "aead_with_default_length_tag", m.AEAD)}


def _derivation(kdf: Fields) -> JsonObject:
    scheme, inner = _chosen(kdf, m.KEY_DERIVATION)
    return _with_hash(scheme, hash_name(inner["hash_alg"]) if inner is not None else None)


def _agreement(agreement: Fields) -> JsonObject:
    if which(m.KEY_AGREEMENT, agreement, "variant") == "with_key_derivation":
        derived = agreement["with_key_derivation"]
        return {
            "scheme": _enum(derived, "ka_alg", m.WITH_KEY_DERIVATION),
            "kdf": _derivation(_inner(derived, "kdf_alg", m.WITH_KEY_DERIVATION)),
        }
    return {"scheme": _enum(agreement, "raw", m.KEY_AGREEMENT)}


def algorithm_json(algorithm: Algorithm | Fields) -> JsonObject | None:
    """`{"category": ..., "scheme": ..., "hash": ..., <lengths>}`; None when unset."""
    values = _fields(algorithm, m.ALGORITHM)
    category, inner = _chosen(values, m.ALGORITHM)
    if category is None:
        return None
    out: JsonObject = {"category": category}
    if category == "hash":
        out["hash"] = hash_name(inner)
    elif category == "cipher":
        out["scheme"] = _enum(values, "cipher", m.ALGORITHM)
    elif category == "mac":
        out.update(_mac(inner))
    elif category == "aead":
        out.update(_aead(inner))
    elif category == "asymmetric_signature":
        out.update(_signature(inner))
    elif category == "asymmetric_encryption":
        out.update(_encryption(inner))
    elif category == "key_agreement":
        out.update(_agreement(inner))
    elif category == "key_derivation":
        out.update(_derivation(inner))
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
