"""Tessera's client library: keys your application uses but never holds.

    import tessera

    with tessera.Client() as client:
        key = client.generate_key("signing")
        signature = key.sign(b"hello")
        key.verify(signature, b"hello")

`Client` / `AsyncClient` are the idiomatic API, `OperationClient` / `AsyncOperationClient` expose
every Parsec operation with every PSA knob, `specs` holds named key recipes, and every failure is
a `TesseraError` (see `tessera.client._errors` for the tree).
"""

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up

# The names are imported on first use, so that a program (the `tessera` command) importing one
# private module does not pay for the whole library; type checkers see them as imported here.
if TYPE_CHECKING:
    from tessera.client._auth import DirectAuth, NoAuth, UnixPeerAuth
    from tessera.client._calls import AuthenticatorInfo, KeyInfo, ProviderInfo
    from tessera.client._client import AsyncClient, AsyncKey, Client, Key
    from tessera.client._cryptography_key import ServicePrivateKey
    from tessera.client._errors import (
        AcceptTypeNotSupportedError,
        AdminOperationError,
        AlreadyExistsError,
        AuthenticationError,
        AuthenticatorDoesNotExistError,
        AuthenticatorNotRegisteredError,
        BadStateError,
        BodySizeExceedsLimitError,
        BufferTooSmallError,
        CallTimeoutError,
        CommunicationFailureError,
        ContentTypeNotSupportedError,
        CorruptionDetectedError,
        DataCorruptError,
        DataInvalidError,
        DeprecatedPrimitiveError,
        DeserializingBodyFailedError,
        DoesNotExistError,
        GenericError,
        HardwareFailureError,
        InsufficientDataError,
        InsufficientEntropyError,
        InsufficientMemoryError,
        InsufficientStorageError,
        InvalidArgumentError,
        InvalidEncodingError,
        InvalidHandleError,
        InvalidHeaderError,
        InvalidPaddingError,
        InvalidSignatureError,
        KeyInfoManagerError,
        NotAuthenticatedError,
        NotPermittedError,
        NotSupportedError,
        OpcodeDoesNotExistError,
        ProtocolError,
        ProviderDoesNotExistError,
        ProviderNotRegisteredError,
        ResponseTooLargeError,
        SerializingBodyFailedError,
        ServiceConnectionError,
        ServiceError,
        StorageFailureError,
        TesseraError,
        TransportError,
        UsageError,
        WireProtocolVersionNotSupportedError,
        WrongProviderIdError,
        WrongProviderUuidError,
    )
    from tessera.client._operations import AsyncOperationClient, OperationClient
    from tessera.client._protocol import Authentication
    from tessera.client.specs import (
        AES_256_GCM,
        CHACHA20_POLY1305,
        ECDH_P256,
        ECDSA_P256,
        ECDSA_P384,
        ECDSA_P521,
        ED25519,
        HMAC_SHA256,
        RSA_3072_OAEP,
        RSA_3072_PSS,
        X25519,
        KeySpec,
    )
del TYPE_CHECKING  # not a public name

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
    "ServicePrivateKey",
    "StorageFailureError",
    "TesseraError",
    "TransportError",
    "UnixPeerAuth",
    "UsageError",
    "WireProtocolVersionNotSupportedError",
    "WrongProviderIdError",
    "WrongProviderUuidError",
]

_SUBMODULES = (
    "_errors",
    "_auth",
    "_calls",
    "_protocol",
    "specs",
    "_operations",
    "_client",
    "_cryptography_key",
)


def __getattr__(name: str) -> object:
    """Import a public name from the private module defining it, on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'tessera.client' has no attribute {name!r}")
    for submodule in _SUBMODULES:
        # (not importlib.import_module: the package importlib imports warnings, at start-up)
        module = __import__(f"tessera.client.{submodule}", fromlist=["_"])
        if name in vars(module) or name in vars(module).get("LAZY_NAMES", ()):
            value: object = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'tessera.client' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
