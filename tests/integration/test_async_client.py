"""The asyncio client against the real daemon: the same API as the blocking one, lighter
coverage (both drive the same flows), plus concurrency, reconnects, timeouts and cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import cryptography.exceptions
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import tessera
from tessera.client import specs
from tessera.client._protocol import Credentials, Flow
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import can_do_crypto_pb2
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tests.integration.client_support import (
    AEAD_SPECS,
    SIGNING_SPECS,
    FakeServer,
    OneShotProxy,
    never_answer,
    psa_to_der,
    short_dir,
    verify_locally,
)
from tests.support import RunningService, running_service, start_service, stop_service

pytestmark = pytest.mark.integration

T = TypeVar("T")
SERVICE_ARGS = ("--auth", "direct,unix-peer", "--admin", "direct:admin")
_names = itertools.count()


def unique(prefix: str) -> str:
    """A key name no other test in this module uses."""
    return f"{prefix}-{next(_names)}"


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    """One daemon for the module."""
    with short_dir() as state, running_service(state, *SERVICE_ARGS) as running:
        yield running


@pytest.fixture(scope="module")
def endpoint(service: RunningService) -> str:
    """The module's service as a `unix:` URI."""
    return f"unix:{service.socket_path}"


def with_client(
    endpoint: str, body: Callable[[tessera.AsyncClient], Awaitable[T]], **options: float
) -> T:
    """Run `body` with a fresh AsyncClient in a fresh event loop."""

    async def main() -> T:
        async with tessera.AsyncClient(endpoint, **options) as client:  # type: ignore[arg-type]
            return await body(client)

    return asyncio.run(main())


@pytest.mark.parametrize("spec", SIGNING_SPECS, ids=lambda s: s.name)
def test_signing_specs(endpoint: str, spec: specs.KeySpec) -> None:
    async def body(client: tessera.AsyncClient) -> None:
        name = unique(spec.name)
        key = await client.generate_key(name, spec)
        assert key.provider == 1
        signature = await key.sign(b"data")
        await key.verify(signature, b"data")
        with pytest.raises(cryptography.exceptions.InvalidSignature):
            await key.verify(signature, b"other")
        verify_locally(await key.public_key(), spec, signature, b"data")
        csr = await key.certificate_request("CN=async")
        assert csr.is_signature_valid
        assert csr.subject.rfc4514_string() == "CN=async"
        same = await client.key(name)
        await same.verify(signature, b"data")
        with pytest.raises(tessera.NotPermittedError):
            await key.export()
        await key.destroy()
        with pytest.raises(tessera.DoesNotExistError, match=name):
            await client.key(name)

    with_client(endpoint, body)


@pytest.mark.parametrize("spec", AEAD_SPECS, ids=lambda s: s.name)
def test_aead_specs(endpoint: str, spec: specs.KeySpec) -> None:
    async def body(client: tessera.AsyncClient) -> None:
        key = await client.generate_key(unique(spec.name), spec)
        sealed = await key.encrypt(b"pt", b"ad")
        assert await key.decrypt(sealed, b"ad") == b"pt"
        with pytest.raises(tessera.InvalidSignatureError):
            await key.decrypt(sealed, b"other")

    with_client(endpoint, body)


