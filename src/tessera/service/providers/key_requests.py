"""What every provider checks about a GenerateKey or ImportKey request before it makes a key,
and DestroyKey for the providers whose rows name objects held by a device.

Deprecated primitives (see `tessera.psa.deprecation`), as Parsec: generation is refused with
DeprecatedPrimitive unless `allow_deprecated` is set; import is allowed with a warning, because
refusing would strand users migrating existing keys (the warning names no key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from tessera.psa.attributes import KeyAttributes, parse_attributes
from tessera.psa.deprecation import key_deprecation
from tessera.psa.formats import import_key
from tessera.service.keystore import KeyStore, Owner
from tessera.service.keystore.sqlite import check_key_name
from tessera.service.providers.base import KeyOperation
from tessera.wire import contracts
from tessera.wire.proto import psa_destroy_key_pb2, psa_generate_key_pb2, psa_import_key_pb2
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

K = TypeVar("K")

#: Refuses attributes the provider cannot serve (InvalidArgument/NotSupported).
AttributesCheck = Callable[[KeyAttributes], None]


def check_deprecation(attributes: KeyAttributes, *, allow_deprecated: bool, generate: bool) -> None:
    """Refuse generating deprecated keys unless allowed; warn on importing them."""
    reason = key_deprecation(attributes)
    if reason is None:
        return
    if generate and not allow_deprecated:
        raise StatusError(Status.DEPRECATED_PRIMITIVE, reason)
    log.warning(
        "a deprecated primitive is being %s: %s", "generated" if generate else "imported", reason
    )


def check_generation(
    attributes: KeyAttributes, check: AttributesCheck, *, allow_deprecated: bool
) -> None:
    """Everything generating a key with `attributes` would refuse (`check` is the provider's own
    refusals); GenerateKey and CanDoCrypto share it."""
    check_deprecation(attributes, allow_deprecated=allow_deprecated, generate=True)
    check(attributes)


def to_generate(
    op: psa_generate_key_pb2.Operation, check: AttributesCheck, *, allow_deprecated: bool
) -> KeyAttributes:
    """The attributes of a key GenerateKey may make (`check` is the provider's refusals)."""
    check_key_name(op.key_name)
    attributes = parse_attributes(op.attributes)
    check_generation(attributes, check, allow_deprecated=allow_deprecated)
    return attributes


def to_import(
    op: psa_import_key_pb2.Operation,
    check: AttributesCheck,
    *,
    allow_deprecated: bool,
    size_first: bool = False,
) -> tuple[KeyAttributes, bytes]:
    """The attributes (sized by the data) and PSA data of a key ImportKey may make.

    The type is checked first; a size that disagrees with the data is then InvalidArgument (as
    Parsec), before asking whether the data's size is one held here. With `size_first`, a size
    the request names is checked with the type, before the data is read.
    """
    check_key_name(op.key_name)
    attributes = parse_attributes(op.attributes)
    key_type = attributes.key_type
    given_bits = attributes.bits if size_first else 0
    check(KeyAttributes(key_type, given_bits, attributes.usage, attributes.algorithm))
    bits, data = import_key(key_type, attributes.bits, op.data)
    sized = KeyAttributes(key_type, bits, attributes.usage, attributes.algorithm)
    check(sized)
    check_deprecation(sized, allow_deprecated=allow_deprecated, generate=False)
    return sized, data


def refuse_taken(keystore: KeyStore, owner: Owner, provider_id: int, name: str) -> None:
    """AlreadyExists when the owner has a key of that name (before making one on a device)."""
    try:
        keystore.get(owner, provider_id, name)
    except StatusError as error:
        if error.status is Status.PSA_ERROR_DOES_NOT_EXIST:
            return
        raise
    raise StatusError(Status.PSA_ERROR_ALREADY_EXISTS, "a key with this name exists")


class KeyRows(Protocol):
    """A provider state that names its keys' rows."""

    @property
    def keystore(self) -> KeyStore: ...

    @property
    def provider_id(self) -> int: ...


R = TypeVar("R", bound=KeyRows)


def destroy_operation(
    open_key: Callable[[R, Owner, str], K], release: Callable[[R, K], None]
) -> KeyOperation[R, psa_destroy_key_pb2.Operation, psa_destroy_key_pb2.Result]:
    """PsaDestroyKey: the row first, then `release` frees what the device holds for the key. A
    crash between the two leaves only device objects no row names: unreachable and harmless."""

    def destroy_key(
        state: R, owner: Owner, op: psa_destroy_key_pb2.Operation
    ) -> psa_destroy_key_pb2.Result:
        key = open_key(state, owner, op.key_name)
        state.keystore.delete(owner, state.provider_id, op.key_name)
        release(state, key)
        return psa_destroy_key_pb2.Result()

    return KeyOperation(contracts.PSA_DESTROY_KEY, destroy_key)
