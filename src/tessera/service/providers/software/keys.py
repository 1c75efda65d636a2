"""Key management: generate, import, export, export public, destroy.

Deprecated primitives, as Parsec: generation is refused unless `allow_deprecated` is set, import
warns (`providers.key_requests`, the checks every provider makes on a request).

Sizes: RSA 1024/2048/3072/4096 can be generated and imported; 1024 is a deprecated primitive,
so generating it needs `allow_deprecated` (as in Parsec, whose own suite uses 1024-bit keys).
Generation bounds every size before allocating anything.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, x448, x25519

from tessera.psa.attributes import KeyAttributes, encode_attributes
from tessera.psa.dh_groups import FfdhPrivateKey
from tessera.psa.formats import (
    PrivateKey,
    check_symmetric_bits,
    curve_name,
    encode_key,
    export_public,
    weierstrass_curve,
)
from tessera.psa.key_types import DH_BITS, RSA_BITS, KeyKind
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.key_requests import to_generate, to_import
from tessera.service.providers.software.policy import Settings
from tessera.service.providers.software.rsa_keygen_child import generate_rsa
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_import_key_pb2,
)
from tessera.wire.status import Status, StatusError

SYMMETRIC_KINDS = frozenset({KeyKind.RAW_DATA, KeyKind.HMAC, KeyKind.AES, KeyKind.CHACHA20})


def _unsupported(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, message)


def check_generatable(attributes: KeyAttributes) -> None:
    """Everything generation would refuse, without generating (shared with CanDoCrypto)."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.is_public_key:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "public keys cannot be generated")
    if bits == 0:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "generation needs a key size")
    if key_type.kind in SYMMETRIC_KINDS:
        check_symmetric_bits(key_type, bits)
    elif key_type.kind is KeyKind.RSA_KEY_PAIR:
        if bits not in RSA_BITS:
            raise _unsupported(f"cannot generate {bits}-bit RSA keys")
    elif key_type.kind is KeyKind.ECC_KEY_PAIR:
        curve_name(key_type, bits)
    elif key_type.kind is KeyKind.DH_KEY_PAIR:
        if bits not in DH_BITS:
            raise _unsupported(f"no {bits}-bit RFC 7919 group")
    else:
        raise _unsupported(f"{key_type.kind.value} keys are not supported")


def check_importable(attributes: KeyAttributes) -> None:
    """Whether a key of this type (and size, unless 0) can be imported (for CanDoCrypto)."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.kind in SYMMETRIC_KINDS:
        if bits:
            check_symmetric_bits(key_type, bits)
    elif key_type.is_rsa:
        if bits and bits not in RSA_BITS:
            # As Parsec: a size no RSA key here can have is a bad argument (CanDoCrypto: "can't").
            raise StatusError(
                Status.PSA_ERROR_INVALID_ARGUMENT, f"{bits}-bit RSA keys are not held"
            )
    elif key_type.is_ecc:
        if bits:
            curve_name(key_type, bits)
    elif key_type.is_dh:
        if bits and bits not in DH_BITS:
            raise _unsupported(f"no {bits}-bit RFC 7919 group")
    else:
        raise _unsupported(f"{key_type.kind.value} keys are not supported")


def _new_key_data(settings: Settings, attributes: KeyAttributes) -> bytes:
    """A fresh key pair's PSA encoding."""
    if attributes.key_type.kind in SYMMETRIC_KINDS:
        return os.urandom(attributes.bits // 8)
    if attributes.key_type.is_rsa:
        if settings.rsa_keygen is not None:
            return settings.rsa_keygen.generate(attributes.bits)
        return generate_rsa(attributes.bits)
    return encode_key(_new_private_key(attributes), attributes.bits)


def _new_private_key(attributes: KeyAttributes) -> PrivateKey:
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.is_dh:
        return FfdhPrivateKey.generate(bits)
    name = curve_name(key_type, bits)
    if name == "x25519":
        return x25519.X25519PrivateKey.generate()
    if name == "x448":
        return x448.X448PrivateKey.generate()
    if name == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if name == "ed448":
        return ed448.Ed448PrivateKey.generate()
    return ec.generate_private_key(weierstrass_curve(name))


@serves(contracts.PSA_GENERATE_KEY)
def generate_key(
    settings: Settings, owner: Owner, op: psa_generate_key_pb2.Operation
) -> psa_generate_key_pb2.Result:
    """PsaGenerateKey."""
    attributes = to_generate(op, check_generatable, allow_deprecated=settings.allow_deprecated)
    # Fail before the (possibly slow) generation when the name is taken; insert checks again.
    if settings.vault.exists(owner, op.key_name):
        raise StatusError(Status.PSA_ERROR_ALREADY_EXISTS, "a key with this name exists")
    data = _new_key_data(settings, attributes)
    stored = encode_attributes(op.attributes, attributes.bits)
    settings.vault.store(owner, op.key_name, stored, data)
    return psa_generate_key_pb2.Result()


@serves(contracts.PSA_IMPORT_KEY)
def import_key_op(
    settings: Settings, owner: Owner, op: psa_import_key_pb2.Operation
) -> psa_import_key_pb2.Result:
    """PsaImportKey."""
    sized, data = to_import(op, check_importable, allow_deprecated=settings.allow_deprecated)
    stored = encode_attributes(op.attributes, sized.bits)
    settings.vault.store(owner, op.key_name, stored, data)
    return psa_import_key_pb2.Result()


@serves(contracts.PSA_EXPORT_KEY)
def export_key(
    settings: Settings, owner: Owner, op: psa_export_key_pb2.Operation
) -> psa_export_key_pb2.Result:
    """PsaExportKey: with the export usage flag, or of a public key."""
    key = settings.vault.open(owner, op.key_name)
    if not key.attributes.key_type.is_public_key:
        # As PSA (and Mbed Crypto): a key that is only a public key needs no flag to export.
        key.attributes.usage.require(Usage.EXPORT)
    return psa_export_key_pb2.Result(data=key.data)


@serves(contracts.PSA_EXPORT_PUBLIC_KEY)
def export_public_key(
    settings: Settings, owner: Owner, op: psa_export_public_key_pb2.Operation
) -> psa_export_public_key_pb2.Result:
    """PsaExportPublicKey: always allowed for asymmetric keys."""
    key = settings.vault.open(owner, op.key_name)
    key_type = key.attributes.key_type
    if not key_type.is_asymmetric:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "the key is not asymmetric")
    return psa_export_public_key_pb2.Result(data=export_public(key_type, key.bits, key.data))


@serves(contracts.PSA_DESTROY_KEY)
def destroy_key(
    settings: Settings, owner: Owner, op: psa_destroy_key_pb2.Operation
) -> psa_destroy_key_pb2.Result:
    """PsaDestroyKey."""
    settings.vault.destroy(owner, op.key_name)
    return psa_destroy_key_pb2.Result()
