"""Exceptions raised by the client library.

    TesseraError
    ├── ServiceError                 the service answered with a failure status
    │   ├── one class per status     e.g. DoesNotExistError, NotPermittedError, AuthenticationError
    │   └── InvalidSignatureError    also a cryptography.exceptions.InvalidSignature
    ├── TransportError               the service could not be reached or stopped answering
    │   └── CallTimeoutError         no complete answer within the call's timeout (a TimeoutError)
    ├── ProtocolError                the service's answer was malformed
    └── UsageError                   this library was called wrongly (our caller's mistake)

`ServiceError.status` is the wire status; `operation` and `key_name` say what was attempted.

`InvalidSignatureError` is made on first use (`error_for_status`, or the name looked up): its
second base lives in `cryptography`'s compiled bindings, which a program that never meets a bad
signature (the `tessera` command's start-up) need not load.
"""

from __future__ import annotations

from tessera.wire.status import Status

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up


class TesseraError(Exception):
    """Base of every exception this library raises."""


class UsageError(TesseraError, ValueError):
    """The library was called with arguments that cannot work; nothing was sent."""


class TransportError(TesseraError, ConnectionError):
    """The service could not be reached, or the connection broke before the answer.

    `sent` is False when the request provably never left this process (nothing to connect
    to); `transient` is True when the daemon may be restarting, so waiting may help.
    """

    def __init__(self, message: str = "", *, sent: bool = True, transient: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.transient = transient


class CallTimeoutError(TransportError, TimeoutError):
    """No complete answer arrived within the call's timeout."""


class ProtocolError(TesseraError):
    """The answer did not follow the wire protocol (wrong magic, opcode, body...)."""


class ServiceError(TesseraError):
    """The service answered with a failure status."""

    status: Status = Status.PSA_ERROR_GENERIC_ERROR

    def __init__(
        self,
        message: str = "",
        *,
        operation: str = "",
        key_name: str | None = None,
        status: Status | None = None,
    ) -> None:
        if status is not None:
            self.status = status  # a status with no class of its own is raised as ServiceError
        self.operation = operation
        self.key_name = key_name
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        what = self.operation or "operation"
        if self.key_name is not None:
            what += f" on key {self.key_name!r}"
        return f"{what} failed: {self.status.description} ({self.status.name})"


class WrongProviderIdError(ServiceError):
    """The request was sent to the wrong provider."""

    status = Status.WRONG_PROVIDER_ID


class ContentTypeNotSupportedError(ServiceError):
    """The body's content type is not supported."""

    status = Status.CONTENT_TYPE_NOT_SUPPORTED


class AcceptTypeNotSupportedError(ServiceError):
    """The requested accept type is not supported."""

    status = Status.ACCEPT_TYPE_NOT_SUPPORTED


class WireProtocolVersionNotSupportedError(ServiceError):
    """The wire protocol version is not supported."""

    status = Status.WIRE_PROTOCOL_VERSION_NOT_SUPPORTED


class ProviderNotRegisteredError(ServiceError):
    """No provider with this id is configured."""

    status = Status.PROVIDER_NOT_REGISTERED


class ProviderDoesNotExistError(ServiceError):
    """No provider with this id exists."""

    status = Status.PROVIDER_DOES_NOT_EXIST


class DeserializingBodyFailedError(ServiceError):
    """The request body could not be decoded."""

    status = Status.DESERIALIZING_BODY_FAILED


class SerializingBodyFailedError(ServiceError):
    """The response body could not be encoded."""

    status = Status.SERIALIZING_BODY_FAILED


class OpcodeDoesNotExistError(ServiceError):
    """The opcode is unknown or not served by this provider."""

    status = Status.OPCODE_DOES_NOT_EXIST


class ResponseTooLargeError(ServiceError):
    """The response would exceed the size limit."""

    status = Status.RESPONSE_TOO_LARGE


class AuthenticationError(ServiceError):
    """The authentication payload was rejected."""

    status = Status.AUTHENTICATION_ERROR


class AuthenticatorDoesNotExistError(ServiceError):
    """The authentication type is unknown."""

    status = Status.AUTHENTICATOR_DOES_NOT_EXIST


class AuthenticatorNotRegisteredError(ServiceError):
    """The authentication type is not enabled."""

    status = Status.AUTHENTICATOR_NOT_REGISTERED


class KeyInfoManagerError(ServiceError):
    """The key store failed."""

    status = Status.KEY_INFO_MANAGER_ERROR


class ServiceConnectionError(ServiceError):
    """The connection failed."""

    status = Status.CONNECTION_ERROR


class InvalidEncodingError(ServiceError):
    """A value is not validly encoded."""

    status = Status.INVALID_ENCODING


class InvalidHeaderError(ServiceError):
    """The request header is invalid."""

    status = Status.INVALID_HEADER


class WrongProviderUuidError(ServiceError):
    """The provider UUID does not match."""

    status = Status.WRONG_PROVIDER_UUID


class NotAuthenticatedError(ServiceError):
    """This operation needs authentication."""

    status = Status.NOT_AUTHENTICATED


class BodySizeExceedsLimitError(ServiceError):
    """The request body or auth field exceeds the size limit."""

    status = Status.BODY_SIZE_EXCEEDS_LIMIT


class AdminOperationError(ServiceError):
    """This operation is reserved to administrators."""

    status = Status.ADMIN_OPERATION


class DeprecatedPrimitiveError(ServiceError):
    """The algorithm or key size is deprecated."""

    status = Status.DEPRECATED_PRIMITIVE


class GenericError(ServiceError):
    """An unspecified error occurred."""

    status = Status.PSA_ERROR_GENERIC_ERROR


class NotPermittedError(ServiceError):
    """The key's policy does not permit this operation."""

    status = Status.PSA_ERROR_NOT_PERMITTED


class NotSupportedError(ServiceError):
    """The operation or parameters are not supported."""

    status = Status.PSA_ERROR_NOT_SUPPORTED


class InvalidArgumentError(ServiceError):
    """An argument is invalid."""

    status = Status.PSA_ERROR_INVALID_ARGUMENT


class InvalidHandleError(ServiceError):
    """The key handle is invalid."""

    status = Status.PSA_ERROR_INVALID_HANDLE


class BadStateError(ServiceError):
    """The operation is not valid in the current state."""

    status = Status.PSA_ERROR_BAD_STATE


class BufferTooSmallError(ServiceError):
    """An output buffer is too small."""

    status = Status.PSA_ERROR_BUFFER_TOO_SMALL


class AlreadyExistsError(ServiceError):
    """A key with this name already exists."""

    status = Status.PSA_ERROR_ALREADY_EXISTS


class DoesNotExistError(ServiceError):
    """No such key or client."""

    status = Status.PSA_ERROR_DOES_NOT_EXIST


class InsufficientMemoryError(ServiceError):
    """Not enough memory."""

    status = Status.PSA_ERROR_INSUFFICIENT_MEMORY


class InsufficientStorageError(ServiceError):
    """Not enough storage."""

    status = Status.PSA_ERROR_INSUFFICIENT_STORAGE


class InsufficientDataError(ServiceError):
    """Not enough data."""

    status = Status.PSA_ERROR_INSUFFICIENT_DATA


class CommunicationFailureError(ServiceError):
    """Communication with the crypto backend failed."""

    status = Status.PSA_ERROR_COMMUNICATION_FAILURE


class StorageFailureError(ServiceError):
    """Key storage failed."""

    status = Status.PSA_ERROR_STORAGE_FAILURE


class HardwareFailureError(ServiceError):
    """The crypto hardware failed."""

    status = Status.PSA_ERROR_HARDWARE_FAILURE


class InsufficientEntropyError(ServiceError):
    """Not enough entropy."""

    status = Status.PSA_ERROR_INSUFFICIENT_ENTROPY


class InvalidPaddingError(ServiceError):
    """The padding is not valid."""

    status = Status.PSA_ERROR_INVALID_PADDING


class CorruptionDetectedError(ServiceError):
    """A tampering attempt was detected."""

    status = Status.PSA_ERROR_CORRUPTION_DETECTED


class DataCorruptError(ServiceError):
    """Stored data is corrupt."""

    status = Status.PSA_ERROR_DATA_CORRUPT


class DataInvalidError(ServiceError):
    """Stored data is invalid."""

    status = Status.PSA_ERROR_DATA_INVALID


if TYPE_CHECKING:
    import cryptography.exceptions

    class InvalidSignatureError(ServiceError, cryptography.exceptions.InvalidSignature):
        """The signature or MAC is not valid."""

        status = Status.PSA_ERROR_INVALID_SIGNATURE

else:

    def __getattr__(name: str) -> object:
        if name == "InvalidSignatureError":
            return _invalid_signature_error()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _invalid_signature_error() -> type[ServiceError]:
    """InvalidSignatureError, made once (a module global from then on)."""
    made = globals().get("InvalidSignatureError")
    if made is None:
        import cryptography.exceptions

        made = type(
            "InvalidSignatureError",
            (ServiceError, cryptography.exceptions.InvalidSignature),
            {
                "__doc__": "The signature or MAC is not valid.",
                "__module__": __name__,
                "__qualname__": "InvalidSignatureError",
                "status": Status.PSA_ERROR_INVALID_SIGNATURE,
            },
        )
        globals()["InvalidSignatureError"] = made
    assert isinstance(made, type) and issubclass(made, ServiceError)
    return made


# The names made on first use (`tessera.client` resolves them with getattr).
LAZY_NAMES = frozenset({"InvalidSignatureError"})

_BY_STATUS: dict[int, type[ServiceError]] = {
    cls.status: cls for cls in ServiceError.__subclasses__()
}


def error_for_status(status: int) -> type[ServiceError]:
    """The exception class for a wire status (ServiceError itself for one without a class)."""
    if status == Status.PSA_ERROR_INVALID_SIGNATURE:
        return _invalid_signature_error()
    return _BY_STATUS.get(status, ServiceError)
