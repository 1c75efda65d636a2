"""The operation layer: one method per Parsec opcode, with every PSA knob.

`OperationClient` blocks; `AsyncOperationClient` is the same API for asyncio. Both drive the same
sans-I/O flows (`_protocol.flow`) and call builders (`_calls`): this module holds no encoding.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar

from tessera.client import _calls
from tessera.client._auth import NoAuth
from tessera.client._calls import AuthenticatorInfo, KeyInfo, ProviderInfo
from tessera.client._choice import choose_authentication, default_provider
from tessera.client._endpoint import (
    IDENTITY_ENDPOINT_ENV,
    resolve_identity_endpoint,
    resolve_service_endpoint,
)
from tessera.client._errors import CallTimeoutError, TesseraError, UsageError
from tessera.client._patience import Patience
from tessera.client._patience import restart_wait as _restart_wait
from tessera.client._protocol import Authentication, Call, Flow, Pause, Target, flow
from tessera.client._token import TokenAuth
from tessera.client._transport import IDENTITY_PROVIDER, SyncTransport

# Imported where used: asyncio by the async client only, each operation's messages by its call.
if TYPE_CHECKING:
    from tessera.client._async_transport import AsyncTransport
    from tessera.wire.proto.attest_key_pb2 import AttestationMechanismParams, AttestationOutput
    from tessera.wire.proto.can_do_crypto_pb2 import CheckType
    from tessera.wire.proto.prepare_key_attestation_pb2 import (
        PrepareKeyAttestationOutput,
        PrepareKeyAttestationParams,
    )
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0

Endpoint = str | os.PathLike[str] | None


def _remaining(deadline: float) -> float:
    """Seconds left for a call; CallTimeoutError once its budget is spent."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise CallTimeoutError("the call did not complete within the timeout")
    return left


def _outlasts(pause: Pause, deadline: float) -> CallTimeoutError | None:
    """The error to throw into a flow whose pause would end after the call's deadline."""
    if time.monotonic() + pause.seconds < deadline:
        return None
    return CallTimeoutError("the call did not complete within the timeout")


class _Settings:
    """What both clients are configured with."""

    def __init__(
        self,
        endpoint: Endpoint,
        auth: Authentication | None,
        app_name: str | None,
        provider: int | None,
        timeout: float,
        *,
        identity_endpoint: Endpoint = None,
        restart_wait: float | None = None,
    ) -> None:
        if timeout <= 0:
            raise UsageError("timeout must be positive")
        self.restart_wait = _restart_wait(restart_wait)
        self.identity_path = resolve_identity_endpoint(identity_endpoint)
        # Given explicitly or by the orchestrator: this process is meant to use tokens.
        self.identity_committed = identity_endpoint is not None or bool(
            os.environ.get(IDENTITY_ENDPOINT_ENV)
        )
        self.socket_path: Path = resolve_service_endpoint(endpoint)
        self.auth = auth
        self.app_name = app_name
        self.provider = provider
        self.timeout = timeout


