"""Response status codes and the exception that carries one.

Values are Parsec's (parsec-interface-rs `ResponseStatus`), including `DeprecatedPrimitive` (22)
and `PsaErrorDataInvalid` (1153), which the book's table leaves out.

Inside the service and the client, failures are raised as `StatusError` carrying a `Status`; one
place on each side turns them into a response (service) or a typed exception (client).
"""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """A response's status field."""

    SUCCESS = 0
    WRONG_PROVIDER_ID = 1
    CONTENT_TYPE_NOT_SUPPORTED = 2
    ACCEPT_TYPE_NOT_SUPPORTED = 3
    WIRE_PROTOCOL_VERSION_NOT_SUPPORTED = 4
    PROVIDER_NOT_REGISTERED = 5
    PROVIDER_DOES_NOT_EXIST = 6
    DESERIALIZING_BODY_FAILED = 7
    SERIALIZING_BODY_FAILED = 8
    OPCODE_DOES_NOT_EXIST = 9
    RESPONSE_TOO_LARGE = 10
    AUTHENTICATION_ERROR = 11
    AUTHENTICATOR_DOES_NOT_EXIST = 12
    AUTHENTICATOR_NOT_REGISTERED = 13
    KEY_INFO_MANAGER_ERROR = 14
    CONNECTION_ERROR = 15
    INVALID_ENCODING = 16
    INVALID_HEADER = 17
    WRONG_PROVIDER_UUID = 18
    NOT_AUTHENTICATED = 19
    BODY_SIZE_EXCEEDS_LIMIT = 20
    ADMIN_OPERATION = 21
    DEPRECATED_PRIMITIVE = 22
    PSA_ERROR_GENERIC_ERROR = 1132
    PSA_ERROR_NOT_PERMITTED = 1133
    PSA_ERROR_NOT_SUPPORTED = 1134
    PSA_ERROR_INVALID_ARGUMENT = 1135
    PSA_ERROR_INVALID_HANDLE = 1136
    PSA_ERROR_BAD_STATE = 1137
    PSA_ERROR_BUFFER_TOO_SMALL = 1138
    PSA_ERROR_ALREADY_EXISTS = 1139
    PSA_ERROR_DOES_NOT_EXIST = 1140
    PSA_ERROR_INSUFFICIENT_MEMORY = 1141
    PSA_ERROR_INSUFFICIENT_STORAGE = 1142
    PSA_ERROR_INSUFFICIENT_DATA = 1143
    PSA_ERROR_COMMUNICATION_FAILURE = 1145
    PSA_ERROR_STORAGE_FAILURE = 1146
    PSA_ERROR_HARDWARE_FAILURE = 1147
    PSA_ERROR_INSUFFICIENT_ENTROPY = 1148
    PSA_ERROR_INVALID_SIGNATURE = 1149
    PSA_ERROR_INVALID_PADDING = 1150
    PSA_ERROR_CORRUPTION_DETECTED = 1151
    PSA_ERROR_DATA_CORRUPT = 1152
    PSA_ERROR_DATA_INVALID = 1153
    # Tessera's trust and identity statuses, outside Parsec's ranges (docs/identity.md). Only
    # Tessera components send them to each other; Parsec clients never see them.
    TRUST_NO_ROOT = 2001
    TRUST_ROOT_ALREADY_SHARED = 2002
    TRUST_PEER_NOT_ALLOWED = 2003
    TRUST_ROOT_HOLDER_ALIVE = 2004
    TRUST_BAD_CERTIFICATE = 2005
    TRUST_UNKNOWN_SIGNER = 2006
    TRUST_BAD_SIGNATURE = 2007
    TRUST_STALE_PAYLOAD = 2008
    IDENTITY_CLIENT_NOT_PROVEN = 2009
    IDENTITY_CLIENT_UNKNOWN = 2010
    IDENTITY_ATTESTATION_FAILED = 2011

    @property
    def description(self) -> str:
        """A short human sentence for logs and client error messages."""
        return _DESCRIPTIONS.get(self, self.name.replace("_", " ").lower())


