"""Every operation, declared once: its protobuf contract and how the daemons treat it.

One `OperationSpec` per opcode says which messages carry it, which authentication it needs, whether
the core provider serves it, whether a client may send it again after a lost answer, whether it
may block (so it runs off the event loop), and which daemons serve it. The request boundaries,
the providers' handler tables, ListOpcodes and the client's retries all read these entries;
nothing else keeps a list of operations (docs/development.md, "Adding an operation").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from tessera.wire._values import Frozen, _set
from tessera.wire.opcodes import TESSERA_OPCODES, Opcode
from tessera.wire.status import Status, StatusError

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Any, Final, Generic, TypeVar

    from google.protobuf.message import Message
else:
    from tessera.wire._runtime_typing import Any, Generic, TypeVar

if TYPE_CHECKING:  # the messages load on first use: a client loads those it sends
    from tessera.wire.proto import (
        add_client_pb2,
        app_logs_pb2,
        attest_key_pb2,
        can_do_crypto_pb2,
        delete_client_pb2,
        fetch_token_pb2,
        launch_app_pb2,
        list_apps_pb2,
        list_authenticators_pb2,
        list_clients_pb2,
        list_keys_pb2,
        list_opcodes_pb2,
        list_providers_pb2,
        ping_pb2,
        prepare_key_attestation_pb2,
        prove_client_pb2,
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
        remove_client_pb2,
        restart_app_pb2,
        revoke_tokens_pb2,
        share_trust_bundle_pb2,
        stop_app_pb2,
        trust_status_pb2,
    )


if TYPE_CHECKING:
    Req = TypeVar("Req", bound=Message)
    Res = TypeVar("Res", bound=Message)
else:  # (protobuf's Message is not imported at run time: the `tessera` command's start-up)
    Req, Res = TypeVar("Req"), TypeVar("Res")


class Auth(enum.Enum):
    """Who may call an operation."""

    #: Anyone: Parsec's unauthenticated operations, and Tessera's own protocol, whose callers
    #: prove themselves their own way (peer credentials, or a JWS from the trusted side).
    NONE = "none"
    #: An application, authenticated by any active authenticator.
    APPLICATION = "application"
    #: An authenticated application that the configuration names an administrator.
    ADMIN = "admin"


class Daemon(enum.Enum):
    """The daemons that serve requests, each on its own socket."""

    SERVICE = "security service"
    IDENTITY = "identity provider"
    ORCHESTRATOR = "orchestrator control"


class OperationSpec(Frozen, Generic[Req, Res]):
    """One operation, as every part of Tessera sees it."""

    __slots__ = (
        "_messages",
        "auth",
        "core",
        "extension",
        "idempotent",
        "may_block",
        "module",
        "opcode",
        "served_by",
    )
    _fields = _compared = _shown = (
        "opcode",
        "module",
        "auth",
        "served_by",
        "core",
        "idempotent",
        "may_block",
        "extension",
    )
    opcode: Opcode
    #: The generated module (in tessera.wire.proto) holding `Operation` and `Result`.
    module: str
    auth: Auth
    served_by: frozenset[Daemon]
    #: Served by the service's core provider (id 0), whatever the header's provider.
    core: bool
    #: Sent twice (its first answer lost), it does no harm: the client may retry it.
    idempotent: bool
    #: May take long even computed in-process (key generation, pure-Python FFDH, waiting for
    #: applications): it runs on the worker pool, not on the event loop.
    may_block: bool
    #: Parsec's Rust interface (parsec-interface 0.27, used by parsec-tool and Parsec's e2e suite)
    #: cannot decode it: ListOpcodes names it only to clients that set the extensions flag.
    extension: bool
    #: (request, response) once the module is imported: the entry is typed by its declaration.
    _messages: list[tuple[type[Req], type[Res]]]

    def __init__(  # noqa: PLR0917 (positional in field order, as the dataclass it was)
        self,
        opcode: Opcode,
        module: str,
        auth: Auth,
        served_by: frozenset[Daemon],
        core: bool = False,
        idempotent: bool = True,
        may_block: bool = False,
        extension: bool = False,
    ) -> None:
        _set(self, "opcode", opcode)
        _set(self, "module", module)
        _set(self, "auth", auth)
        _set(self, "served_by", served_by)
        _set(self, "core", core)
        _set(self, "idempotent", idempotent)
        _set(self, "may_block", may_block)
        _set(self, "extension", extension)
        _set(self, "_messages", [])

    @property
    def request(self) -> type[Req]:
        """The request message class."""
        return (self._messages or self._load())[0][0]

    @property
    def response(self) -> type[Res]:
        """The response message class."""
        return (self._messages or self._load())[0][1]

    def _load(self) -> list[tuple[type[Req], type[Res]]]:
        import importlib  # (with `warnings`: only where protobuf's classes are wanted)

        generated = importlib.import_module(f"tessera.wire.proto.{self.module}")
        # A race loads twice and keeps the same classes: imports are thread-safe.
        self._messages[:] = [(generated.Operation, generated.Result)]
        return self._messages

    @property
    def name(self) -> str:
        """The operation's name as Parsec writes it (PsaSignHash)."""
        return self.opcode.name.title().replace("_", "")

    @property
    def tessera(self) -> bool:
        """True for Tessera's own protocol (opcodes above Parsec's range)."""
        return self.opcode in TESSERA_OPCODES


