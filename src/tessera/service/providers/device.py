"""Base of the providers whose keys are held by a device (a PKCS#11 token, a TPM).

Every operation is a round trip to the device, so all of them leave the event loop
(`device_bound`). A device provider is built from its `[[provider]]` table's settings, which
start-up refuses to do without; `connect` reaches the device and names the handlers over it.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from tessera.config import ConfigError
from tessera.service.config import ServiceConfig
from tessera.service.keystore import KeyStore
from tessera.service.providers.base import Handler, Provider
from tessera.service.providers.capabilities import ProviderChecks
from tessera.wire.opcodes import Opcode

T = TypeVar("T")


class DeviceProvider(Provider, Generic[T]):
    """A provider over a device reached with settings `T`."""

    device_bound = True
    #: The `provider_type` of its `[[provider]]` table, as messages name it.
    kind: ClassVar[str]
    #: Whether CanDoCrypto answers as Parsec's service does when `parsec_compatible` is set.
    answers_as_parsec: ClassVar[bool]

    def __init__(
        self,
        provider_id: int,
        name: str,
        keystore: KeyStore,
        config: ServiceConfig,
        settings: T | None,
    ) -> None:
        if settings is None:
            raise ConfigError(f"{self.kind} provider: settings are missing")
        handlers, checks = self.connect(provider_id, keystore, config, settings)
        compatible = self.answers_as_parsec and config.parsec_compatible
        super().__init__(
            provider_id, name, keystore, handlers, checks=checks, parsec_compatible=compatible
        )

    def connect(
        self, provider_id: int, keystore: KeyStore, config: ServiceConfig, settings: T
    ) -> tuple[dict[Opcode, Handler], ProviderChecks]:
        """Reach the device; the handlers over it and its CanDoCrypto checks."""
        raise NotImplementedError