def test_other_key_kinds(endpoint: str) -> None:
    async def body(client: tessera.AsyncClient) -> None:
        mac_key = await client.generate_key(unique("hmac"), tessera.HMAC_SHA256)
        tag = await mac_key.mac(b"data")
        await mac_key.verify_mac(b"data", tag)
        with pytest.raises(tessera.InvalidSignatureError):
            await mac_key.verify_mac(b"data", bytes(32))

        oaep = await client.generate_key(unique("oaep"), specs.rsa_oaep(2048))
        public = await oaep.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        scheme = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        assert await oaep.decrypt(public.encrypt(b"secret", scheme)) == b"secret"
        assert await oaep.decrypt(await oaep.encrypt(b"again")) == b"again"

        ecdh = await client.generate_key(unique("ecdh"), tessera.ECDH_P256)
        peer = ec.generate_private_key(ec.SECP256R1())
        ecdh_public = await ecdh.public_key()
        assert isinstance(ecdh_public, ec.EllipticCurvePublicKey)
        assert await ecdh.agree(peer.public_key()) == peer.exchange(ec.ECDH(), ecdh_public)

        x = await client.generate_key(unique("x25519"), tessera.X25519)
        x_peer = x25519.X25519PrivateKey.generate()
        x_public = await x.public_key()
        assert isinstance(x_public, x25519.X25519PublicKey)
        assert await x.agree(x_peer.public_key()) == x_peer.exchange(x_public)

        assert len(await client.random(16)) == 16
        assert await client.digest(b"abc") == hashlib.sha256(b"abc").digest()
        names = {k.name for k in await client.keys()}
        assert {mac_key.name, oaep.name, ecdh.name, x.name} <= names

    with_client(endpoint, body)


def test_imports(endpoint: str) -> None:
    async def body(client: tessera.AsyncClient) -> None:
        private = ec.generate_private_key(ec.SECP384R1())
        key = await client.import_key(unique("imported"), private)
        signature = await key.sign(b"data")
        private.public_key().verify(psa_to_der(signature), b"data", ec.ECDSA(hashes.SHA384()))
        secret = AESGCM.generate_key(128)
        aes = await client.import_key(unique("aes"), secret, tessera.AES_256_GCM)
        assert aes.attributes.key_bits == 128
        sealed = await aes.encrypt(b"pt")
        assert AESGCM(secret).decrypt(sealed[:12], sealed[12:], b"") == b"pt"

    with_client(endpoint, body)


def test_errors(endpoint: str) -> None:
    async def body(client: tessera.AsyncClient) -> None:
        name = unique("dup")
        await client.generate_key(name)
        with pytest.raises(tessera.AlreadyExistsError, match=name):
            await client.generate_key(name)
        key = await client.key(name)
        with pytest.raises(tessera.UsageError):
            await key.encrypt(b"x")

    with_client(endpoint, body)

    class Refreshing:
        def __init__(self) -> None:
            self.fetched = 0

        def credentials(self) -> Flow[Credentials | None]:
            self.fetched += 1
            return Credentials(AuthType.DIRECT, b"" if self.fetched == 1 else b"async-app")
            yield

        def invalidate(self) -> bool:
            return True

    async def operations() -> None:
        async with tessera.AsyncOperationClient(endpoint, auth=tessera.NoAuth()) as anonymous:
            with pytest.raises(tessera.NotAuthenticatedError):
                await anonymous.list_keys()
        refreshing = Refreshing()
        async with tessera.AsyncOperationClient(endpoint, auth=refreshing) as ops:
            assert await ops.list_keys() == []
            assert refreshing.fetched == 2  # refused once, refreshed once
            with pytest.raises(tessera.AdminOperationError):
                await ops.list_clients()
            with pytest.raises(tessera.ProviderDoesNotExistError):
                await ops.psa_generate_random(4, provider=9)

    asyncio.run(operations())


