"""The PKCS#11 provider's class: keys on a token (SoftHSM2 in tests), through `python-pkcs11`.

Operation families live in their own modules, each declaring what it serves (`@serves`); this
class gives them to the provider base. Every operation is a token round trip (`DeviceProvider`).
"""

from __future__ import annotations

import logging

from tessera.service.config import ServiceConfig
from tessera.service.keystore import KeyRecord, KeyStore
from tessera.service.providers.base import (
    HASH_HANDLERS,
    Handler,
    ProviderInfo,
    key_operations,
    random_bytes,
)
from tessera.service.providers.capabilities import ProviderChecks
from tessera.service.providers.device import DeviceProvider
from tessera.service.providers.pkcs11 import (
    agreement,
    capabilities,
    encryption,
    keys,
    signatures,
)
from tessera.service.providers.pkcs11._token import Token
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.service.providers.pkcs11.context import Context
from tessera.wire.opcodes import Opcode

log = logging.getLogger(__name__)

PKCS11_INFO = ProviderInfo(
    uuid="30e39502-eba6-4d60-a4af-c518b7f5e38f",  # Parsec's PKCS#11 provider UUID
    description="Tessera PKCS#11 provider: PSA Crypto with keys held on a PKCS#11 token",
)


class Pkcs11Provider(DeviceProvider[Pkcs11Settings]):
    """PSA operations with keys that never leave a PKCS#11 token."""

    info = PKCS11_INFO
    kind = "pkcs11"
    answers_as_parsec = True

    def connect(
        self, provider_id: int, keystore: KeyStore, config: ServiceConfig, settings: Pkcs11Settings
    ) -> tuple[dict[Opcode, Handler], ProviderChecks]:
        self._token = Token(settings)
        self._ctx = Context(
            token=self._token,
            keystore=keystore,
            provider_id=provider_id,
            allow_deprecated=config.allow_deprecated,
            buffer_limit=config.buffer_size_limit,
            software_public_operations=settings.software_public_operations,
            allow_export=settings.allow_export,
            parsec_compatible=config.parsec_compatible,
        )
        handlers = key_operations(self._ctx, keys, signatures, encryption, agreement)
        handlers |= HASH_HANDLERS  # hashes need no key: computed here, as in software
        random = random_bytes(config.buffer_size_limit, self._token.random)
        handlers[Opcode.PSA_GENERATE_RANDOM] = random
        log.info("PKCS#11 provider %d uses token %r", provider_id, self._token.label)
        return handlers, capabilities.Checks(self._ctx)

    def close(self) -> None:
        self._token.close()

    def release_key(self, record: KeyRecord) -> None:
        """Destroy the token objects of a key whose row DeleteClient removes."""
        self._token.destroy(record.material)
