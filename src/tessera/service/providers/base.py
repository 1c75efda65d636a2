"""The interface every crypto provider implements.

The base class answers PsaErrorNotSupported for every operation; a provider overrides the methods
it implements, and what it supports (ListOpcodes, CanDoCrypto) is derived from those overrides,
never from a second hand-kept list.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from tessera.service.authenticators.base import Application
from tessera.service.keystore import KeyRecord, KeyStore, Owner
from tessera.trust.peer import PeerCredentials
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    attest_key_pb2,
    can_do_crypto_pb2,
    prepare_key_attestation_pb2,
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


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """How a provider describes itself in ListProviders."""

    uuid: str
    description: str
    vendor: str
    version: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking: the authenticated application (None for unauthenticated operations) and
    the connecting process as the kernel reports it."""

    app: Application | None
    peer: PeerCredentials | None = None
    # The request set the extensions flag: answers may name what Parsec's clients do not know.
    extensions: bool = False

    @property
    def owner(self) -> Owner:
        """The key owner for this request; key operations always run authenticated."""
        if self.app is None:
            raise StatusError(Status.NOT_AUTHENTICATED, "key operations need authentication")
        return Owner(self.app.name, int(self.app.auth_type))


# Which method serves which opcode.
OPERATION_METHODS: dict[Opcode, str] = {
    Opcode.PSA_GENERATE_KEY: "psa_generate_key",
    Opcode.PSA_DESTROY_KEY: "psa_destroy_key",
    Opcode.PSA_SIGN_HASH: "psa_sign_hash",
    Opcode.PSA_VERIFY_HASH: "psa_verify_hash",
    Opcode.PSA_IMPORT_KEY: "psa_import_key",
    Opcode.PSA_EXPORT_PUBLIC_KEY: "psa_export_public_key",
    Opcode.PSA_ASYMMETRIC_ENCRYPT: "psa_asymmetric_encrypt",
    Opcode.PSA_ASYMMETRIC_DECRYPT: "psa_asymmetric_decrypt",
    Opcode.PSA_EXPORT_KEY: "psa_export_key",
    Opcode.PSA_GENERATE_RANDOM: "psa_generate_random",
    Opcode.PSA_HASH_COMPUTE: "psa_hash_compute",
    Opcode.PSA_HASH_COMPARE: "psa_hash_compare",
    Opcode.PSA_AEAD_ENCRYPT: "psa_aead_encrypt",
    Opcode.PSA_AEAD_DECRYPT: "psa_aead_decrypt",
    Opcode.PSA_RAW_KEY_AGREEMENT: "psa_raw_key_agreement",
    Opcode.PSA_CIPHER_ENCRYPT: "psa_cipher_encrypt",
    Opcode.PSA_CIPHER_DECRYPT: "psa_cipher_decrypt",
    Opcode.PSA_MAC_COMPUTE: "psa_mac_compute",
    Opcode.PSA_MAC_VERIFY: "psa_mac_verify",
    Opcode.PSA_SIGN_MESSAGE: "psa_sign_message",
    Opcode.PSA_VERIFY_MESSAGE: "psa_verify_message",
    Opcode.ATTEST_KEY: "attest_key",
    Opcode.PREPARE_KEY_ATTESTATION: "prepare_key_attestation",
    Opcode.CAN_DO_CRYPTO: "can_do_crypto",
}


def _not_supported(opcode: Opcode) -> StatusError:
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, f"{opcode.name} is not supported")