_DESCRIPTIONS: dict[Status, str] = {
    Status.SUCCESS: "success",
    Status.WRONG_PROVIDER_ID: "the request was sent to the wrong provider",
    Status.CONTENT_TYPE_NOT_SUPPORTED: "the body's content type is not supported",
    Status.ACCEPT_TYPE_NOT_SUPPORTED: "the requested accept type is not supported",
    Status.WIRE_PROTOCOL_VERSION_NOT_SUPPORTED: "the wire protocol version is not supported",
    Status.PROVIDER_NOT_REGISTERED: "no provider with this id is configured",
    Status.PROVIDER_DOES_NOT_EXIST: "no provider with this id exists",
    Status.DESERIALIZING_BODY_FAILED: "the request body could not be decoded",
    Status.SERIALIZING_BODY_FAILED: "the response body could not be encoded",
    Status.OPCODE_DOES_NOT_EXIST: "the opcode is unknown or not served by this provider",
    Status.RESPONSE_TOO_LARGE: "the response would exceed the size limit",
    Status.AUTHENTICATION_ERROR: "the authentication payload was rejected",
    Status.AUTHENTICATOR_DOES_NOT_EXIST: "the authentication type is unknown",
    Status.AUTHENTICATOR_NOT_REGISTERED: "the authentication type is not enabled",
    Status.KEY_INFO_MANAGER_ERROR: "the key store failed",
    Status.CONNECTION_ERROR: "the connection failed",
    Status.INVALID_ENCODING: "a value is not validly encoded",
    Status.INVALID_HEADER: "the request header is invalid",
    Status.WRONG_PROVIDER_UUID: "the provider UUID does not match",
    Status.NOT_AUTHENTICATED: "this operation needs authentication",
    Status.BODY_SIZE_EXCEEDS_LIMIT: "the request body or auth field exceeds the size limit",
    Status.ADMIN_OPERATION: "this operation is reserved to administrators",
    Status.DEPRECATED_PRIMITIVE: "the algorithm or key size is deprecated",
    Status.PSA_ERROR_GENERIC_ERROR: "an unspecified error occurred",
    Status.PSA_ERROR_NOT_PERMITTED: "the key's policy does not permit this operation",
    Status.PSA_ERROR_NOT_SUPPORTED: "the operation or parameters are not supported",
    Status.PSA_ERROR_INVALID_ARGUMENT: "an argument is invalid",
    Status.PSA_ERROR_INVALID_HANDLE: "the key handle is invalid",
    Status.PSA_ERROR_BAD_STATE: "the operation is not valid in the current state",
    Status.PSA_ERROR_BUFFER_TOO_SMALL: "an output buffer is too small",
    Status.PSA_ERROR_ALREADY_EXISTS: "a key with this name already exists",
    Status.PSA_ERROR_DOES_NOT_EXIST: "no such key or client",
    Status.PSA_ERROR_INSUFFICIENT_MEMORY: "not enough memory",
    Status.PSA_ERROR_INSUFFICIENT_STORAGE: "not enough storage",
    Status.PSA_ERROR_INSUFFICIENT_DATA: "not enough data",
    Status.PSA_ERROR_COMMUNICATION_FAILURE: "communication with the crypto backend failed",
    Status.PSA_ERROR_STORAGE_FAILURE: "key storage failed",
    Status.PSA_ERROR_HARDWARE_FAILURE: "the crypto hardware failed",
    Status.PSA_ERROR_INSUFFICIENT_ENTROPY: "not enough entropy",
    Status.PSA_ERROR_INVALID_SIGNATURE: "the signature or MAC is not valid",
    Status.PSA_ERROR_INVALID_PADDING: "the padding is not valid",
    Status.PSA_ERROR_CORRUPTION_DETECTED: "a tampering attempt was detected",
    Status.PSA_ERROR_DATA_CORRUPT: "stored data is corrupt",
    Status.PSA_ERROR_DATA_INVALID: "stored data is invalid",
    Status.TRUST_NO_ROOT: "no root of trust is held: share the root certificate first",
    Status.TRUST_ROOT_ALREADY_SHARED: "this process already shared a root certificate",
    Status.TRUST_PEER_NOT_ALLOWED: "the peer is not allowed to establish trust",
    Status.TRUST_ROOT_HOLDER_ALIVE: "the process that shared the current root is still alive",
    Status.TRUST_BAD_CERTIFICATE: "the certificate is not a valid root or intermediate",
    Status.TRUST_UNKNOWN_SIGNER: "the signer is not the current intermediate",
    Status.TRUST_BAD_SIGNATURE: "the signed payload is malformed or its signature is invalid",
    Status.TRUST_STALE_PAYLOAD: "the signed payload is too old or replayed",
    Status.IDENTITY_CLIENT_NOT_PROVEN: "the caller is not a proven client",
    Status.IDENTITY_CLIENT_UNKNOWN: "no client definition matches",
    Status.IDENTITY_ATTESTATION_FAILED: "the proof does not match the running process",
}


class StatusError(Exception):
    """A failure that maps onto one wire status code.

    Raised anywhere on the request path; the dispatcher turns it into a response with `status`.
    The message is for logs and must not contain secrets.
    """

    def __init__(self, status: Status, message: str = "") -> None:
        super().__init__(message or status.description)
        self.status = status
