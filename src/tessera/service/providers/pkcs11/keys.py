"""Key management on the token: generate, import (public keys), export public, export, destroy.

A key is two things: token objects (CKA_ID a random 16 bytes, label the id in hex, so the token
reveals no application or key name) and a key-store row whose `material` is that CKA_ID.

Crash safety: creation makes the token objects first, then inserts the row; if the insert fails
(the name is taken meanwhile) the objects are destroyed. Destruction deletes the row first, then
the objects. A crash between the two steps leaves token objects without a row: unreachable through
the service (no row names them) and harmless, only using token storage; `tessera` never adopts
them. Nothing needs repairing at start-up.
"""

from __future__ import annotations

import logging
import os

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.psa.attributes import KeyAttributes, encode_attributes, parse_attributes
from tessera.psa.deprecation import key_deprecation
from tessera.psa.formats import encode_key, import_key, public_key
from tessera.psa.key_types import KeyKind, ecc_byte_length
from tessera.psa.usage import Usage
from tessera.service.keystore import KeyRecord, Owner
from tessera.service.keystore.sqlite import check_key_name
from tessera.service.providers.pkcs11.checks import (
    EC_CURVES,
    check_generatable,
    check_importable,
)
from tessera.service.providers.pkcs11.context import KEY_ID_BYTES, Context, HeldKey, open_key
from tessera.wire.proto import (
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_import_key_pb2,
)
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

_RSA_PRIVATE = (
    "MODULUS",
    "PUBLIC_EXPONENT",
    "PRIVATE_EXPONENT",
    "PRIME_1",
    "PRIME_2",
    "EXPONENT_1",
    "EXPONENT_2",
    "COEFFICIENT",
)


def check_deprecation(ctx: Context, attributes: KeyAttributes, *, generate: bool) -> None:
    """As the software provider: refuse generating deprecated keys unless allowed."""
    reason = key_deprecation(attributes)
    if reason is None:
        return
    if generate and not ctx.allow_deprecated:
        raise StatusError(Status.DEPRECATED_PRIMITIVE, reason)
    log.warning(
        "a deprecated primitive is being %s: %s", "generated" if generate else "imported", reason
    )


def _exists(ctx: Context, owner: Owner, name: str) -> bool:
    try:
        ctx.keystore.get(owner, ctx.provider_id, name)
    except StatusError as error:
        if error.status is Status.PSA_ERROR_DOES_NOT_EXIST:
            return False
        raise
    return True


def _insert(ctx: Context, owner: Owner, name: str, stored: bytes, key_id: bytes) -> None:
    try:
        ctx.keystore.insert(KeyRecord(owner, ctx.provider_id, name, stored, key_id))
    except BaseException:
        ctx.token.destroy(key_id)
        raise


def generate_key(
    ctx: Context, owner: Owner, op: psa_generate_key_pb2.Operation
) -> psa_generate_key_pb2.Result:
    """PsaGenerateKey: on the token, private and non-extractable (unless export is allowed)."""
    check_key_name(op.key_name)
    attributes = parse_attributes(op.attributes)
    check_deprecation(ctx, attributes, generate=True)
    check_generatable(attributes)
    if _exists(ctx, owner, op.key_name):
        raise StatusError(Status.PSA_ERROR_ALREADY_EXISTS, "a key with this name exists")
    key_id = os.urandom(KEY_ID_BYTES)
    extractable = ctx.allow_export and attributes.usage.allows(Usage.EXPORT)
    kind, bits = attributes.key_type.kind, attributes.bits
    if kind is KeyKind.RSA_KEY_PAIR:
        ctx.token.generate_rsa(key_id, bits, extractable=extractable)
    elif kind is KeyKind.ECC_KEY_PAIR:
        ctx.token.generate_ec(key_id, EC_CURVES[bits], extractable=extractable)
    else:
        ctx.token.generate_aes(key_id, bits, extractable=extractable)
    _insert(ctx, owner, op.key_name, encode_attributes(op.attributes, bits), key_id)
    return psa_generate_key_pb2.Result()


