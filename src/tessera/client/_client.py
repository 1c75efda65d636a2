"""The idiomatic API: `with tessera.Client() as client:` and key handles with safe defaults.

    with tessera.Client() as client:
        key = client.generate_key("signing")           # ECDSA P-256 with SHA-256
        signature = key.sign(b"message")
        key.verify(signature, b"message")              # raises InvalidSignature if not valid
        public = key.public_key()                      # a cryptography public key

`Client` blocks and is safe to share between threads; `AsyncClient` has the same API for
asyncio. Both run the flows of `_keyflows`, so they do exactly the same things.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from tessera.client import _keyflows
from tessera.client._discovery import DEFAULT_REQUEST_LIMIT
from tessera.client._errors import TesseraError, UsageError
from tessera.client._keyflows import Capabilities, KeyRef
from tessera.client._operations import (
    DEFAULT_TIMEOUT,
    AsyncOperationClient,
    Endpoint,
    OperationClient,
)
from tessera.client._protocol import Authentication, Call
from tessera.client.specs import ECDSA_P256, KeySpec
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

if TYPE_CHECKING:  # for annotations only: X.509 loads when a certificate request is made
    from cryptography import x509

    from tessera.client._importing import ImportableKey
    from tessera.psa import formats

T = TypeVar("T")


def _copy(attributes: KeyAttributes) -> KeyAttributes:
    copy = KeyAttributes()
    copy.CopyFrom(attributes)
    return copy


class Key:
    """A key held by the service, used through it. Obtained from a `Client`."""

    def __init__(self, client: Client, ref: KeyRef) -> None:
        self._client = client
        self._ref = ref

    def __repr__(self) -> str:
        return f"Key(name={self.name!r}, provider={self.provider})"

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
        return _copy(self._ref.attributes)

    def sign(self, data: bytes) -> bytes:
        """Sign a message with the key's algorithm (PSA format: ECDSA signatures are r || s)."""
        return self._client._drive(_keyflows.sign(self._ref, data, self._client._capabilities))

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a digest made with the key's hash algorithm."""
        return self._client._drive(_keyflows.sign_digest(self._ref, digest))

    def verify(self, signature: bytes, data: bytes) -> None:
        """Check a signature over a message; raises `InvalidSignatureError` (a
        `cryptography.exceptions.InvalidSignature`) if it does not verify."""
        self._client._drive(
            _keyflows.verify(self._ref, signature, data, self._client._capabilities)
        )

    def verify_digest(self, signature: bytes, digest: bytes) -> None:
        """Check a signature over a digest; raises `InvalidSignatureError`."""
        self._client._drive(_keyflows.verify_digest(self._ref, signature, digest))

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Encrypt: AEAD keys return nonce || ciphertext || tag (the nonce comes from the
        provider's generator, or the host's if it has none); RSA keys use their OAEP or PKCS#1
        v1.5 scheme (associated data = OAEP label)."""
        return self._client._drive(
            _keyflows.encrypt(self._ref, plaintext, associated_data, self._client._capabilities)
        )

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """The inverse of `encrypt`; raises `InvalidSignatureError` if AEAD data was altered."""
        return self._client._drive(
            _keyflows.decrypt(self._ref, ciphertext, associated_data, self._client._capabilities)
        )

    def mac(self, data: bytes) -> bytes:
        """The MAC of `data` (HMAC or CMAC keys)."""
        return self._client._drive(_keyflows.mac(self._ref, data, self._client._capabilities))

    def verify_mac(self, data: bytes, tag: bytes) -> None:
        """Check a MAC; raises `InvalidSignatureError`."""
        self._client._drive(_keyflows.verify_mac(self._ref, data, tag, self._client._capabilities))

    def agree(self, peer: formats.PublicKey | bytes) -> bytes:
        """The raw shared secret with a peer public key (a `cryptography` key or PSA bytes)."""
        return self._client._drive(_keyflows.agree(self._ref, peer))

    def public_key(self) -> formats.PublicKey:
        """The public key, as a `cryptography` public-key object."""
        return self._client._drive(_keyflows.public_key(self._ref))

    def export(self) -> bytes:
        """The key material in its PSA format (only for keys created exportable)."""
        return self._client._drive(_keyflows.export(self._ref))

    def destroy(self) -> None:
        """Delete the key from the service."""
        self._client._drive(_keyflows.destroy(self._ref))

    def certificate_request(
        self, subject: x509.Name | str, alternative_names: Sequence[str] = ()
    ) -> x509.CertificateSigningRequest:
        """A PKCS#10 certificate request for `subject` (x509.Name or "CN=...,O=..."), signed
        by this key inside the service."""
        return self._client._drive(
            _keyflows.certificate_request(
                self._ref, subject, alternative_names, self._client._capabilities
            )
        )


class Client:
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
        self.operations = OperationClient(
            endpoint,
            auth=auth,
            app_name=app_name,
            provider=provider,
            timeout=timeout,
            identity_endpoint=identity_endpoint,
            restart_wait=restart_wait,
        )
        if max_request_size < 0:
            raise UsageError("max_request_size must not be negative")
        self._provider = provider
        self._capabilities = Capabilities(max_request_size)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (the client can still be used afterwards)."""
        self.operations.close()

    def ping(self) -> tuple[int, int]:
        """The wire protocol version the service speaks; raises if it cannot be reached."""
        return self.operations.ping()

    def generate_key(
        self, name: str, spec: KeySpec = ECDSA_P256, *, provider: int | None = None
    ) -> Key:
        """Create a key named `name` in the service (default: ECDSA P-256 with SHA-256)."""
        chosen = self._provider if provider is None else provider
        return Key(self, self._drive(_keyflows.generate(name, spec, chosen, self._capabilities)))

    def import_key(
        self,
        name: str,
        key: ImportableKey,
        spec: KeySpec | None = None,
        *,
        provider: int | None = None,
    ) -> Key:
        """Import a `cryptography` key object (or secret bytes with a `spec`) under `name`."""
        from tessera.client._importing import attributes_and_data  # cryptography's key classes

        attributes, data = attributes_and_data(key, spec)
        chosen = self._provider if provider is None else provider
        flow = _keyflows.import_key(name, attributes, data, chosen, self._capabilities)
        return Key(self, self._drive(flow))

    def key(self, name: str) -> Key:
        """A handle on an existing key; raises `DoesNotExistError` if there is none."""
        return Key(self, self._drive(_keyflows.lookup(name, self._capabilities)))

    def keys(self) -> list[Key]:
        """Handles on every key this application owns."""
        infos = self.operations.list_keys()
        return [Key(self, KeyRef(k.name, k.provider_id, k.attributes)) for k in infos]

    def random(self, size: int) -> bytes:
        """`size` random bytes from the service."""
        return self.operations.psa_generate_random(size)

    def digest(self, data: bytes, algorithm: Algorithm.Hash = Algorithm.SHA_256) -> bytes:
        """The hash of `data`, computed by the service (here, if its provider cannot)."""
        return self._drive(_keyflows.digest(self._provider, algorithm, data, self._capabilities))

    def _drive(self, flow: Generator[Call[Any], Any, T]) -> T:
        """Run a flow of calls, feeding each result (or failure) back into it."""
        try:
            call = next(flow)
            while True:
                try:
                    result = self.operations._execute(call)
                except TesseraError as error:
                    call = flow.throw(error)
                    continue
                call = flow.send(result)
        except StopIteration as done:
            value: T = done.value
            return value


