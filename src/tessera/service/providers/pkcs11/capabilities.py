"""CanDoCrypto for the PKCS#11 provider: its checks, which the provider base gives to the shared
driver (`tessera.service.providers.capabilities`; Parsec's answer with `parsec_compatible`).

Same contract as the software provider's: success means "can", PsaErrorNotSupported "can't".
"""

from __future__ import annotations

from collections.abc import Sequence

from tessera.psa.algorithms import (
    AeadAlgorithm,
    Algorithm,
    CipherAlgorithm,
    EncryptionAlgorithm,
    KeyAgreementAlgorithm,
    SignAlgorithm,
)
from tessera.psa.attributes import KeyAttributes
from tessera.psa.usage import Usage
from tessera.service.providers import capabilities as driver
from tessera.service.providers.capabilities import Check
from tessera.service.providers.key_requests import check_generation
from tessera.service.providers.pkcs11 import checks
from tessera.service.providers.pkcs11.context import Context

_SIGN_USAGES = (Usage.SIGN_HASH, Usage.SIGN_MESSAGE, Usage.VERIFY_HASH, Usage.VERIFY_MESSAGE)
_CRYPT_USAGES = (Usage.ENCRYPT, Usage.DECRYPT)


def _family(alg: Algorithm) -> tuple[Check, Sequence[Usage]]:
    if isinstance(alg, SignAlgorithm):
        return checks.check_sign, _SIGN_USAGES
    if isinstance(alg, EncryptionAlgorithm):
        return checks.check_encryption, _CRYPT_USAGES
    if isinstance(alg, AeadAlgorithm):
        return checks.check_aead, _CRYPT_USAGES
    if isinstance(alg, CipherAlgorithm):
        return checks.check_cipher, _CRYPT_USAGES
    if isinstance(alg, KeyAgreementAlgorithm):
        return checks.check_agreement, (Usage.DERIVE,)
    raise checks.unsupported("no operation of this provider uses a key with this algorithm")


class Checks:
    """What this provider can generate, import and use (the driver's hooks)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def generatable(self, attributes: KeyAttributes) -> None:
        allowed = self._ctx.allow_deprecated
        check_generation(attributes, checks.check_generatable, allow_deprecated=allowed)

    def importable(self, attributes: KeyAttributes) -> None:
        checks.check_importable(attributes)

    def usable(self, attributes: KeyAttributes) -> None:
        driver.check_use(attributes, checks.check_importable, _family)
