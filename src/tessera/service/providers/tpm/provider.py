"""The TPM provider's class: keys wrapped by a TPM 2.0 (swtpm in tests), through `tpm2-pytss`.

Operation families live in their own modules; this class wires them to the provider interface.
Every operation may be a TPM round trip, so all of them leave the event loop (`blocking_opcodes`
keeps the base class's "everything"); one lock serializes the single ESAPI context.
"""

from __future__ import annotations

import logging

from tessera._extras import missing_extra
from tessera._version import VERSION_TUPLE
from tessera.daemon.errors import ConfigError
from tessera.service.config import ServiceConfig
from tessera.service.keystore import KeyRecord, KeyStore
from tessera.service.providers.base import Provider, ProviderInfo, RequestContext
from tessera.service.providers.tpm import attestation, capabilities, crypto, keys
from tessera.service.providers.tpm.config import TpmSettings
from tessera.service.providers.tpm.context import Context, decode_material
from tessera.service.providers.tpm.parsec_keys import AuthKeeper
from tessera.wire.proto import (
    attest_key_pb2,
    can_do_crypto_pb2,
    prepare_key_attestation_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_generate_random_pb2,
    psa_import_key_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

TPM_INFO = ProviderInfo(
    uuid="1e4954a4-ff21-46d3-ab0c-661eeb667e1d",  # Parsec's TPM provider UUID
    description="Tessera TPM provider: PSA Crypto with keys wrapped by a TPM 2.0",
    vendor="Tessera",
    version=VERSION_TUPLE,
)


class TpmProvider(Provider):
    """PSA operations with keys whose private parts only the TPM can use."""

    info = TPM_INFO

    def __init__(
        self,
        provider_id: int,
        name: str,
        keystore: KeyStore,
        config: ServiceConfig,
        settings: TpmSettings | None,
    ) -> None:
        super().__init__(provider_id, name, keystore)
        if settings is None:
            raise ConfigError("tpm provider: settings are missing")
        try:
            from tessera.service.providers.tpm._tpm import Tpm
        except ImportError as error:
            # Installed but unusable (its libtss2 missing, say) is said as such.
            unusable = f"tpm provider: tpm2-pytss is not usable ({error})"
            raise ConfigError(missing_extra("tpm", error) or unusable) from None
        self._tpm = Tpm(settings)
        self._buffer_limit = config.buffer_size_limit
        self._ctx = Context(
            tpm=self._tpm,
            caps=self._tpm.capabilities,
            keystore=keystore,
            provider_id=provider_id,
            allow_deprecated=config.allow_deprecated,
            auth=AuthKeeper(config.state_dir),
        )
        caps = self._tpm.capabilities
        log.info(
            "TPM provider %d uses %s (RSA %s, ECC %s)",
            provider_id,
            settings.tcti,
            "/".join(str(b) for b in sorted(caps.rsa_bits)) or "none",
            "/".join(str(b) for b in sorted(caps.ecc_bits)) or "none",
        )

    def close(self) -> None:
        self._tpm.close()

    def release_key(self, record: KeyRecord) -> None:
        """Flush a key whose row DeleteClient removes (the row held its only copy)."""
        wrapped, _ = decode_material(record.material)
        if wrapped is not None:
            self._tpm.forget(wrapped)

    def psa_generate_random(
        self, ctx: RequestContext, op: psa_generate_random_pb2.Operation
    ) -> psa_generate_random_pb2.Result:
        if op.size > self._buffer_limit:
            raise StatusError(Status.RESPONSE_TOO_LARGE, "random buffer over the limit")
        return psa_generate_random_pb2.Result(random_bytes=self._tpm.random(op.size))

    # Key management

    def psa_generate_key(
        self, ctx: RequestContext, op: psa_generate_key_pb2.Operation
    ) -> psa_generate_key_pb2.Result:
        return keys.generate_key(self._ctx, ctx.owner, op)

    def psa_import_key(
        self, ctx: RequestContext, op: psa_import_key_pb2.Operation
    ) -> psa_import_key_pb2.Result:
        return keys.import_key_op(self._ctx, ctx.owner, op)

    def psa_export_key(
        self, ctx: RequestContext, op: psa_export_key_pb2.Operation
    ) -> psa_export_key_pb2.Result:
        return keys.export_key(self._ctx, ctx.owner, op)

    def psa_export_public_key(
        self, ctx: RequestContext, op: psa_export_public_key_pb2.Operation
    ) -> psa_export_public_key_pb2.Result:
        return keys.export_public_key(self._ctx, ctx.owner, op)

    def psa_destroy_key(
        self, ctx: RequestContext, op: psa_destroy_key_pb2.Operation
    ) -> psa_destroy_key_pb2.Result:
        return keys.destroy_key(self._ctx, ctx.owner, op)

    # Signatures

    def psa_sign_hash(
        self, ctx: RequestContext, op: psa_sign_hash_pb2.Operation
    ) -> psa_sign_hash_pb2.Result:
        return crypto.sign_hash(self._ctx, ctx.owner, op)

    def psa_verify_hash(
        self, ctx: RequestContext, op: psa_verify_hash_pb2.Operation
    ) -> psa_verify_hash_pb2.Result:
        return crypto.verify_hash(self._ctx, ctx.owner, op)

    def psa_sign_message(
        self, ctx: RequestContext, op: psa_sign_message_pb2.Operation
    ) -> psa_sign_message_pb2.Result:
        return crypto.sign_message(self._ctx, ctx.owner, op)

    def psa_verify_message(
        self, ctx: RequestContext, op: psa_verify_message_pb2.Operation
    ) -> psa_verify_message_pb2.Result:
        return crypto.verify_message(self._ctx, ctx.owner, op)

    # Encryption

    def psa_asymmetric_encrypt(
        self, ctx: RequestContext, op: psa_asymmetric_encrypt_pb2.Operation
    ) -> psa_asymmetric_encrypt_pb2.Result:
        return crypto.asymmetric_encrypt(self._ctx, ctx.owner, op)

    def psa_asymmetric_decrypt(
        self, ctx: RequestContext, op: psa_asymmetric_decrypt_pb2.Operation
    ) -> psa_asymmetric_decrypt_pb2.Result:
        return crypto.asymmetric_decrypt(self._ctx, ctx.owner, op)

    # Key attestation

    def prepare_key_attestation(
        self, ctx: RequestContext, op: prepare_key_attestation_pb2.Operation
    ) -> prepare_key_attestation_pb2.Result:
        return attestation.prepare_key_attestation(self._ctx, ctx.owner, op)

    def attest_key(
        self, ctx: RequestContext, op: attest_key_pb2.Operation
    ) -> attest_key_pb2.Result:
        return attestation.attest_key(self._ctx, ctx.owner, op)

    # Capability discovery

    def can_do_crypto(
        self, ctx: RequestContext, op: can_do_crypto_pb2.Operation
    ) -> can_do_crypto_pb2.Result:
        return capabilities.can_do_crypto(self._ctx, op)