class AsyncKey:
    """A key held by the service, for asyncio. Obtained from an `AsyncClient`."""

    def __init__(self, client: AsyncClient, ref: KeyRef) -> None:
        self._client = client
        self._ref = ref

    def __repr__(self) -> str:
        return f"AsyncKey(name={self.name!r}, provider={self.provider})"

    @property
    def name(self) -> str:
        """The key's name."""
        return self._ref.name

    @property
    def provider(self) -> int:
        """The id of the provider that holds the key."""
        return self._ref.provider

    @property
    def attributes(self) -> KeyAttributes:
        """The key's PSA attributes (type, size, policy): a copy, free to modify."""
        return _copy(self._ref.attributes)

    async def sign(self, data: bytes) -> bytes:
        """See `Key.sign`."""
        return await self._client._drive(
            _keyflows.sign(self._ref, data, self._client._capabilities)
        )

    async def sign_digest(self, digest: bytes) -> bytes:
        """See `Key.sign_digest`."""
        return await self._client._drive(_keyflows.sign_digest(self._ref, digest))

    async def verify(self, signature: bytes, data: bytes) -> None:
        """See `Key.verify`."""
        await self._client._drive(
            _keyflows.verify(self._ref, signature, data, self._client._capabilities)
        )

    async def verify_digest(self, signature: bytes, digest: bytes) -> None:
        """See `Key.verify_digest`."""
        await self._client._drive(_keyflows.verify_digest(self._ref, signature, digest))

    async def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """See `Key.encrypt`."""
        return await self._client._drive(
            _keyflows.encrypt(self._ref, plaintext, associated_data, self._client._capabilities)
        )

    async def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """See `Key.decrypt`."""
        return await self._client._drive(
            _keyflows.decrypt(self._ref, ciphertext, associated_data, self._client._capabilities)
        )

    async def mac(self, data: bytes) -> bytes:
        """See `Key.mac`."""
        return await self._client._drive(_keyflows.mac(self._ref, data, self._client._capabilities))

    async def verify_mac(self, data: bytes, tag: bytes) -> None:
        """See `Key.verify_mac`."""
        await self._client._drive(
            _keyflows.verify_mac(self._ref, data, tag, self._client._capabilities)
        )

    async def agree(self, peer: formats.PublicKey | bytes) -> bytes:
        """See `Key.agree`."""
        return await self._client._drive(_keyflows.agree(self._ref, peer))

    async def public_key(self) -> formats.PublicKey:
        """See `Key.public_key`."""
        return await self._client._drive(_keyflows.public_key(self._ref))

    async def export(self) -> bytes:
        """See `Key.export`."""
        return await self._client._drive(_keyflows.export(self._ref))

    async def destroy(self) -> None:
        """See `Key.destroy`."""
        await self._client._drive(_keyflows.destroy(self._ref))

    async def certificate_request(
        self, subject: x509.Name | str, alternative_names: Sequence[str] = ()
    ) -> x509.CertificateSigningRequest:
        """See `Key.certificate_request`."""
        return await self._client._drive(
            _keyflows.certificate_request(
                self._ref, subject, alternative_names, self._client._capabilities
            )
        )


