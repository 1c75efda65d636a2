"""The idiomatic API: `with tessera.Client() as client:` and key handles with safe defaults.

    with tessera.Client() as client:
        key = client.generate_key("signing")           # ECDSA P-256 with SHA-256
        signature = key.sign(b"message")
        key.verify(signature, b"message")              # raises InvalidSignature if not valid
        public = key.public_key()                      # a cryptography public key

`Client` blocks and is safe to share between threads; `AsyncClient` has the same API for
asyncio. Their methods, and their keys', are written once (`_twin`), as the flows of
`_keyflows`, so both do exactly the same things.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tessera.client import _calls, _keyflows
from tessera.client._discovery import DEFAULT_REQUEST_LIMIT, run
from tessera.client._errors import UsageError
from tessera.client._keyflows import Capabilities, KeyFlow, KeyRef
from tessera.client._operation_table import OperationLayer
from tessera.client._operations import AsyncOperationClient, OperationClient
from tessera.client._protocol import Authentication, Call
from tessera.client._session import DEFAULT_TIMEOUT, Endpoint
from tessera.client._twin import (
    AsyncConnected,
    Awaiting,
    Blocking,
    Connected,
    Plan,
    drive,
    twin,
)
from tessera.client.specs import ECDSA_P256, KeySpec
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

if TYPE_CHECKING:  # for annotations only: X.509 and the key classes load where they are used
    from cryptography import x509

    from tessera.client import _cryptography_key
    from tessera.client._importing import ImportableKey
    from tessera.psa import formats

T = TypeVar("T")
ClientT = TypeVar("ClientT", bound="_ClientBase[Any, Any]")
OperationsT = TypeVar("OperationsT", bound=OperationLayer[Any])
KeyT = TypeVar("KeyT", bound="_KeyBase[Any]")


class _KeyBase(Generic[ClientT]):
    """What `Key` and `AsyncKey` share: the handle, and every method (`_twin`)."""

    def __init__(self, client: ClientT, ref: KeyRef) -> None:
        self._client = client
        self._ref = ref

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, provider={self.provider})"

    @property
    def name(self) -> str:
        """The key's name (unique per application and provider)."""
        return self._ref.name

    @property
    def provider(self) -> int:
        """The id of the provider that holds the key."""
        return self._ref.provider

    @property
    def attributes(self) -> KeyAttributes:
        """The key's PSA attributes (type, size, policy): a copy, free to modify."""
        copy = KeyAttributes()
        copy.CopyFrom(self._ref.attributes)
        return copy

    @twin
    def sign(self, data: bytes) -> KeyFlow[bytes]:
        """Sign a message with the key's algorithm (PSA format: ECDSA signatures are r || s)."""
        return _keyflows.sign(self._ref, data, self._client._capabilities)

    @twin
    def sign_digest(self, digest: bytes) -> KeyFlow[bytes]:
        """Sign a digest made with the key's hash algorithm."""
        return _keyflows.sign_digest(self._ref, digest)

    @twin
    def verify(self, signature: bytes, data: bytes) -> KeyFlow[None]:
        """Check a signature over a message; raises `InvalidSignatureError` (a
        `cryptography.exceptions.InvalidSignature`) if it does not verify."""
        return _keyflows.verify(self._ref, signature, data, self._client._capabilities)

    @twin
    def verify_digest(self, signature: bytes, digest: bytes) -> KeyFlow[None]:
        """Check a signature over a digest; raises `InvalidSignatureError`."""
        return _keyflows.verify_digest(self._ref, signature, digest)

    @twin
    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> KeyFlow[bytes]:
        """Encrypt: AEAD keys return nonce || ciphertext || tag (the nonce comes from the
        provider's generator, or the host's if it has none); RSA keys use their OAEP or PKCS#1
        v1.5 scheme (associated data = OAEP label)."""
        capabilities = self._client._capabilities
        return _keyflows.encrypt(self._ref, plaintext, associated_data, capabilities)

    @twin
    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> KeyFlow[bytes]:
        """The inverse of `encrypt`; raises `InvalidSignatureError` if AEAD data was altered."""
        capabilities = self._client._capabilities
        return _keyflows.decrypt(self._ref, ciphertext, associated_data, capabilities)

    @twin
    def mac(self, data: bytes) -> KeyFlow[bytes]:
        """The MAC of `data` (HMAC or CMAC keys)."""
        return _keyflows.mac(self._ref, data, self._client._capabilities)

    @twin
    def verify_mac(self, data: bytes, tag: bytes) -> KeyFlow[None]:
        """Check a MAC; raises `InvalidSignatureError`."""
        return _keyflows.verify_mac(self._ref, data, tag, self._client._capabilities)

    @twin
    def agree(self, peer: formats.PublicKey | bytes) -> KeyFlow[bytes]:
        """The raw shared secret with a peer public key (a `cryptography` key or PSA bytes)."""
        return _keyflows.agree(self._ref, peer)

    @twin
    def public_key(self) -> KeyFlow[formats.PublicKey]:
        """The public key, as a `cryptography` public-key object."""
        return _keyflows.public_key(self._ref)

    @twin
    def export(self) -> KeyFlow[bytes]:
        """The key material in its PSA format (only for keys created exportable)."""
        return _keyflows.export(self._ref)

    @twin
    def destroy(self) -> KeyFlow[None]:
        """Delete the key from the service."""
        return _keyflows.destroy(self._ref)

    @twin
    def certificate_request(
        self, subject: x509.Name | str, alternative_names: Sequence[str] = ()
    ) -> KeyFlow[x509.CertificateSigningRequest]:
        """A PKCS#10 certificate request for `subject` (x509.Name or "CN=...,O=..."), signed
        by this key inside the service."""
        capabilities = self._client._capabilities
        return _keyflows.certificate_request(self._ref, subject, alternative_names, capabilities)


