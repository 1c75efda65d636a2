"""CanDoCrypto for the software provider.

Success means "can", PsaErrorNotSupported "can't". By default the answer is what the operation
would do, from the same checks the operations run:
- Use: the policy names an algorithm, some usage flag fits that algorithm, and the operation's
  own key/algorithm check (`check_sign`, `check_aead`, ...) passes for a key of that type and size.
- Generate / Import: the type and size can be generated / imported (deprecated keys cannot be
  generated unless allowed), and if the policy names an algorithm, the Use check passes too.
- Derive: no key derivation here, so never.
With `parsec_compatible`, the answer is Parsec's instead (`_check_parsec_style`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tessera.psa.algorithms import (
    AeadAlgorithm,
    Algorithm,
    CipherAlgorithm,
    EncryptionAlgorithm,
    KeyAgreementAlgorithm,
    MacAlgorithm,
    NoAlgorithm,
    SignAlgorithm,
)
from tessera.psa.attributes import KeyAttributes, parse_attributes
from tessera.psa.compatibility import compatible, psa_defines_size
from tessera.psa.key_types import RSA_BITS, KeyType
from tessera.psa.usage import Usage
from tessera.service.providers.software import (
    aead,
    asym_encryption,
    cipher,
    key_agreement,
    keys,
    mac,
    sign,
)
from tessera.service.providers.software.policy import Settings
from tessera.wire.proto import can_do_crypto_pb2
from tessera.wire.status import Status, StatusError

Check = Callable[[KeyType, int, Any, Usage], None]


def _cannot(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, message)


def _family(alg: Algorithm) -> tuple[Check, Sequence[Usage]]:
    if isinstance(alg, SignAlgorithm):
        return sign.check_sign, sign.SIGN_USAGES
    if isinstance(alg, EncryptionAlgorithm):
        return asym_encryption.check_encryption, asym_encryption.ENCRYPTION_USAGES
    if isinstance(alg, AeadAlgorithm):
        return aead.check_aead, aead.AEAD_USAGES
    if isinstance(alg, CipherAlgorithm):
        return cipher.check_cipher, cipher.CIPHER_USAGES
    if isinstance(alg, MacAlgorithm):
        return mac.check_mac, mac.MAC_USAGES
    if isinstance(alg, KeyAgreementAlgorithm):
        return key_agreement.check_agreement, key_agreement.AGREEMENT_USAGES
    raise _cannot("no operation uses a key with this algorithm")


# The usage flags Parsec counts as "some use of the key".
_PARSEC_USE_FLAGS = (
    Usage.ENCRYPT,
    Usage.DECRYPT,
    Usage.SIGN_HASH,
    Usage.SIGN_MESSAGE,
    Usage.VERIFY_HASH,
    Usage.VERIFY_MESSAGE,
)


def check_use(attributes: KeyAttributes) -> None:
    """Could a key with these attributes be used with its policy's algorithm?"""
    if isinstance(attributes.algorithm, NoAlgorithm):
        raise _cannot("the policy names no algorithm")
    if attributes.bits == 0:
        raise _cannot("a key in use has a size")
    keys.check_importable(attributes)  # the size must be one this provider holds
    check, usages = _family(attributes.algorithm)
    for usage in usages:
        if attributes.usage.allows(usage):
            try:
                check(attributes.key_type, attributes.bits, attributes.algorithm, usage)
            except StatusError:
                continue
            return
    raise _cannot("no usage flag allows an operation this key and algorithm can do")


def _check_parsec_style(check_type: int, attributes: KeyAttributes) -> None:
    """Parsec's answer: the attributes are well formed and coherent by PSA's tables alone.

    Parsec's service does not ask its crypto library, so it answers "can" for keys the library
    cannot make (binary curves, ECDSA on a Montgomery key). Only with `parsec_compatible`.
    """
    if not psa_defines_size(attributes.key_type, attributes.bits):
        raise _cannot("PSA defines no key of this type and size")
    if attributes.key_type.is_rsa and attributes.bits not in (0, *RSA_BITS):
        raise _cannot("unsupported RSA key size")
    if check_type == can_do_crypto_pb2.GENERATE and attributes.key_type.is_public_key:
        raise _cannot("public keys cannot be generated")
    if check_type != can_do_crypto_pb2.USE and isinstance(attributes.algorithm, NoAlgorithm):
        return
    if isinstance(attributes.algorithm, NoAlgorithm):
        raise _cannot("the policy names no algorithm")
    if not any(attributes.usage.allows(usage) for usage in _PARSEC_USE_FLAGS):
        raise _cannot("no usage flag names an operation")
    if not compatible(attributes.key_type, attributes.algorithm):
        raise _cannot("this key type is not used with this algorithm")


def can_do_crypto(settings: Settings, op: can_do_crypto_pb2.Operation) -> can_do_crypto_pb2.Result:
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
            raise _cannot("key derivation is not supported")
        if settings.parsec_compatible:
            _check_parsec_style(check_type, attributes)
            return can_do_crypto_pb2.Result()
        if check_type == can_do_crypto_pb2.GENERATE:
            keys.check_deprecation(attributes, settings, generate=True)
            keys.check_generatable(attributes)
        elif check_type == can_do_crypto_pb2.IMPORT:
            keys.check_importable(attributes)
        if check_type == can_do_crypto_pb2.USE or not isinstance(attributes.algorithm, NoAlgorithm):
            check_use(attributes)
    except StatusError as error:
        raise _cannot(f"cannot: {error}") from None
    return can_do_crypto_pb2.Result()
