"""The protobuf contract of every opcode: which message is the operation, which the result."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Final

from google.protobuf.message import DecodeError, Message

from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status, StatusError

# Each opcode's generated module in tessera.wire.proto, imported on first use: a client (the
# `tessera` command) loads the messages of the operations it sends, not all forty.
_MODULES: Final[dict[Opcode, str]] = {
    Opcode.PING: "ping_pb2",
    Opcode.PSA_GENERATE_KEY: "psa_generate_key_pb2",
    Opcode.PSA_DESTROY_KEY: "psa_destroy_key_pb2",
    Opcode.PSA_SIGN_HASH: "psa_sign_hash_pb2",
    Opcode.PSA_VERIFY_HASH: "psa_verify_hash_pb2",
    Opcode.PSA_IMPORT_KEY: "psa_import_key_pb2",
    Opcode.PSA_EXPORT_PUBLIC_KEY: "psa_export_public_key_pb2",
    Opcode.LIST_PROVIDERS: "list_providers_pb2",
    Opcode.LIST_OPCODES: "list_opcodes_pb2",
    Opcode.PSA_ASYMMETRIC_ENCRYPT: "psa_asymmetric_encrypt_pb2",
    Opcode.PSA_ASYMMETRIC_DECRYPT: "psa_asymmetric_decrypt_pb2",
    Opcode.PSA_EXPORT_KEY: "psa_export_key_pb2",
    Opcode.PSA_GENERATE_RANDOM: "psa_generate_random_pb2",
    Opcode.LIST_AUTHENTICATORS: "list_authenticators_pb2",
    Opcode.PSA_HASH_COMPUTE: "psa_hash_compute_pb2",
    Opcode.PSA_HASH_COMPARE: "psa_hash_compare_pb2",
    Opcode.PSA_AEAD_ENCRYPT: "psa_aead_encrypt_pb2",
    Opcode.PSA_AEAD_DECRYPT: "psa_aead_decrypt_pb2",
    Opcode.PSA_RAW_KEY_AGREEMENT: "psa_raw_key_agreement_pb2",
    Opcode.PSA_CIPHER_ENCRYPT: "psa_cipher_encrypt_pb2",
    Opcode.PSA_CIPHER_DECRYPT: "psa_cipher_decrypt_pb2",
    Opcode.PSA_MAC_COMPUTE: "psa_mac_compute_pb2",
    Opcode.PSA_MAC_VERIFY: "psa_mac_verify_pb2",
    Opcode.PSA_SIGN_MESSAGE: "psa_sign_message_pb2",
    Opcode.PSA_VERIFY_MESSAGE: "psa_verify_message_pb2",
    Opcode.LIST_KEYS: "list_keys_pb2",
    Opcode.LIST_CLIENTS: "list_clients_pb2",
    Opcode.DELETE_CLIENT: "delete_client_pb2",
    Opcode.ATTEST_KEY: "attest_key_pb2",
    Opcode.PREPARE_KEY_ATTESTATION: "prepare_key_attestation_pb2",
    Opcode.CAN_DO_CRYPTO: "can_do_crypto_pb2",
    Opcode.SHARE_TRUST_BUNDLE: "share_trust_bundle_pb2",
    Opcode.TRUST_STATUS: "trust_status_pb2",
    Opcode.REVOKE_TOKENS: "revoke_tokens_pb2",
    Opcode.ADD_CLIENT: "add_client_pb2",
    Opcode.PROVE_CLIENT: "prove_client_pb2",
    Opcode.REMOVE_CLIENT: "remove_client_pb2",
    Opcode.FETCH_TOKEN: "fetch_token_pb2",
    Opcode.LAUNCH_APP: "launch_app_pb2",
    Opcode.LIST_APPS: "list_apps_pb2",
    Opcode.STOP_APP: "stop_app_pb2",
    Opcode.RESTART_APP: "restart_app_pb2",
    Opcode.APP_LOGS: "app_logs_pb2",
}


class _Contracts(Mapping[Opcode, ModuleType]):
    """Opcode -> its generated module, imported when first asked for (import is thread-safe;
    a race imports once and stores the same module twice)."""

    def __init__(self) -> None:
        self._loaded: dict[Opcode, ModuleType] = {}

    def __getitem__(self, opcode: Opcode) -> ModuleType:
        module = self._loaded.get(opcode)
        if module is None:
            module = importlib.import_module(f"tessera.wire.proto.{_MODULES[opcode]}")
            self._loaded[opcode] = module
        return module

    def __iter__(self) -> Iterator[Opcode]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


CONTRACTS: Final[Mapping[Opcode, ModuleType]] = _Contracts()


def operation_type(opcode: Opcode) -> type[Message]:
    """The request message class of `opcode`."""
    cls: type[Message] = CONTRACTS[opcode].Operation
    return cls


def result_type(opcode: Opcode) -> type[Message]:
    """The response message class of `opcode`."""
    cls: type[Message] = CONTRACTS[opcode].Result
    return cls


def decode_operation(opcode: Opcode, body: bytes) -> Message:
    """Parse a request body; undecodable bytes are DeserializingBodyFailed."""
    message = operation_type(opcode)()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError):
        raise StatusError(Status.DESERIALIZING_BODY_FAILED, "undecodable request body") from None
    return message


def decode_result(opcode: Opcode, body: bytes) -> Message:
    """Parse a response body; undecodable bytes are DeserializingBodyFailed."""
    message = result_type(opcode)()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError):
        raise StatusError(Status.DESERIALIZING_BODY_FAILED, "undecodable response body") from None
    return message
