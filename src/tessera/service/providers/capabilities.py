"""CanDoCrypto, one driver for every provider: each brings its own checks.

Success means "can", PsaErrorNotSupported "can't". By default the answer is what the provider's
operation would do, from the same checks its operations run:
- Use: the policy names an algorithm, some usage flag fits that algorithm, the key's type and
  size can be held, and the operation's own key/algorithm check passes for that usage.
- Generate / Import: the type and size can be generated / imported (deprecated keys cannot be
  generated unless allowed), and if the policy names an algorithm, the Use check passes too.
- Derive: no provider derives keys, so never.
With `parsec_compatible`, every provider answers as Parsec's service does instead
(`check_parsec_style`), because Parsec's clients and its own suite rely on that answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from tessera.psa.algorithms import Algorithm, NoAlgorithm
from tessera.psa.attributes import KeyAttributes, parse_attributes
from tessera.psa.compatibility import compatible, psa_defines_size
from tessera.psa.key_types import RSA_BITS, KeyType
from tessera.psa.usage import Usage
from tessera.wire.proto import can_do_crypto_pb2
from tessera.wire.status import Status, StatusError

#: An operation family's check: (key type, bits, algorithm, usage) -> None or StatusError.
Check = Callable[[KeyType, int, Any, Usage], None]
#: Which check and which usage flags serve a policy algorithm (StatusError if none does).
Family = Callable[[Algorithm], tuple[Check, Sequence[Usage]]]

_CHECK_TYPES = frozenset(
    {
        can_do_crypto_pb2.USE,
        can_do_crypto_pb2.GENERATE,
        can_do_crypto_pb2.IMPORT,
        can_do_crypto_pb2.DERIVE,
    }
)
# The usage flags Parsec counts as "some use of the key".
_PARSEC_USE_FLAGS = (
    Usage.ENCRYPT,
    Usage.DECRYPT,
    Usage.SIGN_HASH,
    Usage.SIGN_MESSAGE,
    Usage.VERIFY_HASH,
    Usage.VERIFY_MESSAGE,
)


class ProviderChecks(Protocol):
    """What one provider can do, as refusals (any StatusError means "can't")."""

    def generatable(self, attributes: KeyAttributes) -> None:
        """Generation of this type and size, deprecation rules included."""

    def importable(self, attributes: KeyAttributes) -> None:
        """Import of this type (and size, unless 0)."""

    def usable(self, attributes: KeyAttributes) -> None:
        """Use of a held key with these attributes (see `check_use`)."""


def cannot(message: str) -> StatusError:
    """PsaErrorNotSupported: CanDoCrypto's "can't"."""
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, message)


def check_use(
    attributes: KeyAttributes, held: Callable[[KeyAttributes], None], family: Family
) -> None:
    """Could a key with these attributes be used with its policy's algorithm?"""
    if isinstance(attributes.algorithm, NoAlgorithm):
        raise cannot("the policy names no algorithm")
    if attributes.bits == 0:
        raise cannot("a key in use has a size")
    held(attributes)
    check, usages = family(attributes.algorithm)
    for usage in usages:
        if attributes.usage.allows(usage):
            try:
                check(attributes.key_type, attributes.bits, attributes.algorithm, usage)
            except StatusError:
                continue
            return
    raise cannot("no usage flag allows an operation this key and algorithm can do")


def check_parsec_style(check_type: int, attributes: KeyAttributes) -> None:
    """Parsec's answer: the attributes are well formed and coherent by PSA's tables alone.

    Parsec's service does not ask its crypto library, so it answers "can" for keys the library
    cannot make (binary curves, ECDSA on a Montgomery key). Only with `parsec_compatible`.
    """
    if not psa_defines_size(attributes.key_type, attributes.bits):
        raise cannot("PSA defines no key of this type and size")
    if attributes.key_type.is_rsa and attributes.bits not in (0, *RSA_BITS):
        raise cannot("unsupported RSA key size")
    if check_type == can_do_crypto_pb2.GENERATE and attributes.key_type.is_public_key:
        raise cannot("public keys cannot be generated")
    if check_type != can_do_crypto_pb2.USE and isinstance(attributes.algorithm, NoAlgorithm):
        return
    if isinstance(attributes.algorithm, NoAlgorithm):
        raise cannot("the policy names no algorithm")
    if not any(attributes.usage.allows(usage) for usage in _PARSEC_USE_FLAGS):
        raise cannot("no usage flag names an operation")
    if not compatible(attributes.key_type, attributes.algorithm):
        raise cannot("this key type is not used with this algorithm")


def answer(
    op: can_do_crypto_pb2.Operation, checks: ProviderChecks, *, parsec_compatible: bool
) -> can_do_crypto_pb2.Result:
    """CanDoCrypto: return normally for "can", PsaErrorNotSupported for "can't"."""
    check_type = op.check_type
    if check_type not in _CHECK_TYPES:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "unknown check type")
    try:
        attributes = parse_attributes(op.attributes)
        if check_type == can_do_crypto_pb2.DERIVE:
            raise cannot("key derivation is not supported")
        if parsec_compatible:
            check_parsec_style(check_type, attributes)
            return can_do_crypto_pb2.Result()
        if check_type == can_do_crypto_pb2.GENERATE:
            checks.generatable(attributes)
        elif check_type == can_do_crypto_pb2.IMPORT:
            checks.importable(attributes)
        if check_type == can_do_crypto_pb2.USE or not isinstance(attributes.algorithm, NoAlgorithm):
            checks.usable(attributes)
    except StatusError as error:
        raise cannot(f"cannot: {error}") from None
    return can_do_crypto_pb2.Result()
