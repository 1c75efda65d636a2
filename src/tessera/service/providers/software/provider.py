"""The software provider's class: identity, settings, and the operations it serves.

Operation families live in their own modules; this class wires them to the provider interface.
"""

from __future__ import annotations

import hmac
import logging
import os

from tessera._version import VERSION_TUPLE
from tessera.psa.hashes import digest
from tessera.service.config import ConfigError, ServiceConfig
from tessera.service.keystore import KeyStore
from tessera.service.keystore.kek import KEK_FILE_NAME, load_or_create_file_kek
from tessera.service.providers.base import Provider, ProviderInfo, RequestContext
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
    psa_mac_compute_pb2,
    psa_mac_verify_pb2,
    psa_raw_key_agreement_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

SOFTWARE_INFO = ProviderInfo(
    uuid="6f2d4a3e-93b1-4c57-8a0e-2b7c5d9e1f40",
    description="Tessera software provider: PSA Crypto on the cryptography library, "
    "keys encrypted at rest",
    vendor="Tessera",
    version=VERSION_TUPLE,
)


class SoftwareProvider(Provider):
    """PSA operations computed in this process with `cryptography`."""

    info = SOFTWARE_INFO
    # RSA key generation takes up to seconds, and FFDH (pure Python) makes agreement, import
    # checks and public-key export of DH keys slow: those leave the event loop. The rest takes
    # well under a few milliseconds (RSA-4096 private operations at most).
    blocking_opcodes = frozenset(
        {
            Opcode.PSA_GENERATE_KEY,
            Opcode.PSA_IMPORT_KEY,
            Opcode.PSA_EXPORT_PUBLIC_KEY,
            Opcode.PSA_RAW_KEY_AGREEMENT,
        }
    )

    def __init__(
        self, provider_id: int, name: str, keystore: KeyStore, config: ServiceConfig
    ) -> None:
        super().__init__(provider_id, name, keystore)
        self._buffer_limit = config.buffer_size_limit
        self._allow_deprecated = config.allow_deprecated
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

    def close(self) -> None:
        self._rsa_keygen.close()

    @property
    def settings(self) -> Settings:
        """What the operation modules are given (read-only)."""
        return self._settings

    def psa_generate_random(
        self, ctx: RequestContext, op: psa_generate_random_pb2.Operation
    ) -> psa_generate_random_pb2.Result:
        if op.size > self._buffer_limit:
            # As Parsec: a buffer over the configured limit is ResponseTooLarge, checked first.
            raise StatusError(Status.RESPONSE_TOO_LARGE, "random buffer over the limit")
        return psa_generate_random_pb2.Result(random_bytes=os.urandom(op.size))

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
        return keys.generate_key(self._settings, ctx.owner, op)

    def psa_import_key(
        self, ctx: RequestContext, op: psa_import_key_pb2.Operation
    ) -> psa_import_key_pb2.Result:
        return keys.import_key_op(self._settings, ctx.owner, op)

    def psa_export_key(
        self, ctx: RequestContext, op: psa_export_key_pb2.Operation
    ) -> psa_export_key_pb2.Result:
        return keys.export_key(self._settings, ctx.owner, op)

    def psa_export_public_key(
        self, ctx: RequestContext, op: psa_export_public_key_pb2.Operation
    ) -> psa_export_public_key_pb2.Result:
        return keys.export_public_key(self._settings, ctx.owner, op)

    def psa_destroy_key(
        self, ctx: RequestContext, op: psa_destroy_key_pb2.Operation
    ) -> psa_destroy_key_pb2.Result:
        return keys.destroy_key(self._settings, ctx.owner, op)

    # Signatures

    def psa_sign_hash(
        self, ctx: RequestContext, op: psa_sign_hash_pb2.Operation
    ) -> psa_sign_hash_pb2.Result:
        return sign.sign_hash(self._settings, ctx.owner, op)

    def psa_verify_hash(
        self, ctx: RequestContext, op: psa_verify_hash_pb2.Operation
    ) -> psa_verify_hash_pb2.Result:
        return sign.verify_hash(self._settings, ctx.owner, op)

    def psa_sign_message(
        self, ctx: RequestContext, op: psa_sign_message_pb2.Operation
    ) -> psa_sign_message_pb2.Result:
        return sign.sign_message(self._settings, ctx.owner, op)

    def psa_verify_message(
        self, ctx: RequestContext, op: psa_verify_message_pb2.Operation
    ) -> psa_verify_message_pb2.Result:
        return sign.verify_message(self._settings, ctx.owner, op)

    # Encryption

    def psa_asymmetric_encrypt(
        self, ctx: RequestContext, op: psa_asymmetric_encrypt_pb2.Operation
    ) -> psa_asymmetric_encrypt_pb2.Result:
        return asym_encryption.asymmetric_encrypt(self._settings, ctx.owner, op)

    def psa_asymmetric_decrypt(
        self, ctx: RequestContext, op: psa_asymmetric_decrypt_pb2.Operation
    ) -> psa_asymmetric_decrypt_pb2.Result:
        return asym_encryption.asymmetric_decrypt(self._settings, ctx.owner, op)

    def psa_aead_encrypt(
        self, ctx: RequestContext, op: psa_aead_encrypt_pb2.Operation
    ) -> psa_aead_encrypt_pb2.Result:
        return aead.aead_encrypt(self._settings, ctx.owner, op)

    def psa_aead_decrypt(
        self, ctx: RequestContext, op: psa_aead_decrypt_pb2.Operation
    ) -> psa_aead_decrypt_pb2.Result:
        return aead.aead_decrypt(self._settings, ctx.owner, op)

    def psa_cipher_encrypt(
        self, ctx: RequestContext, op: psa_cipher_encrypt_pb2.Operation
    ) -> psa_cipher_encrypt_pb2.Result:
        return cipher.cipher_encrypt(self._settings, ctx.owner, op)

    def psa_cipher_decrypt(
        self, ctx: RequestContext, op: psa_cipher_decrypt_pb2.Operation
    ) -> psa_cipher_decrypt_pb2.Result:
        return cipher.cipher_decrypt(self._settings, ctx.owner, op)

    # MACs and key agreement

    def psa_mac_compute(
        self, ctx: RequestContext, op: psa_mac_compute_pb2.Operation
    ) -> psa_mac_compute_pb2.Result:
        return mac.mac_compute(self._settings, ctx.owner, op)

    def psa_mac_verify(
        self, ctx: RequestContext, op: psa_mac_verify_pb2.Operation
    ) -> psa_mac_verify_pb2.Result:
        return mac.mac_verify(self._settings, ctx.owner, op)

    def psa_raw_key_agreement(
        self, ctx: RequestContext, op: psa_raw_key_agreement_pb2.Operation
    ) -> psa_raw_key_agreement_pb2.Result:
        return key_agreement.raw_key_agreement(self._settings, ctx.owner, op)

    # Capability discovery

    def can_do_crypto(
        self, ctx: RequestContext, op: can_do_crypto_pb2.Operation
    ) -> can_do_crypto_pb2.Result:
        return capabilities.can_do_crypto(self._settings, op)