class Key(_KeyBase["Client"], Blocking):
    """A key held by the service, used through it. Obtained from a `Client`."""

    def _execute(self, call: Call[T]) -> T:
        return self._client.operations._execute(call)

    def as_private_key(self) -> _cryptography_key.PrivateKeyAdapter:
        """This key as a `cryptography` private key (EC, RSA, Ed25519, Ed448) for x509 and CSR
        builders, PyJWT...: its methods call the service (docs/client.md)."""
        from tessera.client import _cryptography_key

        return _cryptography_key.adapt(self, self._ref, self._run_flow, self._client._capabilities)

    def _run_flow(self, flow: Generator[Call[Any], Any, T], /) -> T:
        return drive(flow, self._execute)


class AsyncKey(_KeyBase["AsyncClient"], Awaiting):
    """A key held by the service, for asyncio (the methods of `Key`, awaited). Obtained from
    an `AsyncClient`."""

    async def _execute(self, call: Call[T]) -> T:
        return await self._client.operations._execute(call)


class _ClientBase(Generic[OperationsT, KeyT]):
    """What `Client` and `AsyncClient` share: their settings, and every method (`_twin`)."""

    _operations_type: type[OperationsT]
    _key_type: type[KeyT]

    def __init__(
        self,
        endpoint: Endpoint = None,
        *,
        app_name: str | None = None,
        auth: Authentication | None = None,
        provider: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        identity_endpoint: Endpoint = None,
        restart_wait: float | None = None,
        max_request_size: int = DEFAULT_REQUEST_LIMIT,
    ) -> None:
        self.operations = self._operations_type(
            endpoint,
            auth=auth,
            app_name=app_name,
            provider=provider,
            timeout=timeout,
            identity_endpoint=identity_endpoint,
            restart_wait=restart_wait,
        )
        if max_request_size <= 0:
            raise UsageError("max_request_size must be a positive number of bytes")
        self._provider = provider
        # The operation client's: the providers are asked once for both (the preferred one for
        # `random`, the order for key placement and lookup).
        self._capabilities: Capabilities = self.operations._session.capabilities
        self._capabilities.request_limit = max_request_size

    def _chosen(self, provider: int | None) -> int | None:
        return self._provider if provider is None else provider

    @twin
    def ping(self) -> Plan[tuple[int, int]]:
        """The wire protocol version the service speaks; raises if it cannot be reached."""
        return _calls.ping()

    @twin
    def generate_key(
        self, name: str, spec: KeySpec = ECDSA_P256, *, provider: int | None = None
    ) -> KeyFlow[KeyT]:
        """Create a key named `name` in the service (default: ECDSA P-256 with SHA-256)."""
        flow = _keyflows.generate(name, spec, self._chosen(provider), self._capabilities)
        return self._key_type(self, (yield from flow))

    @twin
    def import_key(
        self,
        name: str,
        key: ImportableKey,
        spec: KeySpec | None = None,
        *,
        provider: int | None = None,
    ) -> KeyFlow[KeyT]:
        """Import a `cryptography` key object (or secret bytes with a `spec`) under `name`."""
        from tessera.client._importing import attributes_and_data  # cryptography's key classes

        attributes, data = attributes_and_data(key, spec)
        chosen = self._chosen(provider)
        flow = _keyflows.import_key(name, attributes, data, chosen, self._capabilities)
        return self._key_type(self, (yield from flow))

    @twin
    def key(self, name: str) -> KeyFlow[KeyT]:
        """A handle on an existing key; raises `DoesNotExistError` if there is none."""
        return self._key_type(self, (yield from _keyflows.lookup(name, self._capabilities)))

    @twin
    def keys(self) -> KeyFlow[list[KeyT]]:
        """Handles on every key this application owns."""
        infos = yield from run(_calls.list_keys())
        return [self._key_type(self, KeyRef.of(info)) for info in infos]

    @twin
    def random(self, size: int) -> Plan[bytes]:
        """`size` random bytes from the service."""
        return self.operations._on(None, _calls.generate_random, size)

    @twin
    def digest(self, data: bytes, algorithm: Algorithm.Hash = Algorithm.SHA_256) -> KeyFlow[bytes]:
        """The hash of `data`, computed by the service (here, if its provider cannot)."""
        return _keyflows.digest(self._provider, algorithm, data, self._capabilities)


