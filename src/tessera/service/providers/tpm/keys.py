"""Key management: generate (in the TPM), import (public keys), export public, export, destroy.

A generated key is a row whose `material` holds the TPM's TPM2B_PUBLIC and wrapped TPM2B_PRIVATE
(`context`): nothing lives in the TPM between uses, so creation and destruction are one row
insert or delete, with no crash window. Private keys never leave the TPM unwrapped, so PsaExportKey
works for imported public keys only.
"""

from __future__ import annotations

from functools import partial

from tessera.psa.attributes import encode_attributes
from tessera.psa.formats import encode_key
from tessera.psa.key_types import KeyKind
from tessera.psa.usage import Usage
from tessera.service.keystore import KeyRecord, Owner
from tessera.service.providers.base import serves
from tessera.service.providers.key_requests import (
    destroy_operation,
    refuse_taken,
    to_generate,
    to_import,
)
from tessera.service.providers.tpm import checks
from tessera.service.providers.tpm.context import (
    Context,
    HeldKey,
    encode_public,
    encode_wrapped,
    open_key,
    public_object,
)
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_import_key_pb2,
)
from tessera.wire.status import Status, StatusError


@serves(contracts.PSA_GENERATE_KEY)
def generate_key(
    ctx: Context, owner: Owner, op: psa_generate_key_pb2.Operation
) -> psa_generate_key_pb2.Result:
    """PsaGenerateKey: a child of the TPM's storage key, stored wrapped."""
    attributes = to_generate(
        op, partial(checks.check_generatable, ctx.caps), allow_deprecated=ctx.allow_deprecated
    )
    refuse_taken(ctx.keystore, owner, ctx.provider_id, op.key_name)
    bits = attributes.bits
    kind = "rsa" if attributes.key_type.kind is KeyKind.RSA_KEY_PAIR else "ecc"
    wrapped = ctx.tpm.create(f"{kind}{bits}")
    stored = encode_attributes(op.attributes, bits)
    ctx.keystore.insert(
        KeyRecord(owner, ctx.provider_id, op.key_name, stored, encode_wrapped(wrapped))
    )
    return psa_generate_key_pb2.Result()


@serves(contracts.PSA_IMPORT_KEY)
def import_key_op(
    ctx: Context, owner: Owner, op: psa_import_key_pb2.Operation
) -> psa_import_key_pb2.Result:
    """PsaImportKey: RSA and SECP_R1 public keys, in PSA format (used in software)."""
    # A size the TPM cannot hold is NotSupported before the data is read.
    sized, data = to_import(
        op, checks.check_importable, allow_deprecated=ctx.allow_deprecated, size_first=True
    )
    refuse_taken(ctx.keystore, owner, ctx.provider_id, op.key_name)
    stored = encode_attributes(op.attributes, sized.bits)
    ctx.keystore.insert(KeyRecord(owner, ctx.provider_id, op.key_name, stored, encode_public(data)))
    return psa_import_key_pb2.Result()


@serves(contracts.PSA_EXPORT_PUBLIC_KEY)
def export_public_key(
    ctx: Context, owner: Owner, op: psa_export_public_key_pb2.Operation
) -> psa_export_public_key_pb2.Result:
    """PsaExportPublicKey: RSAPublicKey DER, or the uncompressed ECC point."""
    key = open_key(ctx, owner, op.key_name)
    return psa_export_public_key_pb2.Result(data=encode_key(public_object(key), key.bits))


@serves(contracts.PSA_EXPORT_KEY)
def export_key(
    ctx: Context, owner: Owner, op: psa_export_key_pb2.Operation
) -> psa_export_key_pb2.Result:
    """PsaExportKey: needs the export flag; only public keys (TPM private keys never leave)."""
    key = open_key(ctx, owner, op.key_name)
    key.attributes.usage.require(Usage.EXPORT)
    if key.wrapped is not None:
        raise StatusError(
            Status.PSA_ERROR_NOT_PERMITTED, "private keys held by the TPM cannot be exported"
        )
    return psa_export_key_pb2.Result(data=encode_key(public_object(key), key.bits))


def _release(ctx: Context, key: HeldKey) -> None:
    """Flush the key if it is loaded (the row held the only copy of the wrapped blob)."""
    if key.wrapped is not None:
        ctx.tpm.forget(key.wrapped)


KEY_OPERATIONS = (destroy_operation(open_key, _release),)
