"""CanDoCrypto for the TPM provider: its checks, which the provider base gives to the shared
driver (`tessera.service.providers.capabilities`).

The checks are the ones the operations run, narrowed to the TPM that was found, so the answer is
what the operation would do. The TPM provider always answers so (docs/compatibility.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from tessera.psa.algorithms import Algorithm, EncryptionAlgorithm, SignAlgorithm
from tessera.psa.attributes import KeyAttributes
from tessera.psa.usage import Usage
from tessera.service.providers import capabilities as driver
from tessera.service.providers.capabilities import Check
from tessera.service.providers.key_requests import check_generation
from tessera.service.providers.tpm import checks
from tessera.service.providers.tpm.caps import Capabilities
from tessera.service.providers.tpm.context import Context

_SIGN_USAGES = (Usage.SIGN_HASH, Usage.SIGN_MESSAGE, Usage.VERIFY_HASH, Usage.VERIFY_MESSAGE)
_CRYPT_USAGES = (Usage.ENCRYPT, Usage.DECRYPT)


def _family(caps: Capabilities, alg: Algorithm) -> tuple[Check, Sequence[Usage]]:
    if isinstance(alg, SignAlgorithm):
        return partial(checks.check_sign, caps), _SIGN_USAGES
    if isinstance(alg, EncryptionAlgorithm):
        return partial(checks.check_encryption, caps), _CRYPT_USAGES
    raise checks.unsupported("no operation of this provider uses a key with this algorithm")


class Checks:
    """What this provider can generate, import and use (the driver's hooks)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def generatable(self, attributes: KeyAttributes) -> None:
        generatable = partial(checks.check_generatable, self._ctx.caps)
        check_generation(attributes, generatable, allow_deprecated=self._ctx.allow_deprecated)

    def importable(self, attributes: KeyAttributes) -> None:
        checks.check_importable(attributes)

    def usable(self, attributes: KeyAttributes) -> None:
        caps = self._ctx.caps
        driver.check_use(attributes, partial(checks.check_held, caps), partial(_family, caps))
