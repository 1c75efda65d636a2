"""Exit codes of the `tessera` command, and the one place where failures become them.

Every failure reaches the user as one line on stderr (`tessera: <message>`) and one of these
codes, grouped by what a script would do about it:

    0    success
    1    internal error (a bug in this tool; the message names the exception)
    2    usage: bad command line, bad argument value, bad base64/PEM, unreadable input file,
         or a key whose policy cannot do what was asked
    3    configuration (the daemons: `tessera service`, `tessera up`)
    4    any other failure status from the service
    5    not found: no such key, or no such client
    6    already exists: a key with this name exists
    7    not permitted: the key's policy forbids it, or the operation is for administrators
    8    authentication refused
    9    not supported: by the service, the provider, or its configuration (deprecated primitive)
    10   invalid signature, MAC or digest (verify, verify-mac, tampered AEAD ciphertext)
    11   transport: the service cannot be reached, stopped answering, or timed out
    12   protocol: the service's answer was malformed
    13   an application could not be started (`tessera orchestrator run` / `restart`)
    130  interrupted (Ctrl-C)
    141  stdout was closed early (broken pipe); nothing is printed
"""

from __future__ import annotations

import enum
from functools import cache

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)

if TYPE_CHECKING:
    from tessera.client._errors import ServiceError


class ExitCode(enum.IntEnum):
    """The process exit status for each family of failure (see the module docstring)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    SERVICE = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    NOT_PERMITTED = 7
    AUTHENTICATION = 8
    NOT_SUPPORTED = 9
    INVALID_SIGNATURE = 10
    TRANSPORT = 11
    PROTOCOL = 12
    APP_FAILED = 13
    INTERRUPTED = 130
    BROKEN_PIPE = 141


class CliError(Exception):
    """A failure this tool detected itself; the message is one line for the user."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


@cache
def _service_families() -> tuple[tuple[tuple[type[ServiceError], ...], ExitCode], ...]:
    # Imported here: `tessera --help` and the daemons' commands need no client.
    from tessera.client._errors import (
        AdminOperationError,
        AlreadyExistsError,
        AuthenticationError,
        AuthenticatorDoesNotExistError,
        AuthenticatorNotRegisteredError,
        DeprecatedPrimitiveError,
        DoesNotExistError,
        NotAuthenticatedError,
        NotPermittedError,
        NotSupportedError,
        OpcodeDoesNotExistError,
        ProviderDoesNotExistError,
        ProviderNotRegisteredError,
    )

    return (
        ((DoesNotExistError,), ExitCode.NOT_FOUND),
        ((AlreadyExistsError,), ExitCode.ALREADY_EXISTS),
        ((NotPermittedError, AdminOperationError), ExitCode.NOT_PERMITTED),
        (
            (
                AuthenticationError,
                NotAuthenticatedError,
                AuthenticatorDoesNotExistError,
                AuthenticatorNotRegisteredError,
            ),
            ExitCode.AUTHENTICATION,
        ),
        (
            (
                NotSupportedError,
                OpcodeDoesNotExistError,
                ProviderDoesNotExistError,
                ProviderNotRegisteredError,
                DeprecatedPrimitiveError,
            ),
            ExitCode.NOT_SUPPORTED,
        ),
    )


def _invalid_signature(error: BaseException) -> bool:
    """An InvalidSignatureError (a class made on first use: none made, none raised)."""
    from tessera.client import _errors

    made = vars(_errors).get("InvalidSignatureError")
    return made is not None and isinstance(error, made)


def exit_code(error: BaseException) -> ExitCode:
    """The exit code for a failure."""
    if isinstance(error, CliError):
        return error.code
    from tessera.client._errors import ProtocolError, ServiceError, TransportError, UsageError

    if isinstance(error, ServiceError):
        if _invalid_signature(error):
            return ExitCode.INVALID_SIGNATURE
        for classes, code in _service_families():
            if isinstance(error, classes):
                return code
        return ExitCode.SERVICE
    if isinstance(error, TransportError):
        return ExitCode.TRANSPORT
    if isinstance(error, ProtocolError):
        return ExitCode.PROTOCOL
    if isinstance(error, UsageError):
        return ExitCode.USAGE
    return ExitCode.INTERNAL


def message(error: BaseException) -> str:
    """The one-line text shown after `tessera: `."""
    from tessera.client._errors import TesseraError

    if isinstance(error, CliError | TesseraError):
        text = str(error) or type(error).__name__
    else:
        text = f"internal error: {type(error).__name__}: {error}"
    return " ".join(text.split())
