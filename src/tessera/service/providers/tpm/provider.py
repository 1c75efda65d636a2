"""The TPM provider's class: keys wrapped by a TPM 2.0 (swtpm in tests), through `tpm2-pytss`.

Operation families live in their own modules, each declaring what it serves (`@serves`); this
class gives them to the provider base. Every operation may be a TPM round trip
(`DeviceProvider`); one lock serializes the single ESAPI context.
"""

from __future__ import annotations

import logging

from tessera._extras import missing_extra
from tessera.config import ConfigError
from tessera.service.config import ServiceConfig
from tessera.service.keystore import KeyRecord, KeyStore
from tessera.service.providers.base import Handler, ProviderInfo, key_operations, random_bytes
from tessera.service.providers.capabilities import ProviderChecks
from tessera.service.providers.device import DeviceProvider
from tessera.service.providers.tpm import attestation, capabilities, crypto, keys
from tessera.service.providers.tpm.config import TpmSettings
from tessera.service.providers.tpm.context import Context, decode_material
from tessera.service.providers.tpm.parsec_keys import AuthKeeper
from tessera.wire.opcodes import Opcode

log = logging.getLogger(__name__)

TPM_INFO = ProviderInfo(
    uuid="1e4954a4-ff21-46d3-ab0c-661eeb667e1d",  # Parsec's TPM provider UUID
    description="Tessera TPM provider: PSA Crypto with keys wrapped by a TPM 2.0",
)


class TpmProvider(DeviceProvider[TpmSettings]):
    """PSA operations with keys whose private parts only the TPM can use."""

    info = TPM_INFO
    kind = "tpm"
    # CanDoCrypto answers what the TPM would do, never Parsec's way (docs/compatibility.md).
    answers_as_parsec = False

    def connect(
        self, provider_id: int, keystore: KeyStore, config: ServiceConfig, settings: TpmSettings
    ) -> tuple[dict[Opcode, Handler], ProviderChecks]:
        try:
            from tessera.service.providers.tpm._tpm import Tpm
        except ImportError as error:
            # Installed but unusable (its libtss2 missing, say) is said as such.
            unusable = f"tpm provider: tpm2-pytss is not usable ({error})"
            raise ConfigError(missing_extra("tpm", error) or unusable) from None
        self._tpm = Tpm(settings)
        self._ctx = Context(
            tpm=self._tpm,
            caps=self._tpm.capabilities,
            keystore=keystore,
            provider_id=provider_id,
            allow_deprecated=config.allow_deprecated,
            auth=AuthKeeper(config.state_dir),
        )
        handlers = key_operations(self._ctx, keys, crypto, attestation)
        handlers[Opcode.PSA_GENERATE_RANDOM] = random_bytes(
            config.buffer_size_limit, self._tpm.random
        )
        caps = self._tpm.capabilities
        log.info(
            "TPM provider %d uses %s (RSA %s, ECC %s)",
            provider_id,
            settings.tcti,
            "/".join(str(b) for b in sorted(caps.rsa_bits)) or "none",
            "/".join(str(b) for b in sorted(caps.ecc_bits)) or "none",
        )
        return handlers, capabilities.Checks(self._ctx)

    def close(self) -> None:
        self._tpm.close()

    def release_key(self, record: KeyRecord) -> None:
        """Flush a key whose row DeleteClient removes (the row held its only copy)."""
        wrapped, _ = decode_material(record.material)
        if wrapped is not None:
            self._tpm.forget(wrapped)
