"""The exception tree: one class per status, and the conventions callers rely on."""

from __future__ import annotations

import cryptography.exceptions
import pytest

import tessera
from tessera.client import _errors
from tessera.wire.status import Status

PARSEC_STATUSES = [s for s in Status if s != Status.SUCCESS and s < 2000]


@pytest.mark.parametrize("status", PARSEC_STATUSES, ids=lambda s: s.name)
def test_each_parsec_status_has_its_own_exported_class(status: Status) -> None:
    cls = _errors.error_for_status(status)
    assert cls is not tessera.ServiceError
    assert cls.status == status
    assert cls.__name__.endswith("Error")
    assert getattr(tessera, cls.__name__) is cls
    assert cls.__doc__


def test_classes_and_statuses_are_one_to_one() -> None:
    classes = {_errors.error_for_status(s) for s in PARSEC_STATUSES}
    assert len(classes) == len(PARSEC_STATUSES)
    assert set(tessera.ServiceError.__subclasses__()) == classes


def test_a_status_without_a_class_is_a_plain_service_error() -> None:
    # (what decode_reply raises for statuses outside Parsec's set, e.g. identity statuses)
    error = tessera.ServiceError(operation="Ping", status=Status.CONNECTION_ERROR)
    assert error.status is Status.CONNECTION_ERROR
    assert "CONNECTION_ERROR" in str(error)
    assert tessera.ServiceError.status is Status.PSA_ERROR_GENERIC_ERROR  # the class is unchanged
    assert _errors.error_for_status(65000) is tessera.ServiceError


def test_hierarchy() -> None:
    for cls in (tessera.ServiceError, tessera.TransportError, tessera.ProtocolError):
        assert issubclass(cls, tessera.TesseraError)
    assert issubclass(tessera.UsageError, tessera.TesseraError)
    assert issubclass(tessera.UsageError, ValueError)
    assert issubclass(tessera.CallTimeoutError, tessera.TransportError)
    assert issubclass(tessera.CallTimeoutError, TimeoutError)
    assert issubclass(tessera.TransportError, ConnectionError)
    assert not issubclass(tessera.ProtocolError, tessera.ServiceError)


def test_verification_failures_are_cryptographys_invalid_signature() -> None:
    assert issubclass(tessera.InvalidSignatureError, cryptography.exceptions.InvalidSignature)
    assert issubclass(tessera.InvalidSignatureError, tessera.ServiceError)
    with pytest.raises(cryptography.exceptions.InvalidSignature):
        raise tessera.InvalidSignatureError(operation="PsaVerifyHash", key_name="k")


def test_messages_name_the_operation_and_the_key() -> None:
    error = tessera.DoesNotExistError(operation="PsaSignHash", key_name="signing")
    assert str(error) == (
        "PsaSignHash on key 'signing' failed: no such key or client (PSA_ERROR_DOES_NOT_EXIST)"
    )
    assert (error.operation, error.key_name, error.status) == (
        "PsaSignHash",
        "signing",
        Status.PSA_ERROR_DOES_NOT_EXIST,
    )
    assert str(tessera.AdminOperationError(operation="ListClients")).startswith(
        "ListClients failed: "
    )
    assert str(tessera.NotPermittedError("custom words")) == "custom words"