class Provider:
    """Base of the software, PKCS#11 and TPM providers."""

    info: ProviderInfo
    #: Operations that may take long (hardware round trips, key generation): they run on the
    #: worker pool so the event loop keeps serving. Everything else runs inline, which is
    #: several times faster than a thread hop for sub-millisecond work.
    blocking_opcodes: frozenset[Opcode] = frozenset(OPERATION_METHODS)

    def __init__(self, provider_id: int, name: str, keystore: KeyStore) -> None:
        self.provider_id = provider_id
        self.name = name
        self.keystore = keystore
        self.opcodes = frozenset(
            opcode
            for opcode, method in OPERATION_METHODS.items()
            if getattr(type(self), method) is not getattr(Provider, method)
        )

    def handle(self, opcode: Opcode, ctx: RequestContext, operation: Message) -> Message:
        """Run one decoded operation; StatusError for failures PSA defines."""
        method = OPERATION_METHODS.get(opcode)
        if method is None or opcode not in self.opcodes:
            raise _not_supported(opcode)
        result: Message = getattr(self, method)(ctx, operation)
        return result

    def release_key(self, record: KeyRecord) -> None:
        """Free provider-side resources of a key whose row is being deleted (DeleteClient).

        The software provider keeps everything in the row, so the default does nothing.
        """

    def close(self) -> None:
        """Release sessions and handles at shutdown."""

    def psa_generate_key(
        self, ctx: RequestContext, op: psa_generate_key_pb2.Operation
    ) -> psa_generate_key_pb2.Result:
        raise _not_supported(Opcode.PSA_GENERATE_KEY)

    def psa_destroy_key(
        self, ctx: RequestContext, op: psa_destroy_key_pb2.Operation
    ) -> psa_destroy_key_pb2.Result:
        raise _not_supported(Opcode.PSA_DESTROY_KEY)

    def psa_sign_hash(
        self, ctx: RequestContext, op: psa_sign_hash_pb2.Operation
    ) -> psa_sign_hash_pb2.Result:
        raise _not_supported(Opcode.PSA_SIGN_HASH)

    def psa_verify_hash(
        self, ctx: RequestContext, op: psa_verify_hash_pb2.Operation
    ) -> psa_verify_hash_pb2.Result:
        raise _not_supported(Opcode.PSA_VERIFY_HASH)

    def psa_import_key(
        self, ctx: RequestContext, op: psa_import_key_pb2.Operation
    ) -> psa_import_key_pb2.Result:
        raise _not_supported(Opcode.PSA_IMPORT_KEY)

    def psa_export_public_key(
        self, ctx: RequestContext, op: psa_export_public_key_pb2.Operation
    ) -> psa_export_public_key_pb2.Result:
        raise _not_supported(Opcode.PSA_EXPORT_PUBLIC_KEY)

    def psa_asymmetric_encrypt(
        self, ctx: RequestContext, op: psa_asymmetric_encrypt_pb2.Operation
    ) -> psa_asymmetric_encrypt_pb2.Result:
        raise _not_supported(Opcode.PSA_ASYMMETRIC_ENCRYPT)

    def psa_asymmetric_decrypt(
        self, ctx: RequestContext, op: psa_asymmetric_decrypt_pb2.Operation
    ) -> psa_asymmetric_decrypt_pb2.Result:
        raise _not_supported(Opcode.PSA_ASYMMETRIC_DECRYPT)

    def psa_export_key(
        self, ctx: RequestContext, op: psa_export_key_pb2.Operation
    ) -> psa_export_key_pb2.Result:
        raise _not_supported(Opcode.PSA_EXPORT_KEY)

    def psa_generate_random(
        self, ctx: RequestContext, op: psa_generate_random_pb2.Operation
    ) -> psa_generate_random_pb2.Result:
        raise _not_supported(Opcode.PSA_GENERATE_RANDOM)

    def psa_hash_compute(
        self, ctx: RequestContext, op: psa_hash_compute_pb2.Operation
    ) -> psa_hash_compute_pb2.Result:
        raise _not_supported(Opcode.PSA_HASH_COMPUTE)

    def psa_hash_compare(
        self, ctx: RequestContext, op: psa_hash_compare_pb2.Operation
    ) -> psa_hash_compare_pb2.Result:
        raise _not_supported(Opcode.PSA_HASH_COMPARE)

    def psa_aead_encrypt(
        self, ctx: RequestContext, op: psa_aead_encrypt_pb2.Operation
    ) -> psa_aead_encrypt_pb2.Result:
        raise _not_supported(Opcode.PSA_AEAD_ENCRYPT)

    def psa_aead_decrypt(
        self, ctx: RequestContext, op: psa_aead_decrypt_pb2.Operation
    ) -> psa_aead_decrypt_pb2.Result:
        raise _not_supported(Opcode.PSA_AEAD_DECRYPT)

    def psa_raw_key_agreement(
        self, ctx: RequestContext, op: psa_raw_key_agreement_pb2.Operation
    ) -> psa_raw_key_agreement_pb2.Result:
        raise _not_supported(Opcode.PSA_RAW_KEY_AGREEMENT)

    def psa_cipher_encrypt(
        self, ctx: RequestContext, op: psa_cipher_encrypt_pb2.Operation
    ) -> psa_cipher_encrypt_pb2.Result:
        raise _not_supported(Opcode.PSA_CIPHER_ENCRYPT)

    def psa_cipher_decrypt(
        self, ctx: RequestContext, op: psa_cipher_decrypt_pb2.Operation
    ) -> psa_cipher_decrypt_pb2.Result:
        raise _not_supported(Opcode.PSA_CIPHER_DECRYPT)

    def psa_mac_compute(
        self, ctx: RequestContext, op: psa_mac_compute_pb2.Operation
    ) -> psa_mac_compute_pb2.Result:
        raise _not_supported(Opcode.PSA_MAC_COMPUTE)

    def psa_mac_verify(
        self, ctx: RequestContext, op: psa_mac_verify_pb2.Operation
    ) -> psa_mac_verify_pb2.Result:
        raise _not_supported(Opcode.PSA_MAC_VERIFY)

    def psa_sign_message(
        self, ctx: RequestContext, op: psa_sign_message_pb2.Operation
    ) -> psa_sign_message_pb2.Result:
        raise _not_supported(Opcode.PSA_SIGN_MESSAGE)

    def psa_verify_message(
        self, ctx: RequestContext, op: psa_verify_message_pb2.Operation
    ) -> psa_verify_message_pb2.Result:
        raise _not_supported(Opcode.PSA_VERIFY_MESSAGE)

    def attest_key(
        self, ctx: RequestContext, op: attest_key_pb2.Operation
    ) -> attest_key_pb2.Result:
        raise _not_supported(Opcode.ATTEST_KEY)

    def prepare_key_attestation(
        self, ctx: RequestContext, op: prepare_key_attestation_pb2.Operation
    ) -> prepare_key_attestation_pb2.Result:
        raise _not_supported(Opcode.PREPARE_KEY_ATTESTATION)

    def can_do_crypto(
        self, ctx: RequestContext, op: can_do_crypto_pb2.Operation
    ) -> can_do_crypto_pb2.Result:
        raise _not_supported(Opcode.CAN_DO_CRYPTO)
