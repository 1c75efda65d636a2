"""Numbers that name things on the wire: operations, authenticators, body encodings.

Values are Parsec's (the book's operations directory and parsec-interface-rs), so that Parsec's
own clients address Tessera unchanged.
"""

from __future__ import annotations

import enum


class Opcode(enum.IntEnum):
    """An operation, as carried in the request header's opcode field."""

    PING = 0x01
    PSA_GENERATE_KEY = 0x02
    PSA_DESTROY_KEY = 0x03
    PSA_SIGN_HASH = 0x04
    PSA_VERIFY_HASH = 0x05
    PSA_IMPORT_KEY = 0x06
    PSA_EXPORT_PUBLIC_KEY = 0x07
    LIST_PROVIDERS = 0x08
    LIST_OPCODES = 0x09
    PSA_ASYMMETRIC_ENCRYPT = 0x0A
    PSA_ASYMMETRIC_DECRYPT = 0x0B
    PSA_EXPORT_KEY = 0x0C
    PSA_GENERATE_RANDOM = 0x0D
    LIST_AUTHENTICATORS = 0x0E
    PSA_HASH_COMPUTE = 0x0F
    PSA_HASH_COMPARE = 0x10
    PSA_AEAD_ENCRYPT = 0x11
    PSA_AEAD_DECRYPT = 0x12
    PSA_RAW_KEY_AGREEMENT = 0x13
    PSA_CIPHER_ENCRYPT = 0x14
    PSA_CIPHER_DECRYPT = 0x15
    PSA_MAC_COMPUTE = 0x16
    PSA_MAC_VERIFY = 0x17
    PSA_SIGN_MESSAGE = 0x18
    PSA_VERIFY_MESSAGE = 0x19
    LIST_KEYS = 0x1A
    LIST_CLIENTS = 0x1B
    DELETE_CLIENT = 0x1C
    ATTEST_KEY = 0x1E
    PREPARE_KEY_ATTESTATION = 0x1F
    CAN_DO_CRYPTO = 0x20
    # Tessera's own protocol, above Parsec's range (docs/identity.md).
    SHARE_TRUST_BUNDLE = 0x0001_0001
    TRUST_STATUS = 0x0001_0002
    REVOKE_TOKENS = 0x0001_0003
    ADD_CLIENT = 0x0001_0011
    PROVE_CLIENT = 0x0001_0012
    REMOVE_CLIENT = 0x0001_0013
    FETCH_TOKEN = 0x0001_0021
    LAUNCH_APP = 0x0001_0031
    LIST_APPS = 0x0001_0032
    STOP_APP = 0x0001_0033
    RESTART_APP = 0x0001_0034
    APP_LOGS = 0x0001_0035

    # What the operation is, beyond its number, is declared in wire/contracts.py; these read it
    # there (imported on use: contracts imports this module).

    @property
    def is_core(self) -> bool:
        """True for operations served by the core provider whatever the header's provider."""
        from tessera.wire.contracts import OPERATIONS

        return OPERATIONS[self].core

    @property
    def needs_auth(self) -> bool:
        """False for the operations anyone may call (Parsec's unauthenticated ones, Tessera's)."""
        from tessera.wire.contracts import OPERATIONS, Auth

        return OPERATIONS[self].auth is not Auth.NONE

    @property
    def needs_admin(self) -> bool:
        """True for operations only configured administrators may call."""
        from tessera.wire.contracts import OPERATIONS, Auth

        return OPERATIONS[self].auth is Auth.ADMIN


# Tessera's own opcodes (identity protocol, orchestrator control) take numbers above Parsec's
# range (docs/identity.md).
TESSERA_OPCODES = frozenset(op for op in Opcode if op > 0xFFFF)
PARSEC_OPCODES = frozenset(Opcode) - TESSERA_OPCODES


def opcode_name(value: int) -> str:
    """The name of an opcode value, for logs (a number the service does not know stays one)."""
    try:
        return Opcode(value).name
    except ValueError:
        return f"opcode {value}"


class AuthType(enum.IntEnum):
    """How a request proves who sent it (the header's auth type field)."""

    NO_AUTH = 0
    DIRECT = 1
    JWT = 2
    UNIX_PEER_CREDENTIALS = 3
    JWT_SVID = 4


class BodyType(enum.IntEnum):
    """Encoding of a body (content type and accept type fields)."""

    PROTOBUF = 0
