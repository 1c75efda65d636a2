"""The public surface: pinned names, all importable, all documented (as httpx pins its own)."""

from __future__ import annotations

import inspect
from types import ModuleType

import tessera
import tessera.client
from tessera.client import specs
from tessera.client.specs import KeySpec

EXPECTED = {
    # clients and keys
    "AsyncClient",
    "AsyncKey",
    "AsyncOperationClient",
    "Client",
    "Key",
    "OperationClient",
    "ServicePrivateKey",
    # authentication
    "Authentication",
    "DirectAuth",
    "NoAuth",
    "UnixPeerAuth",
    # what the service describes
    "AuthenticatorInfo",
    "KeyInfo",
    "ProviderInfo",
    # key specs
    "KeySpec",
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
    # errors
    "TesseraError",
    "UsageError",
    "TransportError",
    "CallTimeoutError",
    "ProtocolError",
    "ServiceError",
    "AcceptTypeNotSupportedError",
    "AdminOperationError",
    "AlreadyExistsError",
    "AuthenticationError",
    "AuthenticatorDoesNotExistError",
    "AuthenticatorNotRegisteredError",
    "BadStateError",
    "BodySizeExceedsLimitError",
    "BufferTooSmallError",
    "CommunicationFailureError",
    "ContentTypeNotSupportedError",
    "CorruptionDetectedError",
    "DataCorruptError",
    "DataInvalidError",
    "DeprecatedPrimitiveError",
    "DeserializingBodyFailedError",
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
    "KeyInfoManagerError",
    "NotAuthenticatedError",
    "NotPermittedError",
    "NotSupportedError",
    "OpcodeDoesNotExistError",
    "ProviderDoesNotExistError",
    "ProviderNotRegisteredError",
    "ResponseTooLargeError",
    "SerializingBodyFailedError",
    "ServiceConnectionError",
    "StorageFailureError",
    "WireProtocolVersionNotSupportedError",
    "WrongProviderIdError",
    "WrongProviderUuidError",
}


def test_exported_members() -> None:
    assert set(tessera.__all__) == EXPECTED | {"__version__"}
    assert set(tessera.client.__all__) == EXPECTED
    assert len(tessera.__all__) == len(set(tessera.__all__))
    for name in EXPECTED:
        member = getattr(tessera, name)
        assert member is getattr(tessera.client, name)
        if inspect.isclass(member):
            assert member.__module__.startswith("tessera.client."), name


def test_nothing_public_is_left_unexported() -> None:
    for name in tessera.client.__all__:  # imported on first use: load them all
        getattr(tessera.client, name)
    public = {
        name
        for name, value in vars(tessera.client).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == EXPECTED


def _own_docstring(obj: object) -> str | None:
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return doc.strip() if isinstance(doc, str) else None


def _public_members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties of a class, with those it takes from the library's own
    private bases (a method written once for both APIs is defined there)."""
    members: dict[str, object] = {}
    for base in reversed(cls.__mro__):
        if not base.__module__.startswith("tessera.client."):
            continue
        for name, value in vars(base).items():
            if name.startswith("_"):
                continue
            if isinstance(value, property | staticmethod | classmethod):
                members[name] = value
            elif inspect.isfunction(resolved := getattr(cls, name)):
                members[name] = resolved
    return sorted(members.items())


def test_every_public_name_has_a_docstring() -> None:
    undocumented = []
    for name in sorted(EXPECTED):
        member = getattr(tessera, name)
        if isinstance(member, KeySpec):
            assert member.name, name  # a spec constant: described by its name and KeySpec
            continue
        if not _own_docstring(member):
            undocumented.append(name)
        if inspect.isclass(member):
            for attribute, value in _public_members(member):
                target = value.fget if isinstance(value, property) else value
                if not getattr(target, "__doc__", None):
                    undocumented.append(f"{name}.{attribute}")
    for name, value in vars(specs).items():
        public_function = inspect.isfunction(value) and not name.startswith("_")
        if public_function and value.__module__ == specs.__name__ and not value.__doc__:
            undocumented.append(f"specs.{name}")
    for module in (tessera, tessera.client, specs):
        if not module.__doc__:
            undocumented.append(module.__name__)
    assert undocumented == []


def test_key_and_async_key_offer_the_same_operations() -> None:
    # cryptography's key interfaces are synchronous: only a blocking Key can stand in for one
    sync = {n for n, _ in _public_members(tessera.Key)} - {"as_private_key"}
    asynchronous = {n for n, _ in _public_members(tessera.AsyncKey)}
    assert sync == asynchronous
    for name in ("sign", "verify", "encrypt", "decrypt", "public_key", "export", "destroy"):
        assert name in sync
        assert inspect.iscoroutinefunction(getattr(tessera.AsyncKey, name))


def test_client_and_async_client_offer_the_same_operations() -> None:
    sync = {n for n, _ in _public_members(tessera.Client)} - {"close"}
    asynchronous = {n for n, _ in _public_members(tessera.AsyncClient)} - {"aclose"}
    assert sync == asynchronous
    sync_ops = {n for n, _ in _public_members(tessera.OperationClient)} - {"close", "auth"}
    async_ops = {n for n, _ in _public_members(tessera.AsyncOperationClient)} - {"aclose"}
    assert sync_ops == async_ops
    assert "get_auth" in sync_ops