class OperationClient:
    """Every Parsec operation, blocking. Safe to share between threads.

    `endpoint` is a `unix:` URI or a socket path (default: `PARSEC_SERVICE_ENDPOINT`, then the
    documented defaults); `auth` defaults to the best the service accepts (see `tessera.Client`);
    `provider` defaults to the service's first crypto provider; `timeout` and `restart_wait` are
    as for `tessera.Client`.
    """

    def __init__(
        self,
        endpoint: Endpoint = None,
        *,
        auth: Authentication | None = None,
        app_name: str | None = None,
        provider: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        identity_endpoint: Endpoint = None,
        restart_wait: float | None = None,
    ) -> None:
        self._settings = _Settings(
            endpoint,
            auth,
            app_name,
            provider,
            timeout,
            identity_endpoint=identity_endpoint,
            restart_wait=restart_wait,
        )
        self._transport = SyncTransport(self._settings.socket_path, timeout=timeout)
        self._identity: SyncTransport | None = None

    @property
    def socket_path(self) -> Path:
        """The service socket this client talks to."""
        return self._settings.socket_path

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()
        if self._identity is not None:
            self._identity.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def auth(self) -> Authentication:
        """The authentication in use (chosen on first need)."""
        if self._settings.auth is None:
            active = [a.id for a in self._run_as(_calls.list_authenticators(), None)]
            self._settings.auth = choose_authentication(
                active, app_name=self._settings.app_name, token_auth=self._token_auth()
            )
        return self._settings.auth

    def _token_auth(self) -> TokenAuth | None:
        """Token authentication if an identity provider serves this process."""
        if self._settings.identity_path is None:
            return None
        if self._settings.identity_committed:
            return TokenAuth()
        probe = TokenAuth()  # a default socket nearby: use it only if it knows us (asked once)
        try:
            self._drive(probe.credentials(), time.monotonic() + self._settings.timeout)
        except TesseraError:
            return None
        return probe

    def _provider(self, explicit: int | None) -> int:
        if explicit is not None:
            return explicit
        if self._settings.provider is None:
            self._settings.provider = default_provider(self.list_providers())
        return self._settings.provider

    def _execute(self, call: Call[T]) -> T:
        auth = self.auth if call.opcode.needs_auth else None
        return self._run_as(call, auth)

    def _run_as(self, call: Call[T], auth: Authentication | None) -> T:
        deadline = time.monotonic() + self._settings.timeout  # one budget for the whole call
        patience = Patience(self._settings.restart_wait)
        return self._drive(flow(call, auth or NoAuth(), patience), deadline)

    def _drive(self, steps: Flow[T], deadline: float) -> T:
        """Run a flow: send its exchanges to the right daemon, honour its pauses, and throw
        every failure back into it (it decides what to try again)."""
        try:
            step = next(steps)
            while True:
                if isinstance(step, Pause):
                    late = _outlasts(step, deadline)
                    if late is not None:
                        step = steps.throw(late)
                        continue
                    time.sleep(step.seconds)
                    step = steps.send(None)
                    continue
                try:
                    transport = self._transport
                    if step.target is Target.IDENTITY:
                        transport = self._identity_transport()
                    frame = transport.exchange(
                        step.data, _remaining(deadline), idempotent=step.idempotent
                    )
                except TesseraError as error:
                    step = steps.throw(error)
                    continue
                step = steps.send(frame)
        except StopIteration as done:
            result: T = done.value
            return result

    def _identity_transport(self) -> SyncTransport:
        if self._identity is None:
            path = self._settings.identity_path
            if path is None:
                raise UsageError("no identity provider endpoint (TESSERA_IDENTITY_ENDPOINT)")
            self._identity = SyncTransport(
                path, timeout=self._settings.timeout, role=IDENTITY_PROVIDER
            )
        return self._identity

    def ping(self) -> tuple[int, int]:
        """The wire protocol version (major, minor) the service speaks."""
        return self._execute(_calls.ping())

    def list_providers(self) -> list[ProviderInfo]:
        """Every provider, in priority order (the core provider last)."""
        return self._execute(_calls.list_providers())

    def list_opcodes(self, provider_id: int) -> list[int]:
        """The opcodes one provider serves."""
        return self._execute(_calls.list_opcodes(provider_id))

    def list_authenticators(self) -> list[AuthenticatorInfo]:
        """The service's active authenticators."""
        return self._execute(_calls.list_authenticators())

    def list_keys(self) -> list[KeyInfo]:
        """This application's keys in every provider."""
        return self._execute(_calls.list_keys())

    def list_clients(self) -> list[str]:
        """Every application that owns keys (administrators only)."""
        return self._execute(_calls.list_clients())

    def delete_client(self, client: str) -> None:
        """Delete every key of an application (administrators only)."""
        return self._execute(_calls.delete_client(client))

    def psa_generate_key(
        self, name: str, attributes: KeyAttributes, *, provider: int | None = None
    ) -> None:
        """PsaGenerateKey."""
        return self._execute(_calls.generate_key(self._provider(provider), name, attributes))

    def psa_import_key(
        self, name: str, attributes: KeyAttributes, data: bytes, *, provider: int | None = None
    ) -> None:
        """PsaImportKey (`data` in the PSA format of the key type)."""
        return self._execute(_calls.import_key(self._provider(provider), name, attributes, data))

    def psa_export_key(self, name: str, *, provider: int | None = None) -> bytes:
        """PsaExportKey."""
        return self._execute(_calls.export_key(self._provider(provider), name))

    def psa_export_public_key(self, name: str, *, provider: int | None = None) -> bytes:
        """PsaExportPublicKey."""
        return self._execute(_calls.export_public_key(self._provider(provider), name))

    def psa_destroy_key(self, name: str, *, provider: int | None = None) -> None:
        """PsaDestroyKey."""
        return self._execute(_calls.destroy_key(self._provider(provider), name))

    def psa_sign_hash(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        digest: bytes,
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaSignHash."""
        return self._execute(_calls.sign_hash(self._provider(provider), name, alg, digest))

    def psa_verify_hash(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        digest: bytes,
        signature: bytes,
        *,
        provider: int | None = None,
    ) -> None:
        """PsaVerifyHash; raises InvalidSignatureError if it does not verify."""
        return self._execute(
            _calls.verify_hash(self._provider(provider), name, alg, digest, signature)
        )

    def psa_sign_message(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        message: bytes,
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaSignMessage."""
        return self._execute(_calls.sign_message(self._provider(provider), name, alg, message))

    def psa_verify_message(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        message: bytes,
        signature: bytes,
        *,
        provider: int | None = None,
    ) -> None:
        """PsaVerifyMessage; raises InvalidSignatureError if it does not verify."""
        return self._execute(
            _calls.verify_message(self._provider(provider), name, alg, message, signature)
        )

    def psa_asymmetric_encrypt(
        self,
        name: str,
        alg: Algorithm.AsymmetricEncryption,
        plaintext: bytes,
        salt: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAsymmetricEncrypt (`salt` is the OAEP label)."""
        return self._execute(
            _calls.asymmetric_encrypt(self._provider(provider), name, alg, plaintext, salt)
        )

    def psa_asymmetric_decrypt(
        self,
        name: str,
        alg: Algorithm.AsymmetricEncryption,
        ciphertext: bytes,
        salt: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAsymmetricDecrypt."""
        return self._execute(
            _calls.asymmetric_decrypt(self._provider(provider), name, alg, ciphertext, salt)
        )

    def psa_aead_encrypt(
        self,
        name: str,
        alg: Algorithm.Aead,
        nonce: bytes,
        plaintext: bytes,
        aad: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAeadEncrypt: ciphertext with the tag appended."""
        return self._execute(
            _calls.aead_encrypt(
                self._provider(provider), name, alg, nonce=nonce, aad=aad, plaintext=plaintext
            )
        )

    def psa_aead_decrypt(
        self,
        name: str,
        alg: Algorithm.Aead,
        nonce: bytes,
        ciphertext: bytes,
        aad: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAeadDecrypt; raises InvalidSignatureError if the tag does not verify."""
        return self._execute(
            _calls.aead_decrypt(
                self._provider(provider), name, alg, nonce=nonce, aad=aad, ciphertext=ciphertext
            )
        )

    def psa_cipher_encrypt(
        self, name: str, alg: Algorithm.Cipher, plaintext: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaCipherEncrypt: the IV (chosen by the service) comes first in the result."""
        return self._execute(_calls.cipher_encrypt(self._provider(provider), name, alg, plaintext))

    def psa_cipher_decrypt(
        self, name: str, alg: Algorithm.Cipher, ciphertext: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaCipherDecrypt: `ciphertext` starts with the IV."""
        return self._execute(_calls.cipher_decrypt(self._provider(provider), name, alg, ciphertext))

    def psa_mac_compute(
        self, name: str, alg: Algorithm.Mac, data: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaMacCompute."""
        return self._execute(_calls.mac_compute(self._provider(provider), name, alg, data))

    def psa_mac_verify(
        self, name: str, alg: Algorithm.Mac, data: bytes, mac: bytes, *, provider: int | None = None
    ) -> None:
        """PsaMacVerify; raises InvalidSignatureError if the MAC does not verify."""
        return self._execute(_calls.mac_verify(self._provider(provider), name, alg, data, mac))

    def psa_hash_compute(
        self, alg: Algorithm.Hash, data: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaHashCompute."""
        return self._execute(_calls.hash_compute(self._provider(provider), alg, data))

    def psa_hash_compare(
        self, alg: Algorithm.Hash, data: bytes, digest: bytes, *, provider: int | None = None
    ) -> None:
        """PsaHashCompare; raises InvalidSignatureError if the digest differs."""
        return self._execute(_calls.hash_compare(self._provider(provider), alg, data, digest))

    def psa_generate_random(self, size: int, *, provider: int | None = None) -> bytes:
        """PsaGenerateRandom."""
        return self._execute(_calls.generate_random(self._provider(provider), size))

    def psa_raw_key_agreement(
        self,
        alg: Algorithm.KeyAgreement.Raw,
        name: str,
        peer_key: bytes,
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaRawKeyAgreement: the shared secret with a peer public key."""
        return self._execute(
            _calls.raw_key_agreement(self._provider(provider), alg, name, peer_key)
        )

    def can_do_crypto(
        self, check_type: CheckType, attributes: KeyAttributes, *, provider: int | None = None
    ) -> None:
        """CanDoCrypto; raises NotSupportedError when the provider cannot."""
        return self._execute(_calls.can_do_crypto(self._provider(provider), check_type, attributes))

    def prepare_key_attestation(
        self, params: PrepareKeyAttestationParams, *, provider: int | None = None
    ) -> PrepareKeyAttestationOutput:
        """PrepareKeyAttestation."""
        return self._execute(_calls.prepare_key_attestation(self._provider(provider), params))

    def attest_key(
        self,
        attested_key: str,
        params: AttestationMechanismParams,
        attesting_key: str = "",
        *,
        provider: int | None = None,
    ) -> AttestationOutput:
        """AttestKey."""
        return self._execute(
            _calls.attest_key(self._provider(provider), attested_key, params, attesting_key)
        )


class AsyncOperationClient:
    """Every Parsec operation, for asyncio. Use from one event loop."""

    def __init__(
        self,
        endpoint: Endpoint = None,
        *,
        auth: Authentication | None = None,
        app_name: str | None = None,
        provider: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        identity_endpoint: Endpoint = None,
        restart_wait: float | None = None,
    ) -> None:
        self._settings = _Settings(
            endpoint,
            auth,
            app_name,
            provider,
            timeout,
            identity_endpoint=identity_endpoint,
            restart_wait=restart_wait,
        )
        from tessera.client._async_transport import AsyncTransport

        self._transport = AsyncTransport(self._settings.socket_path, timeout=timeout)
        self._identity: AsyncTransport | None = None

    @property
    def socket_path(self) -> Path:
        """The service socket this client talks to."""
        return self._settings.socket_path

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._transport.aclose()
        if self._identity is not None:
            await self._identity.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def get_auth(self) -> Authentication:
        """The authentication in use (chosen on first need)."""
        if self._settings.auth is None:
            active = [a.id for a in await self._run_as(_calls.list_authenticators(), None)]
            self._settings.auth = choose_authentication(
                active, app_name=self._settings.app_name, token_auth=await self._token_auth()
            )
        return self._settings.auth

    async def _token_auth(self) -> TokenAuth | None:
        """Token authentication if an identity provider serves this process."""
        if self._settings.identity_path is None:
            return None
        if self._settings.identity_committed:
            return TokenAuth()
        probe = TokenAuth()  # asked once, as in OperationClient
        try:
            await self._drive(probe.credentials(), time.monotonic() + self._settings.timeout)
        except TesseraError:
            return None
        return probe

    async def _provider(self, explicit: int | None) -> int:
        if explicit is not None:
            return explicit
        if self._settings.provider is None:
            self._settings.provider = default_provider(await self.list_providers())
        return self._settings.provider

    async def _execute(self, call: Call[T]) -> T:
        auth = await self.get_auth() if call.opcode.needs_auth else None
        return await self._run_as(call, auth)

    async def _run_as(self, call: Call[T], auth: Authentication | None) -> T:
        deadline = time.monotonic() + self._settings.timeout  # one budget for the whole call
        patience = Patience(self._settings.restart_wait)
        return await self._drive(flow(call, auth or NoAuth(), patience), deadline)

    async def _drive(self, steps: Flow[T], deadline: float) -> T:
        """Run a flow as `OperationClient._drive` does, awaiting instead of blocking."""
        import asyncio  # loaded with the async transport already: a dictionary lookup

        try:
            step = next(steps)
            while True:
                if isinstance(step, Pause):
                    late = _outlasts(step, deadline)
                    if late is not None:
                        step = steps.throw(late)
                        continue
                    await asyncio.sleep(step.seconds)
                    step = steps.send(None)
                    continue
                try:
                    transport = self._transport
                    if step.target is Target.IDENTITY:
                        transport = self._identity_transport()
                    frame = await transport.exchange(
                        step.data, _remaining(deadline), idempotent=step.idempotent
                    )
                except TesseraError as error:
                    step = steps.throw(error)
                    continue
                step = steps.send(frame)
        except StopIteration as done:
            result: T = done.value
            return result

    def _identity_transport(self) -> AsyncTransport:
        if self._identity is None:
            path = self._settings.identity_path
            if path is None:
                raise UsageError("no identity provider endpoint (TESSERA_IDENTITY_ENDPOINT)")
            from tessera.client._async_transport import AsyncTransport

            self._identity = AsyncTransport(
                path, timeout=self._settings.timeout, role=IDENTITY_PROVIDER
            )
        return self._identity

    async def ping(self) -> tuple[int, int]:
        """The wire protocol version (major, minor) the service speaks."""
        return await self._execute(_calls.ping())

    async def list_providers(self) -> list[ProviderInfo]:
        """Every provider, in priority order (the core provider last)."""
        return await self._execute(_calls.list_providers())

    async def list_opcodes(self, provider_id: int) -> list[int]:
        """The opcodes one provider serves."""
        return await self._execute(_calls.list_opcodes(provider_id))

    async def list_authenticators(self) -> list[AuthenticatorInfo]:
        """The service's active authenticators."""
        return await self._execute(_calls.list_authenticators())

    async def list_keys(self) -> list[KeyInfo]:
        """This application's keys in every provider."""
        return await self._execute(_calls.list_keys())

    async def list_clients(self) -> list[str]:
        """Every application that owns keys (administrators only)."""
        return await self._execute(_calls.list_clients())

    async def delete_client(self, client: str) -> None:
        """Delete every key of an application (administrators only)."""
        return await self._execute(_calls.delete_client(client))

    async def psa_generate_key(
        self, name: str, attributes: KeyAttributes, *, provider: int | None = None
    ) -> None:
        """PsaGenerateKey."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.generate_key(provider_id, name, attributes))

    async def psa_import_key(
        self, name: str, attributes: KeyAttributes, data: bytes, *, provider: int | None = None
    ) -> None:
        """PsaImportKey (`data` in the PSA format of the key type)."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.import_key(provider_id, name, attributes, data))

    async def psa_export_key(self, name: str, *, provider: int | None = None) -> bytes:
        """PsaExportKey."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.export_key(provider_id, name))

    async def psa_export_public_key(self, name: str, *, provider: int | None = None) -> bytes:
        """PsaExportPublicKey."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.export_public_key(provider_id, name))

    async def psa_destroy_key(self, name: str, *, provider: int | None = None) -> None:
        """PsaDestroyKey."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.destroy_key(provider_id, name))

    async def psa_sign_hash(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        digest: bytes,
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaSignHash."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.sign_hash(provider_id, name, alg, digest))

    async def psa_verify_hash(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        digest: bytes,
        signature: bytes,
        *,
        provider: int | None = None,
    ) -> None:
        """PsaVerifyHash; raises InvalidSignatureError if it does not verify."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.verify_hash(provider_id, name, alg, digest, signature))

    async def psa_sign_message(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        message: bytes,
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaSignMessage."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.sign_message(provider_id, name, alg, message))

    async def psa_verify_message(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        message: bytes,
        signature: bytes,
        *,
        provider: int | None = None,
    ) -> None:
        """PsaVerifyMessage; raises InvalidSignatureError if it does not verify."""
        provider_id = await self._provider(provider)
        return await self._execute(
            _calls.verify_message(provider_id, name, alg, message, signature)
        )

    async def psa_asymmetric_encrypt(
        self,
        name: str,
        alg: Algorithm.AsymmetricEncryption,
        plaintext: bytes,
        salt: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAsymmetricEncrypt (`salt` is the OAEP label)."""
        provider_id = await self._provider(provider)
        return await self._execute(
            _calls.asymmetric_encrypt(provider_id, name, alg, plaintext, salt)
        )

    async def psa_asymmetric_decrypt(
        self,
        name: str,
        alg: Algorithm.AsymmetricEncryption,
        ciphertext: bytes,
        salt: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAsymmetricDecrypt."""
        provider_id = await self._provider(provider)
        return await self._execute(
            _calls.asymmetric_decrypt(provider_id, name, alg, ciphertext, salt)
        )

    async def psa_aead_encrypt(
        self,
        name: str,
        alg: Algorithm.Aead,
        nonce: bytes,
        plaintext: bytes,
        aad: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAeadEncrypt: ciphertext with the tag appended."""
        provider_id = await self._provider(provider)
        return await self._execute(
            _calls.aead_encrypt(provider_id, name, alg, nonce=nonce, aad=aad, plaintext=plaintext)
        )

    async def psa_aead_decrypt(
        self,
        name: str,
        alg: Algorithm.Aead,
        nonce: bytes,
        ciphertext: bytes,
        aad: bytes = b"",
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaAeadDecrypt; raises InvalidSignatureError if the tag does not verify."""
        provider_id = await self._provider(provider)
        return await self._execute(
            _calls.aead_decrypt(provider_id, name, alg, nonce=nonce, aad=aad, ciphertext=ciphertext)
        )

    async def psa_cipher_encrypt(
        self, name: str, alg: Algorithm.Cipher, plaintext: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaCipherEncrypt: the IV (chosen by the service) comes first in the result."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.cipher_encrypt(provider_id, name, alg, plaintext))

    async def psa_cipher_decrypt(
        self, name: str, alg: Algorithm.Cipher, ciphertext: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaCipherDecrypt: `ciphertext` starts with the IV."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.cipher_decrypt(provider_id, name, alg, ciphertext))

    async def psa_mac_compute(
        self, name: str, alg: Algorithm.Mac, data: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaMacCompute."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.mac_compute(provider_id, name, alg, data))

    async def psa_mac_verify(
        self, name: str, alg: Algorithm.Mac, data: bytes, mac: bytes, *, provider: int | None = None
    ) -> None:
        """PsaMacVerify; raises InvalidSignatureError if the MAC does not verify."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.mac_verify(provider_id, name, alg, data, mac))

    async def psa_hash_compute(
        self, alg: Algorithm.Hash, data: bytes, *, provider: int | None = None
    ) -> bytes:
        """PsaHashCompute."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.hash_compute(provider_id, alg, data))

    async def psa_hash_compare(
        self, alg: Algorithm.Hash, data: bytes, digest: bytes, *, provider: int | None = None
    ) -> None:
        """PsaHashCompare; raises InvalidSignatureError if the digest differs."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.hash_compare(provider_id, alg, data, digest))

    async def psa_generate_random(self, size: int, *, provider: int | None = None) -> bytes:
        """PsaGenerateRandom."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.generate_random(provider_id, size))

    async def psa_raw_key_agreement(
        self,
        alg: Algorithm.KeyAgreement.Raw,
        name: str,
        peer_key: bytes,
        *,
        provider: int | None = None,
    ) -> bytes:
        """PsaRawKeyAgreement: the shared secret with a peer public key."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.raw_key_agreement(provider_id, alg, name, peer_key))

    async def can_do_crypto(
        self, check_type: CheckType, attributes: KeyAttributes, *, provider: int | None = None
    ) -> None:
        """CanDoCrypto; raises NotSupportedError when the provider cannot."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.can_do_crypto(provider_id, check_type, attributes))

    async def prepare_key_attestation(
        self, params: PrepareKeyAttestationParams, *, provider: int | None = None
    ) -> PrepareKeyAttestationOutput:
        """PrepareKeyAttestation."""
        provider_id = await self._provider(provider)
        return await self._execute(_calls.prepare_key_attestation(provider_id, params))

    async def attest_key(
        self,
        attested_key: str,
        params: AttestationMechanismParams,
        attesting_key: str = "",
        *,
        provider: int | None = None,
    ) -> AttestationOutput:
        """AttestKey."""
        provider_id = await self._provider(provider)
        return await self._execute(
            _calls.attest_key(provider_id, attested_key, params, attesting_key)
        )
