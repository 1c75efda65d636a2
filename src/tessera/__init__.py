"""Tessera: a host security service speaking Parsec's wire protocol, and its client library.

The client library is re-exported here (`tessera.Client`, `tessera.ECDSA_P256`, ...); the
daemons live in `tessera.service` and are started with the `tessera` command.
"""

# ruff: noqa: F403, F405  (for type checkers, the names are tessera.client's, star-imported)

import typing

from tessera._version import __version__

if typing.TYPE_CHECKING:  # imported on first use (`__getattr__`): the command starts faster
    from tessera.client import *  # tessera.client's __all__, listed below too

__all__ = [
    "AES_256_GCM",
    "CHACHA20_POLY1305",
    "ECDH_P256",
    "ECDSA_P256",
    "ECDSA_P384",
    "ECDSA_P521",
    "ED25519",
    "HMAC_SHA256",
    "RSA_3072_OAEP",
    "RSA_3072_PSS",
    "X25519",
    "AcceptTypeNotSupportedError",
    "AdminOperationError",
    "AlreadyExistsError",
    "AsyncClient",
    "AsyncKey",
    "AsyncOperationClient",
    "Authentication",
    "AuthenticationError",
    "AuthenticatorDoesNotExistError",
    "AuthenticatorInfo",
    "AuthenticatorNotRegisteredError",
    "BadStateError",
    "BodySizeExceedsLimitError",
    "BufferTooSmallError",
    "CallTimeoutError",
    "Client",
    "CommunicationFailureError",
    "ContentTypeNotSupportedError",
    "CorruptionDetectedError",
    "DataCorruptError",
    "DataInvalidError",
    "DeprecatedPrimitiveError",
    "DeserializingBodyFailedError",
    "DirectAuth",
    "DoesNotExistError",
    "GenericError",
    "HardwareFailureError",
    "InsufficientDataError",
    "InsufficientEntropyError",
    "InsufficientMemoryError",
    "InsufficientStorageError",
    "InvalidArgumentError",
    "InvalidEncodingError",
    "InvalidHandleError",
    "InvalidHeaderError",
    "InvalidPaddingError",
    "InvalidSignatureError",
    "Key",
    "KeyInfo",
    "KeyInfoManagerError",
    "KeySpec",
    "NoAuth",
    "NotAuthenticatedError",
    "NotPermittedError",
    "NotSupportedError",
    "OpcodeDoesNotExistError",
    "OperationClient",
    "ProtocolError",
    "ProviderDoesNotExistError",
    "ProviderInfo",
    "ProviderNotRegisteredError",
    "ResponseTooLargeError",
    "SerializingBodyFailedError",
    "ServiceConnectionError",
    "ServiceError",
    "StorageFailureError",
    "TesseraError",
    "TransportError",
    "UnixPeerAuth",
    "UsageError",
    "WireProtocolVersionNotSupportedError",
    "WrongProviderIdError",
    "WrongProviderUuidError",
    "__version__",
]


def __getattr__(name: str) -> object:
    """The client library's public names, imported from `tessera.client` on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'tessera' has no attribute {name!r}")
    import tessera.client

    value: object = getattr(tessera.client, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
