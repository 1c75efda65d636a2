"""Key management on the token: generate, import, export public, export, destroy.

A key is two things: token objects (CKA_ID a random 16 bytes, label the id in hex, so the token
reveals no application or key name) and a key-store row whose `material` is that CKA_ID. Rows
that `tessera migrate-parsec` writes name Parsec's objects by Parsec's own 4-byte CKA_ID.
Imported keys become token objects like generated ones; their material is kept nowhere else.

Crash safety: creation makes the token objects first, then inserts the row; if the insert fails
(the name is taken meanwhile) the objects are destroyed. Destruction deletes the row first, then
the objects. A crash between the two steps leaves token objects without a row: unreachable through
the service (no row names them) and harmless, only using token storage; `tessera` never adopts
them (the migration adopts only objects that a Parsec record names). Nothing needs repairing at
start-up.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.psa.attributes import KeyAttributes, encode_attributes
from tessera.psa.formats import encode_key, private_key, public_key
from tessera.psa.key_types import KeyKind, ecc_byte_length
from tessera.psa.usage import Usage
from tessera.service.keystore import KeyRecord, Owner
from tessera.service.providers.base import serves
from tessera.service.providers.key_requests import (
    destroy_operation,
    refuse_taken,
    to_generate,
    to_import,
)
from tessera.service.providers.pkcs11.checks import (
    check_generatable,
    check_importable,
    token_curve,
)
from tessera.service.providers.pkcs11.context import KEY_ID_BYTES, Context, HeldKey, open_key
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_import_key_pb2,
)
from tessera.wire.status import Status, StatusError

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


def _insert(ctx: Context, owner: Owner, name: str, stored: bytes, key_id: bytes) -> None:
    try:
        ctx.keystore.insert(KeyRecord(owner, ctx.provider_id, name, stored, key_id))
    except BaseException:
        ctx.token.destroy(key_id)
        raise


@serves(contracts.PSA_GENERATE_KEY)
def generate_key(
    ctx: Context, owner: Owner, op: psa_generate_key_pb2.Operation
) -> psa_generate_key_pb2.Result:
    """PsaGenerateKey: on the token, private and non-extractable (unless export is allowed)."""
    attributes = to_generate(op, check_generatable, allow_deprecated=ctx.allow_deprecated)
    refuse_taken(ctx.keystore, owner, ctx.provider_id, op.key_name)
    key_id = os.urandom(KEY_ID_BYTES)
    extractable = _extractable(ctx, attributes)
    kind, bits = attributes.key_type.kind, attributes.bits
    if kind is KeyKind.RSA_KEY_PAIR:
        ctx.token.generate_rsa(key_id, bits, extractable=extractable)
    elif kind is KeyKind.ECC_KEY_PAIR:
        curve = token_curve(attributes.key_type, bits)
        derive = attributes.usage.allows(Usage.DERIVE)
        ctx.token.generate_ec(key_id, curve, extractable=extractable, derive=derive)
    else:
        ctx.token.generate_aes(key_id, bits, extractable=extractable)
    _insert(ctx, owner, op.key_name, encode_attributes(op.attributes, bits), key_id)
    return psa_generate_key_pb2.Result()


def _extractable(ctx: Context, attributes: KeyAttributes) -> bool:
    return ctx.allow_export and attributes.usage.allows(Usage.EXPORT)


@serves(contracts.PSA_IMPORT_KEY)
def import_key_op(
    ctx: Context, owner: Owner, op: psa_import_key_pb2.Operation
) -> psa_import_key_pb2.Result:
    """PsaImportKey: key pairs, public keys and AES keys, in PSA format, become token objects."""
    sized, data = to_import(op, check_importable, allow_deprecated=ctx.allow_deprecated)
    refuse_taken(ctx.keystore, owner, ctx.provider_id, op.key_name)
    key_id = os.urandom(KEY_ID_BYTES)
    _create(ctx, key_id, sized, data)
    _insert(ctx, owner, op.key_name, encode_attributes(op.attributes, sized.bits), key_id)
    return psa_import_key_pb2.Result()


def _create(ctx: Context, key_id: bytes, attributes: KeyAttributes, data: bytes) -> None:
    """Token objects for validated import data."""
    key_type, bits = attributes.key_type, attributes.bits
    extractable = _extractable(ctx, attributes)
    if key_type.kind is KeyKind.AES:
        ctx.token.import_aes(key_id, data, extractable=extractable)
    elif key_type.is_public_key:
        public = public_key(key_type, bits, data)
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            ctx.token.import_rsa_public(key_id, numbers.n, numbers.e)
        else:
            ctx.token.import_ec_public(key_id, token_curve(key_type, bits), data)
    else:
        private = private_key(key_type, bits, data)
        if isinstance(private, rsa.RSAPrivateKey):
            p = private.private_numbers()
            n, e = p.public_numbers.n, p.public_numbers.e
            values = (n, e, p.d, p.p, p.q, p.dmp1, p.dmq1, p.iqmp)
            ctx.token.import_rsa_pair(key_id, values, extractable=extractable)
        else:
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            point = encode_key(private.public_key(), bits)
            ctx.token.import_ec_pair(
                key_id,
                token_curve(key_type, bits),
                data,
                point,
                extractable=extractable,
                derive=attributes.usage.allows(Usage.DERIVE),
            )


def public_object(ctx: Context, key: HeldKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The `cryptography` object of a key's public half, read from the token."""
    key_type = key.attributes.key_type
    if key_type.is_rsa:
        n, e = ctx.token.rsa_public(key.key_id)
        return rsa.RSAPublicNumbers(e, n).public_key()
    public = public_key(key_type.public(), key.bits, ctx.token.ec_point(key.key_id))
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


@serves(contracts.PSA_EXPORT_PUBLIC_KEY)
def export_public_key(
    ctx: Context, owner: Owner, op: psa_export_public_key_pb2.Operation
) -> psa_export_public_key_pb2.Result:
    """PsaExportPublicKey: RSAPublicKey DER, or the uncompressed ECC point."""
    key = open_key(ctx, owner, op.key_name)
    if not key.attributes.key_type.is_asymmetric:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "the key is not asymmetric")
    return psa_export_public_key_pb2.Result(data=encode_key(public_object(ctx, key), key.bits))


@serves(contracts.PSA_EXPORT_KEY)
def export_key(
    ctx: Context, owner: Owner, op: psa_export_key_pb2.Operation
) -> psa_export_key_pb2.Result:
    """PsaExportKey: needs the export flag, `allow_export`, and an extractable object."""
    key = open_key(ctx, owner, op.key_name)
    key_type = key.attributes.key_type
    if key_type.is_public_key:
        # As PSA (and the software provider): a public key needs no flag to export.
        return psa_export_key_pb2.Result(data=encode_key(public_object(ctx, key), key.bits))
    key.attributes.usage.require(Usage.EXPORT)
    if not ctx.allow_export:
        raise StatusError(Status.PSA_ERROR_NOT_PERMITTED, "this provider does not export keys")
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


def _release(ctx: Context, key: HeldKey) -> None:
    ctx.token.destroy(key.key_id)


KEY_OPERATIONS = (destroy_operation(open_key, _release),)