_DECLARED: dict[Opcode, OperationSpec[Any, Any]] = {}

_SERVICE = frozenset({Daemon.SERVICE})
_IDENTITY = frozenset({Daemon.IDENTITY})
_ORCHESTRATOR = frozenset({Daemon.ORCHESTRATOR})
_TRUSTING = frozenset({Daemon.SERVICE, Daemon.IDENTITY})  # the trusting side of a relationship


def _declare(
    opcode: Opcode,
    module: str,
    auth: Auth,
    served_by: frozenset[Daemon] = _SERVICE,
    *,
    core: bool = False,
    idempotent: bool = True,
    may_block: bool = False,
    extension: bool = False,
) -> OperationSpec[Any, Any]:
    """One entry; its annotation names its message types (checked by mypy where it is used)."""
    if opcode in _DECLARED:
        raise ValueError(f"{opcode.name} is declared twice")
    spec: OperationSpec[Any, Any] = OperationSpec(
        opcode, module, auth, served_by, core, idempotent, may_block, extension
    )
    _DECLARED[opcode] = spec
    return spec


_NONE, _APP, _ADMIN = Auth.NONE, Auth.APPLICATION, Auth.ADMIN

# Parsec's operations (the book's operations directory), in opcode order.
PING: OperationSpec[ping_pb2.Operation, ping_pb2.Result] = _declare(
    Opcode.PING, "ping_pb2", _NONE, frozenset(Daemon), core=True
)
PSA_GENERATE_KEY: OperationSpec[psa_generate_key_pb2.Operation, psa_generate_key_pb2.Result] = (
    _declare(
        Opcode.PSA_GENERATE_KEY,
        "psa_generate_key_pb2",
        _APP,
        idempotent=False,
        may_block=True,  # RSA key generation takes up to seconds
    )
)
PSA_DESTROY_KEY: OperationSpec[psa_destroy_key_pb2.Operation, psa_destroy_key_pb2.Result] = (
    _declare(
        Opcode.PSA_DESTROY_KEY,
        "psa_destroy_key_pb2",
        _APP,
        idempotent=False,
    )
)
PSA_SIGN_HASH: OperationSpec[psa_sign_hash_pb2.Operation, psa_sign_hash_pb2.Result] = _declare(
    Opcode.PSA_SIGN_HASH, "psa_sign_hash_pb2", _APP
)
PSA_VERIFY_HASH: OperationSpec[psa_verify_hash_pb2.Operation, psa_verify_hash_pb2.Result] = (
    _declare(Opcode.PSA_VERIFY_HASH, "psa_verify_hash_pb2", _APP)
)
PSA_IMPORT_KEY: OperationSpec[psa_import_key_pb2.Operation, psa_import_key_pb2.Result] = _declare(
    Opcode.PSA_IMPORT_KEY,
    "psa_import_key_pb2",
    _APP,
    idempotent=False,
    may_block=True,  # an imported FFDH key is checked in pure Python
)
PSA_EXPORT_PUBLIC_KEY: OperationSpec[
    psa_export_public_key_pb2.Operation, psa_export_public_key_pb2.Result
] = _declare(
    Opcode.PSA_EXPORT_PUBLIC_KEY,
    "psa_export_public_key_pb2",
    _APP,
    may_block=True,  # an FFDH public key is computed in pure Python
)
LIST_PROVIDERS: OperationSpec[list_providers_pb2.Operation, list_providers_pb2.Result] = _declare(
    Opcode.LIST_PROVIDERS,
    "list_providers_pb2",
    _NONE,
    core=True,
)
LIST_OPCODES: OperationSpec[list_opcodes_pb2.Operation, list_opcodes_pb2.Result] = _declare(
    Opcode.LIST_OPCODES, "list_opcodes_pb2", _NONE, core=True
)
PSA_ASYMMETRIC_ENCRYPT: OperationSpec[
    psa_asymmetric_encrypt_pb2.Operation, psa_asymmetric_encrypt_pb2.Result
] = _declare(
    Opcode.PSA_ASYMMETRIC_ENCRYPT,
    "psa_asymmetric_encrypt_pb2",
    _APP,
)
PSA_ASYMMETRIC_DECRYPT: OperationSpec[
    psa_asymmetric_decrypt_pb2.Operation, psa_asymmetric_decrypt_pb2.Result
] = _declare(
    Opcode.PSA_ASYMMETRIC_DECRYPT,
    "psa_asymmetric_decrypt_pb2",
    _APP,
)
PSA_EXPORT_KEY: OperationSpec[psa_export_key_pb2.Operation, psa_export_key_pb2.Result] = _declare(
    Opcode.PSA_EXPORT_KEY, "psa_export_key_pb2", _APP
)
PSA_GENERATE_RANDOM: OperationSpec[
    psa_generate_random_pb2.Operation, psa_generate_random_pb2.Result
] = _declare(
    Opcode.PSA_GENERATE_RANDOM,
    "psa_generate_random_pb2",
    _NONE,
)
LIST_AUTHENTICATORS: OperationSpec[
    list_authenticators_pb2.Operation, list_authenticators_pb2.Result
] = _declare(
    Opcode.LIST_AUTHENTICATORS,
    "list_authenticators_pb2",
    _NONE,
    core=True,
)
PSA_HASH_COMPUTE: OperationSpec[psa_hash_compute_pb2.Operation, psa_hash_compute_pb2.Result] = (
    _declare(Opcode.PSA_HASH_COMPUTE, "psa_hash_compute_pb2", _NONE)
)
PSA_HASH_COMPARE: OperationSpec[psa_hash_compare_pb2.Operation, psa_hash_compare_pb2.Result] = (
    _declare(Opcode.PSA_HASH_COMPARE, "psa_hash_compare_pb2", _NONE)
)
PSA_AEAD_ENCRYPT: OperationSpec[psa_aead_encrypt_pb2.Operation, psa_aead_encrypt_pb2.Result] = (
    _declare(Opcode.PSA_AEAD_ENCRYPT, "psa_aead_encrypt_pb2", _APP)
)
PSA_AEAD_DECRYPT: OperationSpec[psa_aead_decrypt_pb2.Operation, psa_aead_decrypt_pb2.Result] = (
    _declare(Opcode.PSA_AEAD_DECRYPT, "psa_aead_decrypt_pb2", _APP)
)
PSA_RAW_KEY_AGREEMENT: OperationSpec[
    psa_raw_key_agreement_pb2.Operation, psa_raw_key_agreement_pb2.Result
] = _declare(
    Opcode.PSA_RAW_KEY_AGREEMENT,
    "psa_raw_key_agreement_pb2",
    _APP,
    may_block=True,  # FFDH is computed in pure Python
)
PSA_CIPHER_ENCRYPT: OperationSpec[
    psa_cipher_encrypt_pb2.Operation, psa_cipher_encrypt_pb2.Result
] = _declare(
    Opcode.PSA_CIPHER_ENCRYPT,
    "psa_cipher_encrypt_pb2",
    _APP,
)
PSA_CIPHER_DECRYPT: OperationSpec[
    psa_cipher_decrypt_pb2.Operation, psa_cipher_decrypt_pb2.Result
] = _declare(
    Opcode.PSA_CIPHER_DECRYPT,
    "psa_cipher_decrypt_pb2",
    _APP,
)
PSA_MAC_COMPUTE: OperationSpec[psa_mac_compute_pb2.Operation, psa_mac_compute_pb2.Result] = (
    _declare(
        Opcode.PSA_MAC_COMPUTE,
        "psa_mac_compute_pb2",
        _APP,
        extension=True,
    )
)
PSA_MAC_VERIFY: OperationSpec[psa_mac_verify_pb2.Operation, psa_mac_verify_pb2.Result] = _declare(
    Opcode.PSA_MAC_VERIFY,
    "psa_mac_verify_pb2",
    _APP,
    extension=True,
)
PSA_SIGN_MESSAGE: OperationSpec[psa_sign_message_pb2.Operation, psa_sign_message_pb2.Result] = (
    _declare(Opcode.PSA_SIGN_MESSAGE, "psa_sign_message_pb2", _APP)
)
PSA_VERIFY_MESSAGE: OperationSpec[
    psa_verify_message_pb2.Operation, psa_verify_message_pb2.Result
] = _declare(
    Opcode.PSA_VERIFY_MESSAGE,
    "psa_verify_message_pb2",
    _APP,
)
LIST_KEYS: OperationSpec[list_keys_pb2.Operation, list_keys_pb2.Result] = _declare(
    Opcode.LIST_KEYS, "list_keys_pb2", _APP, core=True
)
LIST_CLIENTS: OperationSpec[list_clients_pb2.Operation, list_clients_pb2.Result] = _declare(
    Opcode.LIST_CLIENTS, "list_clients_pb2", _ADMIN, core=True
)
DELETE_CLIENT: OperationSpec[delete_client_pb2.Operation, delete_client_pb2.Result] = _declare(
    Opcode.DELETE_CLIENT,
    "delete_client_pb2",
    _ADMIN,
    core=True,
    idempotent=False,
    may_block=True,  # every key of an application, one transaction and checkpoint each
)
ATTEST_KEY: OperationSpec[attest_key_pb2.Operation, attest_key_pb2.Result] = _declare(
    Opcode.ATTEST_KEY, "attest_key_pb2", _APP
)
PREPARE_KEY_ATTESTATION: OperationSpec[
    prepare_key_attestation_pb2.Operation, prepare_key_attestation_pb2.Result
] = _declare(
    Opcode.PREPARE_KEY_ATTESTATION,
    "prepare_key_attestation_pb2",
    _APP,
)
CAN_DO_CRYPTO: OperationSpec[can_do_crypto_pb2.Operation, can_do_crypto_pb2.Result] = _declare(
    Opcode.CAN_DO_CRYPTO, "can_do_crypto_pb2", _APP
)

