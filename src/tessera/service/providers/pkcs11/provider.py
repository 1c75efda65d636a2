"""The PKCS#11 provider's class: keys on a token (SoftHSM2 in tests), through `python-pkcs11`.

Operation families live in their own modules; this class wires them to the provider interface.
Every operation is a token round trip, so all of them leave the event loop (`blocking_opcodes`
keeps the base class's "everything").
"""

from __future__ import annotations

import hmac
import logging

from tessera._version import VERSION_TUPLE
from tessera.config import ConfigError
from tessera.psa.hashes import digest
from tessera.service.config import ServiceConfig
from tessera.service.keystore import KeyRecord, KeyStore
from tessera.service.providers.base import Provider, ProviderInfo, RequestContext
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
from tessera.wire.proto import (
    can_do_crypto_pb2,
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_cipher_decrypt_pb2,
    psa_cipher_encrypt_pb2,
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_generate_random_pb2,
    psa_hash_compare_pb2,
    psa_hash_compute_pb2,
    psa_import_key_pb2,
    psa_raw_key_agreement_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

PKCS11_INFO = ProviderInfo(
    uuid="30e39502-eba6-4d60-a4af-c518b7f5e38f",  # Parsec's PKCS#11 provider UUID
    description="Tessera PKCS#11 provider: PSA Crypto with keys held on a PKCS#11 token",
    vendor="Tessera",
    version=VERSION_TUPLE,
)


class Pkcs11Provider(Provider):
    """PSA operations with keys that never leave a PKCS#11 token."""

    info = PKCS11_INFO

    def __init__(
        self,
        provider_id: int,
        name: str,
        keystore: KeyStore,
        config: ServiceConfig,
        settings: Pkcs11Settings | None,
    ) -> None:
        super().__init__(provider_id, name, keystore)
        if settings is None:
            raise ConfigError("pkcs11 provider: settings are missing")
        self._token = Token(settings)
        self._buffer_limit = config.buffer_size_limit
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
        log.info("PKCS#11 provider %d uses token %r", provider_id, self._token.label)

    def close(self) -> None:
        self._token.close()

    def release_key(self, record: KeyRecord) -> None:
        """Destroy the token objects of a key whose row DeleteClient removes."""
        self._token.destroy(record.material)

    def psa_generate_random(
        self, ctx: RequestContext, op: psa_generate_random_pb2.Operation
    ) -> psa_generate_random_pb2.Result:
        if op.size > self._buffer_limit:
            raise StatusError(Status.RESPONSE_TOO_LARGE, "random buffer over the limit")
        return psa_generate_random_pb2.Result(random_bytes=self._token.random(op.size))

    # Hashes need no key: computed here, as the software provider does.

    def psa_hash_compute(
        self, ctx: RequestContext, op: psa_hash_compute_pb2.Operation
    ) -> psa_hash_compute_pb2.Result:
        return psa_hash_compute_pb2.Result(hash=digest(op.alg, op.input))

    def psa_hash_compare(
        self, ctx: RequestContext, op: psa_hash_compare_pb2.Operation
    ) -> psa_hash_compare_pb2.Result:
        if not hmac.compare_digest(digest(op.alg, op.input), op.hash):
            raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "hash does not match")
        return psa_hash_compare_pb2.Result()

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
        return signatures.sign_hash(self._ctx, ctx.owner, op)

    def psa_verify_hash(
        self, ctx: RequestContext, op: psa_verify_hash_pb2.Operation
    ) -> psa_verify_hash_pb2.Result:
        return signatures.verify_hash(self._ctx, ctx.owner, op)

    def psa_sign_message(
        self, ctx: RequestContext, op: psa_sign_message_pb2.Operation
    ) -> psa_sign_message_pb2.Result:
        return signatures.sign_message(self._ctx, ctx.owner, op)

    def psa_verify_message(
        self, ctx: RequestContext, op: psa_verify_message_pb2.Operation
    ) -> psa_verify_message_pb2.Result:
        return signatures.verify_message(self._ctx, ctx.owner, op)

    # Encryption

    def psa_asymmetric_encrypt(
        self, ctx: RequestContext, op: psa_asymmetric_encrypt_pb2.Operation
    ) -> psa_asymmetric_encrypt_pb2.Result:
        return encryption.asymmetric_encrypt(self._ctx, ctx.owner, op)

    def psa_asymmetric_decrypt(
        self, ctx: RequestContext, op: psa_asymmetric_decrypt_pb2.Operation
    ) -> psa_asymmetric_decrypt_pb2.Result:
        return encryption.asymmetric_decrypt(self._ctx, ctx.owner, op)

    def psa_aead_encrypt(
        self, ctx: RequestContext, op: psa_aead_encrypt_pb2.Operation
    ) -> psa_aead_encrypt_pb2.Result:
        return encryption.aead_encrypt(self._ctx, ctx.owner, op)

    def psa_aead_decrypt(
        self, ctx: RequestContext, op: psa_aead_decrypt_pb2.Operation
    ) -> psa_aead_decrypt_pb2.Result:
        return encryption.aead_decrypt(self._ctx, ctx.owner, op)

    def psa_cipher_encrypt(
        self, ctx: RequestContext, op: psa_cipher_encrypt_pb2.Operation
    ) -> psa_cipher_encrypt_pb2.Result:
        return encryption.cipher_encrypt(self._ctx, ctx.owner, op)

    def psa_cipher_decrypt(
        self, ctx: RequestContext, op: psa_cipher_decrypt_pb2.Operation
    ) -> psa_cipher_decrypt_pb2.Result:
        return encryption.cipher_decrypt(self._ctx, ctx.owner, op)

    # Key agreement

    def psa_raw_key_agreement(
        self, ctx: RequestContext, op: psa_raw_key_agreement_pb2.Operation
    ) -> psa_raw_key_agreement_pb2.Result:
        return agreement.raw_key_agreement(self._ctx, ctx.owner, op)

    # Capability discovery

    def can_do_crypto(
        self, ctx: RequestContext, op: can_do_crypto_pb2.Operation
    ) -> can_do_crypto_pb2.Result:
        return capabilities.can_do_crypto(self._ctx, op)
