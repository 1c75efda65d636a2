"""Turning `cryptography` key objects (or raw secret bytes) into PSA attributes and key data."""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from tessera.client import specs
from tessera.client._errors import UsageError
from tessera.client.specs import KeySpec
from tessera.psa import formats
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes, KeyType

_CURVES: dict[str, tuple[KeyType.EccFamily, int]] = {
    "secp256r1": (KeyType.SECP_R1, 256),
    "secp384r1": (KeyType.SECP_R1, 384),
    "secp521r1": (KeyType.SECP_R1, 521),
    "secp256k1": (KeyType.SECP_K1, 256),
}
_CURVE_SPECS = {256: specs.ECDSA_P256, 384: specs.ECDSA_P384, 521: specs.ECDSA_P521}

ImportableKey = formats.PrivateKey | formats.PublicKey | bytes


def _as_public(spec: KeySpec) -> KeySpec:
    """A spec for the public half: verify / encrypt only."""
    usage = tuple(u for u in spec.usage if u in ("verify_hash", "verify_message", "encrypt"))
    key_type = KeyType()
    key_type.CopyFrom(spec.key_type)
    if key_type.WhichOneof("variant") == "ecc_key_pair":
        key_type.ecc_public_key.curve_family = key_type.ecc_key_pair.curve_family
    elif key_type.WhichOneof("variant") == "rsa_key_pair":
        key_type.rsa_public_key.SetInParent()
    return replace(spec, key_type=key_type, usage=usage, export=False)


def default_spec(key: ImportableKey) -> KeySpec:
    """The spec an imported key gets when the caller gives none."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        family, bits = _curve(key.curve)
        base = _CURVE_SPECS.get(bits, specs.ECDSA_P256)
        base = specs.ecdsa(
            family, bits, base.algorithm.asymmetric_signature.ecdsa.hash_alg.specific, base.name
        )
        return base if isinstance(key, ec.EllipticCurvePrivateKey) else _as_public(base)
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        base = specs.rsa_pss(key.key_size)
        return base if isinstance(key, rsa.RSAPrivateKey) else _as_public(base)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return specs.ED25519
    if isinstance(key, ed25519.Ed25519PublicKey):
        return replace(
            specs.ED25519,
            key_type=KeyType(
                ecc_public_key=KeyType.EccPublicKey(curve_family=KeyType.TWISTED_EDWARDS)
            ),
            usage=("verify_message",),
        )
    if isinstance(key, x25519.X25519PrivateKey):
        return specs.X25519
    raise UsageError(f"no default key spec for {type(key).__name__}: pass spec=...")


def _curve(curve: ec.EllipticCurve) -> tuple[KeyType.EccFamily, int]:
    try:
        return _CURVES[curve.name]
    except KeyError:
        raise UsageError(f"curve {curve.name} is not supported") from None


def attributes_and_data(key: ImportableKey, spec: KeySpec | None) -> tuple[KeyAttributes, bytes]:
    """PSA attributes and key bytes for an import."""
    if isinstance(key, bytes):
        if spec is None:
            raise UsageError("importing raw bytes needs a spec (e.g. tessera.AES_256_GCM)")
        attributes = spec.attributes()
        attributes.key_bits = len(key) * 8
        return attributes, key
    chosen = spec or default_spec(key)
    attributes = chosen.attributes()
    bits = _bits(key)
    attributes.key_bits = bits
    return attributes, formats.encode_key(key, bits)


def _bits(key: formats.PrivateKey | formats.PublicKey) -> int:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return _curve(key.curve)[1]
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return key.key_size
    if isinstance(
        key,
        ed25519.Ed25519PrivateKey
        | ed25519.Ed25519PublicKey
        | x25519.X25519PrivateKey
        | x25519.X25519PublicKey,
    ):
        return 255
    raise UsageError(f"cannot import a {type(key).__name__}")