class Client(_ClientBase[OperationClient, Key], Connected):
    """A connection to the Tessera (or Parsec) service, with smart defaults.

    `endpoint`: `unix:` URI or socket path (default `PARSEC_SERVICE_ENDPOINT`, else
    `$TESSERA_STATE_DIR/run/parsec.sock` if it exists, else `/run/parsec/parsec.sock`).
    Authentication is chosen automatically: identity-provider tokens when available, else Unix
    peer credentials, else direct authentication as `app_name`; `auth` forces a choice.
    `provider` forces a provider; by default each new key goes to the first provider that says
    (CanDoCrypto) it can make it. `timeout`: seconds each call to the service may take,
    reconnecting included (then `CallTimeoutError`, or `TransportError` if nobody listens).
    `restart_wait`: seconds of pauses a call may spend waiting for the service or the identity
    provider to come back after a crash (default `TESSERA_RESTART_WAIT`, else 10; 0: never
    wait); what is retried, and how a lost answer to a key creation is settled, is in
    docs/client.md. `max_request_size`: the largest request body the service accepts (its
    `body_len_limit`, 1 MiB by default); bigger messages are signed, verified and hashed by
    digests made here, and bigger inputs to MAC, cipher and AEAD calls are refused unsent.

    Nothing is sent until the first call. Connections are kept open, pooled, and replaced
    transparently when the service restarts; one client may be shared by many threads.
    `operations` is the `OperationClient` underneath, for every PSA knob.
    """

    _operations_type = OperationClient
    _key_type = Key

    def close(self) -> None:
        """Close pooled connections (the client can still be used afterwards)."""
        self.operations.close()

    def _execute(self, call: Call[T]) -> T:
        return self.operations._execute(call)


class AsyncClient(_ClientBase[AsyncOperationClient, AsyncKey], AsyncConnected):
    """`Client` for asyncio: the same arguments, the same methods, awaited.

    Use it from one event loop (its pooled connections belong to that loop).
    `operations` is the `AsyncOperationClient` underneath.
    """

    _operations_type = AsyncOperationClient
    _key_type = AsyncKey

    async def aclose(self) -> None:
        """Close pooled connections (the client can still be used afterwards)."""
        await self.operations.aclose()

    async def _execute(self, call: Call[T]) -> T:
        return await self.operations._execute(call)