# Tessera's own protocol (docs/identity.md, docs/orchestrator.md). Retrying what changes trust or
# applications is left to the caller: a second root from one process is refused, for one.
SHARE_TRUST_BUNDLE: OperationSpec[
    share_trust_bundle_pb2.Operation, share_trust_bundle_pb2.Result
] = _declare(
    Opcode.SHARE_TRUST_BUNDLE,
    "share_trust_bundle_pb2",
    _NONE,
    _TRUSTING,
    idempotent=False,
)
TRUST_STATUS: OperationSpec[trust_status_pb2.Operation, trust_status_pb2.Result] = _declare(
    Opcode.TRUST_STATUS, "trust_status_pb2", _NONE, _TRUSTING
)
REVOKE_TOKENS: OperationSpec[revoke_tokens_pb2.Operation, revoke_tokens_pb2.Result] = _declare(
    Opcode.REVOKE_TOKENS,
    "revoke_tokens_pb2",
    _NONE,
    idempotent=False,
)
ADD_CLIENT: OperationSpec[add_client_pb2.Operation, add_client_pb2.Result] = _declare(
    Opcode.ADD_CLIENT,
    "add_client_pb2",
    _NONE,
    _IDENTITY,
    idempotent=False,
)
PROVE_CLIENT: OperationSpec[prove_client_pb2.Operation, prove_client_pb2.Result] = _declare(
    Opcode.PROVE_CLIENT,
    "prove_client_pb2",
    _NONE,
    _IDENTITY,
    idempotent=False,
    may_block=True,  # hashes the proven executable
)
REMOVE_CLIENT: OperationSpec[remove_client_pb2.Operation, remove_client_pb2.Result] = _declare(
    Opcode.REMOVE_CLIENT,
    "remove_client_pb2",
    _NONE,
    _IDENTITY,
    idempotent=False,
)
FETCH_TOKEN: OperationSpec[fetch_token_pb2.Operation, fetch_token_pb2.Result] = _declare(
    Opcode.FETCH_TOKEN, "fetch_token_pb2", _NONE, _IDENTITY
)
# The orchestrator's control socket: what changes applications waits for the event loop to carry
# it out, so it runs on a worker thread (may_block).
LAUNCH_APP: OperationSpec[launch_app_pb2.Operation, launch_app_pb2.Result] = _declare(
    Opcode.LAUNCH_APP,
    "launch_app_pb2",
    _NONE,
    _ORCHESTRATOR,
    idempotent=False,
    may_block=True,
)
LIST_APPS: OperationSpec[list_apps_pb2.Operation, list_apps_pb2.Result] = _declare(
    Opcode.LIST_APPS, "list_apps_pb2", _NONE, _ORCHESTRATOR
)
STOP_APP: OperationSpec[stop_app_pb2.Operation, stop_app_pb2.Result] = _declare(
    Opcode.STOP_APP,
    "stop_app_pb2",
    _NONE,
    _ORCHESTRATOR,
    idempotent=False,
    may_block=True,
)
RESTART_APP: OperationSpec[restart_app_pb2.Operation, restart_app_pb2.Result] = _declare(
    Opcode.RESTART_APP,
    "restart_app_pb2",
    _NONE,
    _ORCHESTRATOR,
    idempotent=False,
    may_block=True,
)
APP_LOGS: OperationSpec[app_logs_pb2.Operation, app_logs_pb2.Result] = _declare(
    Opcode.APP_LOGS,
    "app_logs_pb2",
    _NONE,
    _ORCHESTRATOR,
    may_block=True,  # reads a file
)