def import_key_op(
    ctx: Context, owner: Owner, op: psa_import_key_pb2.Operation
) -> psa_import_key_pb2.Result:
    """PsaImportKey: RSA and SECP_R1 public keys, in PSA format, become token objects."""
    check_key_name(op.key_name)
    attributes = parse_attributes(op.attributes)
    check_importable(attributes)
    key_type = attributes.key_type
    bits, data = import_key(key_type, attributes.bits, op.data)
    sized = KeyAttributes(key_type, bits, attributes.usage, attributes.algorithm)
    check_importable(sized)
    check_deprecation(ctx, sized, generate=False)
    if _exists(ctx, owner, op.key_name):
        raise StatusError(Status.PSA_ERROR_ALREADY_EXISTS, "a key with this name exists")
    key_id = os.urandom(KEY_ID_BYTES)
    if key_type.is_rsa:
        public = public_key(key_type, bits, data)
        assert isinstance(public, rsa.RSAPublicKey)
        numbers = public.public_numbers()
        ctx.token.import_rsa_public(key_id, numbers.n, numbers.e)
    else:
        ctx.token.import_ec_public(key_id, EC_CURVES[bits], data)
    _insert(ctx, owner, op.key_name, encode_attributes(op.attributes, bits), key_id)
    return psa_import_key_pb2.Result()


def public_object(ctx: Context, key: HeldKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The `cryptography` object of a key's public half, read from the token."""
    key_type = key.attributes.key_type
    if key_type.is_rsa:
        n, e = ctx.token.rsa_public(key.key_id)
        return rsa.RSAPublicNumbers(e, n).public_key()
    curve = (
        ec.SECP256R1() if key.bits == 256 else ec.SECP384R1() if key.bits == 384 else ec.SECP521R1()
    )
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, ctx.token.ec_point(key.key_id))


def export_public_key(
    ctx: Context, owner: Owner, op: psa_export_public_key_pb2.Operation
) -> psa_export_public_key_pb2.Result:
    """PsaExportPublicKey: RSAPublicKey DER, or the uncompressed ECC point."""
    key = open_key(ctx, owner, op.key_name)
    if not key.attributes.key_type.is_asymmetric:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "the key is not asymmetric")
    return psa_export_public_key_pb2.Result(data=encode_key(public_object(ctx, key), key.bits))


def export_key(
    ctx: Context, owner: Owner, op: psa_export_key_pb2.Operation
) -> psa_export_key_pb2.Result:
    """PsaExportKey: needs the export flag, `allow_export`, and an extractable object."""
    key = open_key(ctx, owner, op.key_name)
    key.attributes.usage.require(Usage.EXPORT)
    if not ctx.allow_export:
        raise StatusError(Status.PSA_ERROR_NOT_PERMITTED, "this provider does not export keys")
    key_type = key.attributes.key_type
    if key_type.is_public_key:
        return psa_export_key_pb2.Result(data=encode_key(public_object(ctx, key), key.bits))
    names = _RSA_PRIVATE if key_type.is_rsa else ("VALUE",)
    values = ctx.token.private_values(key.key_id, names)
    if values is None:
        raise StatusError(Status.PSA_ERROR_NOT_PERMITTED, "the token object is not extractable")
    if key_type.kind is KeyKind.AES:
        return psa_export_key_pb2.Result(data=values["VALUE"])
    if key_type.is_ecc:
        scalar = int.from_bytes(values["VALUE"], "big")
        return psa_export_key_pb2.Result(data=scalar.to_bytes(ecc_byte_length(key.bits), "big"))
    n, e, d, p, q, dp, dq, qi = (int.from_bytes(values[name], "big") for name in _RSA_PRIVATE)
    private = rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, rsa.RSAPublicNumbers(e, n)).private_key()
    return psa_export_key_pb2.Result(data=encode_key(private, key.bits))


def destroy_key(
    ctx: Context, owner: Owner, op: psa_destroy_key_pb2.Operation
) -> psa_destroy_key_pb2.Result:
    """PsaDestroyKey: the row first, then the token objects."""
    key = open_key(ctx, owner, op.key_name)
    ctx.keystore.delete(owner, ctx.provider_id, op.key_name)
    ctx.token.destroy(key.key_id)
    return psa_destroy_key_pb2.Result()
