"""CanDoCrypto for the TPM provider, answered by the checks the operations run.

Same contract as the software provider's: success means "can", PsaErrorNotSupported "can't".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tessera.psa.algorithms import Algorithm, EncryptionAlgorithm, NoAlgorithm, SignAlgorithm
from tessera.psa.attributes import KeyAttributes, parse_attributes
from tessera.psa.key_types import KeyType
from tessera.psa.usage import Usage
from tessera.service.providers.tpm import checks
from tessera.service.providers.tpm.caps import Capabilities
from tessera.service.providers.tpm.context import Context, check_deprecation
from tessera.wire.proto import can_do_crypto_pb2
from tessera.wire.status import Status, StatusError

Check = Callable[[Capabilities, KeyType, int, Any, Usage], None]

_SIGN_USAGES = (Usage.SIGN_HASH, Usage.SIGN_MESSAGE, Usage.VERIFY_HASH, Usage.VERIFY_MESSAGE)
_CRYPT_USAGES = (Usage.ENCRYPT, Usage.DECRYPT)


def _family(alg: Algorithm) -> tuple[Check, Sequence[Usage]]:
    if isinstance(alg, SignAlgorithm):
        return checks.check_sign, _SIGN_USAGES
    if isinstance(alg, EncryptionAlgorithm):
        return checks.check_encryption, _CRYPT_USAGES
    raise checks.unsupported("no operation of this provider uses a key with this algorithm")


def check_use(caps: Capabilities, attributes: KeyAttributes) -> None:
    """Could a key with these attributes be used with its policy's algorithm here?"""
    if isinstance(attributes.algorithm, NoAlgorithm):
        raise checks.unsupported("the policy names no algorithm")
    if attributes.bits == 0:
        raise checks.unsupported("a key in use has a size")
    checks.check_held(caps, attributes)
    check, usages = _family(attributes.algorithm)
    for usage in usages:
        if attributes.usage.allows(usage):
            try:
                check(caps, attributes.key_type, attributes.bits, attributes.algorithm, usage)
            except StatusError:
                continue
            return
    raise checks.unsupported("no usage flag allows an operation this key and algorithm can do")


def can_do_crypto(ctx: Context, op: can_do_crypto_pb2.Operation) -> can_do_crypto_pb2.Result:
    """CanDoCrypto: return normally for "can", PsaErrorNotSupported for "can't"."""
    check_type = op.check_type
    if check_type not in (
        can_do_crypto_pb2.USE,
        can_do_crypto_pb2.GENERATE,
        can_do_crypto_pb2.IMPORT,
        can_do_crypto_pb2.DERIVE,
    ):
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "unknown check type")
    try:
        attributes = parse_attributes(op.attributes)
        if check_type == can_do_crypto_pb2.DERIVE:
            raise checks.unsupported("key derivation is not supported")
        if check_type == can_do_crypto_pb2.GENERATE:
            check_deprecation(ctx, attributes, generate=True)
            checks.check_generatable(ctx.caps, attributes)
        elif check_type == can_do_crypto_pb2.IMPORT:
            checks.check_importable(attributes)
        if check_type == can_do_crypto_pb2.USE or not isinstance(attributes.algorithm, NoAlgorithm):
            check_use(ctx.caps, attributes)
    except StatusError as error:
        raise checks.unsupported(f"cannot: {error}") from None
    return can_do_crypto_pb2.Result()