#: Every operation by opcode.
OPERATIONS: Final[Mapping[Opcode, OperationSpec[Any, Any]]] = MappingProxyType(_DECLARED)


def served_by(daemon: Daemon) -> frozenset[Opcode]:
    """The opcodes `daemon` serves."""
    return frozenset(op for op, spec in OPERATIONS.items() if daemon in spec.served_by)


def operation_type(opcode: Opcode) -> type[Message]:
    """The request message class of `opcode`."""
    return OPERATIONS[opcode].request


def result_type(opcode: Opcode) -> type[Message]:
    """The response message class of `opcode`."""
    return OPERATIONS[opcode].response


def _decode_error() -> type[Exception]:
    """protobuf's DecodeError, imported when an except clause names it (only on an error)."""
    from google.protobuf.message import DecodeError

    return DecodeError


def decode_operation(opcode: Opcode, body: bytes) -> Message:
    """Parse a request body; undecodable bytes are DeserializingBodyFailed."""
    message = operation_type(opcode)()
    try:
        message.ParseFromString(body)
    except (_decode_error(), ValueError, RecursionError):
        raise StatusError(Status.DESERIALIZING_BODY_FAILED, "undecodable request body") from None
    return message


def decode_result(opcode: Opcode, body: bytes) -> Message:
    """Parse a response body; undecodable bytes are DeserializingBodyFailed."""
    message = result_type(opcode)()
    try:
        message.ParseFromString(body)
    except (_decode_error(), ValueError, RecursionError):
        raise StatusError(Status.DESERIALIZING_BODY_FAILED, "undecodable response body") from None
    return message