class AsyncClient:
    """`Client` for asyncio: the same arguments, the same methods, awaited.

    Use it from one event loop (its pooled connections belong to that loop).
    """

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
        self.operations = AsyncOperationClient(
            endpoint,
            auth=auth,
            app_name=app_name,
            provider=provider,
            timeout=timeout,
            identity_endpoint=identity_endpoint,
            restart_wait=restart_wait,
        )
        if max_request_size < 0:
            raise UsageError("max_request_size must not be negative")
        self._provider = provider
        self._capabilities = Capabilities(max_request_size)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.operations.aclose()

    async def ping(self) -> tuple[int, int]:
        """See `Client.ping`."""
        return await self.operations.ping()

    async def generate_key(
        self, name: str, spec: KeySpec = ECDSA_P256, *, provider: int | None = None
    ) -> AsyncKey:
        """See `Client.generate_key`."""
        chosen = self._provider if provider is None else provider
        flow = _keyflows.generate(name, spec, chosen, self._capabilities)
        return AsyncKey(self, await self._drive(flow))

    async def import_key(
        self,
        name: str,
        key: ImportableKey,
        spec: KeySpec | None = None,
        *,
        provider: int | None = None,
    ) -> AsyncKey:
        """See `Client.import_key`."""
        from tessera.client._importing import attributes_and_data

        attributes, data = attributes_and_data(key, spec)
        chosen = self._provider if provider is None else provider
        flow = _keyflows.import_key(name, attributes, data, chosen, self._capabilities)
        return AsyncKey(self, await self._drive(flow))

    async def key(self, name: str) -> AsyncKey:
        """See `Client.key`."""
        return AsyncKey(self, await self._drive(_keyflows.lookup(name, self._capabilities)))

    async def keys(self) -> list[AsyncKey]:
        """See `Client.keys`."""
        infos = await self.operations.list_keys()
        return [AsyncKey(self, KeyRef(k.name, k.provider_id, k.attributes)) for k in infos]

    async def random(self, size: int) -> bytes:
        """See `Client.random`."""
        return await self.operations.psa_generate_random(size)

    async def digest(self, data: bytes, algorithm: Algorithm.Hash = Algorithm.SHA_256) -> bytes:
        """See `Client.digest`."""
        flow = _keyflows.digest(self._provider, algorithm, data, self._capabilities)
        return await self._drive(flow)

    async def _drive(self, flow: Generator[Call[Any], Any, T]) -> T:
        """Run a flow of calls, feeding each result (or failure) back into it."""
        try:
            call = next(flow)
            while True:
                try:
                    result = await self.operations._execute(call)
                except TesseraError as error:
                    call = flow.throw(error)
                    continue
                call = flow.send(result)
        except StopIteration as done:
            value: T = done.value
            return value
