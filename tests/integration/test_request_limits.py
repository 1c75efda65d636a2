"""Inputs over the service's request limit (issue 10, defect 1), against the real daemon.

The service refuses a request body over `body_len_limit` (1 MiB by default) from its header
alone, answers BODY_SIZE_EXCEEDS_LIMIT and closes without reading the rest. Both transports
must read that answer although writing the request then fails (EPIPE); the idiomatic clients
sign, verify and hash any size by digests made here, and refuse the rest with the sizes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import tessera
from tessera.client import specs
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tests.integration.client_support import psa_to_der, short_dir
from tests.support import RunningService, running_service

pytestmark = pytest.mark.integration

BIG = 2_000_000  # over the default 1 MiB body limit
HUGE = 5_000_000
LIMIT = 1 << 20


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    with short_dir() as state, running_service(state, "--auth", "direct,unix-peer") as running:
        yield running


@pytest.fixture(scope="module")
def endpoint(service: RunningService) -> str:
    return f"unix:{service.socket_path}"


@pytest.fixture
def client(endpoint: str) -> Iterator[tessera.Client]:
    with tessera.Client(endpoint, app_name="big-inputs") as made:
        yield made


def _name(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}"


# the transports: the service's status always arrives


def test_sync_transport_reads_the_refusal_of_a_request_too_big(endpoint: str) -> None:
    with tessera.OperationClient(endpoint, app_name="big-inputs") as ops:
        for _ in range(3):  # each on a fresh or pooled connection: never "closed without answer"
            with pytest.raises(tessera.BodySizeExceedsLimitError):
                ops.psa_hash_compute(Algorithm.SHA_256, b"x" * HUGE)
            assert ops.ping() == (1, 0)  # and the client goes on working


def test_async_transport_reads_the_refusal_of_a_request_too_big(endpoint: str) -> None:
    async def body() -> None:
        async with tessera.AsyncOperationClient(endpoint, app_name="big-inputs") as ops:
            for _ in range(3):
                with pytest.raises(tessera.BodySizeExceedsLimitError):
                    await ops.psa_hash_compute(Algorithm.SHA_256, b"x" * HUGE)
                assert await ops.ping() == (1, 0)

    asyncio.run(body())


# the idiomatic clients: any size is signed, verified and hashed


@pytest.mark.parametrize("size", [BIG, HUGE])
def test_sign_and_verify_any_size(client: tessera.Client, size: int) -> None:
    key = client.generate_key(_name("big-sign"))
    message = os.urandom(size)
    signature = key.sign(message)
    key.verify(signature, message)
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(psa_to_der(signature), message, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(tessera.InvalidSignatureError):
        key.verify(signature, message[:-1] + bytes([message[-1] ^ 1]))


def test_digest_of_any_size(client: tessera.Client) -> None:
    data = os.urandom(HUGE)
    assert client.digest(data) == hashlib.sha256(data).digest()
    assert client.digest(data, Algorithm.SHA_512) == hashlib.sha512(data).digest()


def test_async_sign_verify_and_digest_of_any_size(endpoint: str) -> None:
    async def body() -> None:
        async with tessera.AsyncClient(endpoint, app_name="big-inputs") as client:
            key = await client.generate_key(_name("async-big"))
            message = os.urandom(BIG)
            await key.verify(await key.sign(message), message)
            assert await client.digest(message) == hashlib.sha256(message).digest()
            mac_key = await client.generate_key(_name("async-mac"), tessera.HMAC_SHA256)
            with pytest.raises(tessera.BodySizeExceedsLimitError, match=f"input is {BIG} bytes"):
                await mac_key.mac(message)

    asyncio.run(body())


# no sound fallback: refused before sending, with the sizes


@pytest.mark.parametrize(
    ("spec", "use"),
    [
        (tessera.HMAC_SHA256, lambda key, data: key.mac(data)),
        (tessera.HMAC_SHA256, lambda key, data: key.verify_mac(data, b"t" * 32)),
        (tessera.AES_256_GCM, lambda key, data: key.encrypt(data)),
        (tessera.AES_256_GCM, lambda key, data: key.decrypt(data)),
    ],
)
def test_no_fallback_is_refused_with_the_sizes(
    client: tessera.Client, spec: tessera.KeySpec, use: Callable[[tessera.Key, bytes], object]
) -> None:
    key = client.generate_key(_name("big-none"), spec)
    message = f"input is {BIG} bytes, the service accepts requests of at most {LIMIT} bytes"
    with pytest.raises(tessera.BodySizeExceedsLimitError, match=message):
        use(key, b"x" * BIG)


def test_message_only_key_is_refused_with_the_reason(client: tessera.Client) -> None:
    attributes = tessera.ECDSA_P256.attributes()
    attributes.key_policy.key_usage_flags.sign_hash = False
    attributes.key_policy.key_usage_flags.verify_hash = False
    name = _name("message-only")
    client.operations.psa_generate_key(name, attributes)
    key = client.key(name)
    key.verify(key.sign(b"small"), b"small")  # small messages go by PsaSignMessage
    with pytest.raises(tessera.BodySizeExceedsLimitError, match="does not permit sign_hash"):
        key.sign(b"x" * BIG)


def test_a_service_with_a_lower_limit(short_tmp: Path) -> None:
    """The client was told 1 MiB, the service takes 64 KiB: the refusal itself reroutes."""
    config = short_tmp / "config.toml"
    config.write_text("[core_settings]\nbody_len_limit = 65536\n")
    with running_service(short_tmp, "--auth", "direct", config=config) as limited:
        with tessera.Client(f"unix:{limited.socket_path}", app_name="lower") as client:
            data = os.urandom(100_000)
            key = client.generate_key("signing")
            key.verify(key.sign(data), data)
            assert client.digest(data) == hashlib.sha256(data).digest()
            mac_key = client.generate_key("mac", tessera.HMAC_SHA256)
            with pytest.raises(
                tessera.BodySizeExceedsLimitError,
                match="input is 100000 bytes, over the service's request size limit",
            ):
                mac_key.mac(data)
        # told the service's real limit, the client refuses before sending
        with (
            tessera.Client(
                f"unix:{limited.socket_path}", app_name="lower", max_request_size=65536
            ) as told,
            pytest.raises(tessera.BodySizeExceedsLimitError, match="at most 65536 bytes"),
        ):
            told.key("mac").mac(data)


def test_rsa_pss_any_size(client: tessera.Client) -> None:
    key = client.generate_key(_name("big-pss"), specs.rsa_pss(2048))
    message = os.urandom(BIG)
    key.verify(key.sign(message), message)
