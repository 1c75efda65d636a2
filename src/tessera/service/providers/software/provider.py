"""The software provider's class: identity, settings, and the operations it serves.

Operation families live in their own modules, each declaring what it serves (`@serves`); this
class gives them to the provider base with its settings.
"""

from __future__ import annotations

import logging
import os

from tessera.service.config import ConfigError, ServiceConfig
from tessera.service.keystore import KeyStore
from tessera.service.keystore.kek import KEK_FILE_NAME, load_or_create_file_kek
from tessera.service.providers.base import (
    HASH_HANDLERS,
    Provider,
    ProviderInfo,
    key_operations,
    random_bytes,
)
from tessera.service.providers.software import (
    aead,
    asym_encryption,
    capabilities,
    cipher,
    key_agreement,
    keys,
    mac,
    sign,
)
from tessera.service.providers.software.kek_rotation import finish_interrupted_rotation
from tessera.service.providers.software.policy import Settings
from tessera.service.providers.software.rsa_keygen import RsaKeygenPool
from tessera.service.providers.software.vault import Vault
from tessera.wire.opcodes import Opcode

log = logging.getLogger(__name__)

SOFTWARE_INFO = ProviderInfo(
    uuid="6f2d4a3e-93b1-4c57-8a0e-2b7c5d9e1f40",
    description="Tessera software provider: PSA Crypto on the cryptography library, "
    "keys encrypted at rest",
)


class SoftwareProvider(Provider):
    """PSA operations computed in this process with `cryptography`."""

    info = SOFTWARE_INFO

    def __init__(
        self, provider_id: int, name: str, keystore: KeyStore, config: ServiceConfig
    ) -> None:
        kek_path = config.state_dir / KEK_FILE_NAME
        if not kek_path.exists() and keystore.provider_has_keys(provider_id):
            # A new KEK could never open keys wrapped by the lost one; creating one would also
            # make restoring the original file (from a backup) lose every key made meanwhile.
            raise ConfigError(
                f"the key-encryption key {kek_path} is missing but the key store holds keys of "
                f"provider {provider_id}: restore the file (refusing to start)"
            )
        software = frozenset(
            entry.provider_id for entry in config.providers if entry.provider_type == "software"
        )
        finish_interrupted_rotation(config.state_dir, keystore, software | {provider_id})
        kek, _ = load_or_create_file_kek(config.state_dir)
        self._rsa_keygen = RsaKeygenPool(os.cpu_count() or 1)
        self._settings = Settings(
            vault=Vault(keystore, provider_id, kek),
            allow_deprecated=config.allow_deprecated,
            buffer_limit=config.buffer_size_limit,
            parsec_compatible=config.parsec_compatible,
            rsa_keygen=self._rsa_keygen,
        )
        families = (keys, sign, asym_encryption, aead, cipher, mac, key_agreement)
        handlers = key_operations(self._settings, *families)
        handlers |= HASH_HANDLERS
        handlers[Opcode.PSA_GENERATE_RANDOM] = random_bytes(config.buffer_size_limit, os.urandom)
        super().__init__(
            provider_id,
            name,
            keystore,
            handlers,
            checks=capabilities.Checks(self._settings),
            parsec_compatible=config.parsec_compatible,
        )

    def close(self) -> None:
        self._rsa_keygen.close()

    @property
    def settings(self) -> Settings:
        """What the operation modules are given (read-only)."""
        return self._settings
