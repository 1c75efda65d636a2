"""CanDoCrypto for the software provider: its checks, which the provider base gives to the
shared driver (`tessera.service.providers.capabilities`, which also holds Parsec's answer).

Success means "can", PsaErrorNotSupported "can't"; by default the answer is what the operation
would do, from the same checks the operations run (`check_sign`, `check_aead`, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

from tessera.psa.algorithms import (
    AeadAlgorithm,
    Algorithm,
    CipherAlgorithm,
    EncryptionAlgorithm,
    KeyAgreementAlgorithm,
    MacAlgorithm,
    SignAlgorithm,
)
from tessera.psa.attributes import KeyAttributes
from tessera.psa.usage import Usage
from tessera.service.providers import capabilities as driver
from tessera.service.providers.capabilities import Check
from tessera.service.providers.key_requests import check_generation
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
    raise driver.cannot("no operation uses a key with this algorithm")


def check_use(attributes: KeyAttributes) -> None:
    """Could a key with these attributes be used with its policy's algorithm?"""
    # The size must be one this provider holds, so the import check serves.
    driver.check_use(attributes, keys.check_importable, _family)


class Checks:
    """What this provider can generate, import and use (the driver's hooks)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def generatable(self, attributes: KeyAttributes) -> None:
        allowed = self._settings.allow_deprecated
        check_generation(attributes, keys.check_generatable, allow_deprecated=allowed)

    def importable(self, attributes: KeyAttributes) -> None:
        keys.check_importable(attributes)

    def usable(self, attributes: KeyAttributes) -> None:
        check_use(attributes)
