"""list-keys describes keys from their encoding (no protobuf): the same JSON and words as the
protobuf-reading description it replaced, kept here as the oracle, over random attributes
(unknown enum values, unset oneofs and absent messages included)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tessera.cli import _describe, _psa_names
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes, KeyType
from tests.unit.wire.test_protowire import ATTRIBUTES, _protobuf, _values

JsonObject = dict[str, Any]

# --- the description as it was, reading protobuf messages (the oracle) ---


def _old_hash_name(value: int) -> str:
    """`sha256` for SHA_256, `sha3-256` for SHA3_256, `sha512-224` for SHA_512_224."""
    name = Algorithm.Hash.Name(value) if value in Algorithm.Hash.values() else f"hash_{value}"
    return name.lower().replace("sha_", "sha", 1).replace("_", "-")


def _old_enum_value(field: FieldDescriptor, value: int) -> str | int:
    known = field.enum_type.values_by_number.get(value) if field.enum_type else None
    return known.name.lower() if known is not None else value


def _old_chosen(message: Message) -> tuple[str | None, Any]:
    variant = message.WhichOneof("variant")
    return variant, (getattr(message, variant) if variant else None)


# JSON


def _old_key_type_json(key_type: KeyType) -> JsonObject | None:
    """`{"kind": ..., <the kind's parameters>}`; None for an unset type."""
    kind, inner = _old_chosen(key_type)
    if kind is None:
        return None
    out: JsonObject = {"kind": kind}
    for field in inner.DESCRIPTOR.fields:  # all of them: RFC7919 is the zero value
        value = getattr(inner, field.name)
        out[field.name] = (
            _old_enum_value(field, value) if field.type == FieldDescriptor.TYPE_ENUM else value
        )
    return out


def _old_sign_hash(choice: Algorithm.AsymmetricSignature.SignHash) -> str | None:
    variant: str | None = choice.WhichOneof("variant")
    if variant == "specific":
        return _old_hash_name(choice.specific)
    return variant  # "any", or None when unset


def _old_with_hash(scheme: str | None, hash_value: str | None) -> JsonObject:
    out: JsonObject = {"scheme": scheme}
    if hash_value is not None:
        out["hash"] = hash_value
    return out


def _old_signature(signature: Algorithm.AsymmetricSignature) -> JsonObject:
    scheme, inner = _old_chosen(signature)
    has_hash = inner is not None and "hash_alg" in inner.DESCRIPTOR.fields_by_name
    return _old_with_hash(scheme, _old_sign_hash(inner.hash_alg) if has_hash else None)


def _old_encryption(encryption: Algorithm.AsymmetricEncryption) -> JsonObject:
    scheme, inner = _old_chosen(encryption)
    return _old_with_hash(scheme, _old_hash_name(inner.hash_alg) if scheme == "rsa_oaep" else None)


def _old_full_mac(full: Algorithm.Mac.FullLength) -> JsonObject:
    scheme, inner = _old_chosen(full)
    return _old_with_hash(scheme, _old_hash_name(inner.hash_alg) if scheme == "hmac" else None)


def _old_mac(mac: Algorithm.Mac) -> JsonObject:
    if mac.WhichOneof("variant") == "truncated":
        return {**_old_full_mac(mac.truncated.mac_alg), "mac_length": mac.truncated.mac_length}
    return _old_full_mac(mac.full_length)


def _old_aead(aead: Algorithm.Aead) -> JsonObject:
    enum = Algorithm.Aead.AeadWithDefaultLengthTag
    if aead.WhichOneof("variant") == "aead_with_shortened_tag":
        shortened = aead.aead_with_shortened_tag
        scheme = enum.Name(shortened.aead_alg).lower()
        return {"scheme": scheme, "tag_length": shortened.tag_length}
    return {"scheme": enum.Name(aead.aead_with_default_length_tag).lower()}


def _old_derivation(kdf: Algorithm.KeyDerivation) -> JsonObject:
    scheme, inner = _old_chosen(kdf)
    return _old_with_hash(scheme, _old_hash_name(inner.hash_alg) if inner is not None else None)


def _old_agreement(agreement: Algorithm.KeyAgreement) -> JsonObject:
    raw = Algorithm.KeyAgreement.Raw
    if agreement.WhichOneof("variant") == "with_key_derivation":
        derived = agreement.with_key_derivation
        return {
            "scheme": raw.Name(derived.ka_alg).lower(),
            "kdf": _old_derivation(derived.kdf_alg),
        }
    return {"scheme": raw.Name(agreement.raw).lower()}


def _old_algorithm_json(algorithm: Algorithm) -> JsonObject | None:
    """`{"category": ..., "scheme": ..., "hash": ..., <lengths>}`; None when unset."""
    category = algorithm.WhichOneof("variant")
    if category is None:
        return None
    out: JsonObject = {"category": category}
    if category == "hash":
        out["hash"] = _old_hash_name(algorithm.hash)
    elif category == "cipher":
        out["scheme"] = Algorithm.Cipher.Name(algorithm.cipher).lower()
    elif category == "mac":
        out.update(_old_mac(algorithm.mac))
    elif category == "aead":
        out.update(_old_aead(algorithm.aead))
    elif category == "asymmetric_signature":
        out.update(_old_signature(algorithm.asymmetric_signature))
    elif category == "asymmetric_encryption":
        out.update(_old_encryption(algorithm.asymmetric_encryption))
    elif category == "key_agreement":
        out.update(_old_agreement(algorithm.key_agreement))
    elif category == "key_derivation":
        out.update(_old_derivation(algorithm.key_derivation))
    return out


def _old_key_summary(name: str, provider: int, attributes: KeyAttributes) -> dict[str, Any]:
    flags = attributes.key_policy.key_usage_flags
    return {
        "name": name,
        "provider": provider,
        "type": _old_key_type_json(attributes.key_type),
        "bits": attributes.key_bits,
        "algorithm": _old_algorithm_json(attributes.key_policy.key_algorithm),
        "usage": [field.name for field, value in flags.ListFields() if value],
    }


# --- the comparison ---


def _outcome(describe: Any, *args: Any) -> Any:
    """What a description gives, or the ValueError it raises (an enum value without a name)."""
    try:
        return describe(*args)
    except ValueError as error:
        return ("ValueError", str(error))


@pytest.mark.parametrize("seed", range(10))
def test_keys_are_described_as_before(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        attributes = _protobuf(KeyAttributes, _values(ATTRIBUTES, rng))
        assert isinstance(attributes, KeyAttributes)
        encoded = attributes.SerializeToString()
        before = _outcome(_old_key_summary, "k", 1, attributes)
        assert _outcome(_describe.key_summary, "k", 1, encoded) == before
        assert _outcome(_describe.key_summary, "k", 1, attributes) == before
        if not isinstance(before, tuple):
            line = _describe.key_line(before)
            assert line.startswith("* k (provider 1): ")


@pytest.mark.parametrize("value", [*range(-2, 20), 127, 2**31 - 1])
def test_hash_names_are_as_before(value: int) -> None:
    assert _psa_names.hash_name(value) == _old_hash_name(value)