def test_operation_layer(endpoint: str) -> None:
    async def body() -> None:
        auth = tessera.DirectAuth("async-ops")
        async with (
            tessera.AsyncOperationClient(endpoint, auth=auth) as ops,
            tessera.AsyncOperationClient(endpoint, auth=tessera.DirectAuth("admin")) as admin,
        ):
            assert await ops.ping() == (1, 0)
            assert [p.id for p in await ops.list_providers()] == [1, 0]
            assert Opcode.PSA_SIGN_MESSAGE in await ops.list_opcodes(1)
            assert [a.id for a in await ops.list_authenticators()] == [1, 3]
            assert await ops.get_auth() is auth
            attributes = tessera.ECDSA_P256.attributes()
            await ops.can_do_crypto(can_do_crypto_pb2.GENERATE, attributes)
            await ops.psa_generate_key("k", attributes)
            alg = attributes.key_policy.key_algorithm.asymmetric_signature
            digest = await ops.psa_hash_compute(Algorithm.SHA_256, b"data")
            await ops.psa_hash_compare(Algorithm.SHA_256, b"data", digest)
            signature = await ops.psa_sign_hash("k", alg, digest)
            await ops.psa_verify_hash("k", alg, digest, signature)
            point = await ops.psa_export_public_key("k")
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            public.verify(psa_to_der(signature), b"data", ec.ECDSA(hashes.SHA256()))
            assert [k.name for k in await ops.list_keys()] == ["k"]
            assert "async-ops" in await admin.list_clients()
            await admin.delete_client("async-ops")
            assert await ops.list_keys() == []

    asyncio.run(body())


def test_concurrent_tasks_share_one_client(endpoint: str) -> None:
    async def body(client: tessera.AsyncClient) -> None:
        key = await client.generate_key(unique("tasks"))
        public = await key.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        messages = [b"task %d" % n for n in range(200)]
        signatures = await asyncio.gather(*(key.sign(m) for m in messages))
        for message, signature in zip(messages, signatures, strict=True):
            public.verify(psa_to_der(signature), message, ec.ECDSA(hashes.SHA256()))
        assert 1 <= len(client.operations._transport._idle) <= 8

    with_client(endpoint, body)


def test_reconnects_after_a_service_restart() -> None:
    with short_dir() as state:
        first = start_service(state, *SERVICE_ARGS)
        restarted: RunningService | None = None
        try:

            async def body(client: tessera.AsyncClient) -> None:
                nonlocal restarted
                key = await client.generate_key("survivor")
                signature = await key.sign(b"before")
                stop_service(first)
                restarted = start_service(state, *SERVICE_ARGS, socket_path=first.socket_path)
                await key.verify(signature, b"before")
                stop_service(restarted)
                started = time.monotonic()
                with pytest.raises(tessera.TransportError, match="cannot reach"):
                    await key.sign(b"nobody listens")
                assert time.monotonic() - started < 1.0

            with_client(f"unix:{first.socket_path}", body, timeout=0.5)
        finally:
            stop_service(first)
            if restarted is not None:
                stop_service(restarted)


def test_parsec_style_service_closing_after_each_answer(service: RunningService) -> None:
    proxy = OneShotProxy(service.socket_path)
    with short_dir() as directory, FakeServer(directory / "p.sock", proxy) as server:

        async def body(client: tessera.AsyncClient) -> None:
            key = await client.generate_key(unique("one-shot"))
            for n in range(5):
                await key.verify(await key.sign(b"%d" % n), b"%d" % n)

        with_client(server.endpoint, body)
        assert proxy.forwarded == 15  # 5 to choose and generate, 10 uses


def test_timeout_and_cancellation() -> None:
    with short_dir() as directory, FakeServer(directory / "s.sock", never_answer) as server:

        async def body(client: tessera.AsyncClient) -> None:
            started = time.monotonic()
            with pytest.raises(tessera.CallTimeoutError):
                await client.ping()
            assert 0.25 < time.monotonic() - started < 1.0
            pending = asyncio.create_task(client.ping())
            await asyncio.sleep(0.05)
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
            assert client.operations._transport._idle == []  # nothing half-read is reused

        with_client(server.endpoint, body, timeout=0.3)


def test_environment_endpoint(service: RunningService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARSEC_SERVICE_ENDPOINT", f"unix:{service.socket_path}")

    async def body() -> tuple[int, int]:
        async with tessera.AsyncClient() as client:
            assert client.operations.socket_path == service.socket_path
            return await client.ping()

    assert asyncio.run(body()) == (1, 0)
