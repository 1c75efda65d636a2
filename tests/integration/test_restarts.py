"""Restarts of the service are invisible to a well-behaved application (docs/client.md).

Against the real daemon: a call made while the service is killed (-9) and back a second later
succeeds; and, through a proxy that loses answers as a killed service does (the request was
carried out, the answer never came), every lost answer is settled: idempotent calls are sent
again, a key creation is ours without a duplicate or a false error, a key that was there before
is still AlreadyExists, a destroyed key is gone.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import tessera
from tessera.wire.framing import encode_request
from tessera.wire.opcodes import Opcode
from tests.integration.client_support import FakeServer, read_request, short_dir
from tests.support import RunningService, running_service, start_service, stop_service

pytestmark = pytest.mark.integration

SERVICE_ARGS = ("--auth", "direct,unix-peer")
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def key_names(client: tessera.Client) -> list[str]:
    return [k.name for k in client.keys()]  # noqa: SIM118 - a client, not a dict


# a kill -9, and the service back a second later


@pytest.fixture
def own_service() -> Iterator[RunningService]:
    with short_dir() as state:
        running = start_service(state, *SERVICE_ARGS)
        try:
            yield running
        finally:
            stop_service(running)


def kill_and_restart_later(service: RunningService, delay: float) -> threading.Thread:
    """kill -9 the service now (its socket file stays behind) and start it again after `delay`
    seconds, as `tessera up` would; the fixture stops the new one."""
    service.kill()

    def restart() -> None:
        threading.Event().wait(delay)
        again = start_service(service.state_dir, *SERVICE_ARGS, socket_path=service.socket_path)
        service.process = again.process

    thread = threading.Thread(target=restart)
    thread.start()
    return thread


def test_a_call_while_the_service_is_killed_and_back_a_second_later_succeeds(
    own_service: RunningService,
) -> None:
    with tessera.Client(f"unix:{own_service.socket_path}", timeout=30) as client:
        key = client.generate_key("survivor")
        signature = key.sign(b"before")
        restarting = kill_and_restart_later(own_service, 1.0)
        try:
            key.verify(signature, b"before")  # waits for the service, then succeeds
            fresh = client.generate_key("made-after")  # a creation too
            fresh.verify(fresh.sign(b"after"), b"after")
        finally:
            restarting.join()


def test_the_async_client_waits_the_same(own_service: RunningService) -> None:
    async def body() -> None:
        async with tessera.AsyncClient(f"unix:{own_service.socket_path}", timeout=30) as client:
            key = await client.generate_key("survivor")
            restarting = kill_and_restart_later(own_service, 1.0)
            try:
                await key.verify(await key.sign(b"during"), b"during")
            finally:
                await asyncio.to_thread(restarting.join)

    asyncio.run(body())


def test_restart_wait_bounds_the_wait(own_service: RunningService) -> None:
    with tessera.Client(f"unix:{own_service.socket_path}", restart_wait=0.3) as client:
        key = client.generate_key("short-lived")
        restarting = kill_and_restart_later(own_service, 1.0)
        try:
            with pytest.raises(tessera.TransportError, match="Connection refused"):
                key.sign(b"too soon")
        finally:
            restarting.join()


# lost answers


@dataclass
class LosingProxy:
    """In front of the real service: forwards each request, and for the first `lose[opcode]`
    requests of an opcode drops the answer and hangs up, as a service killed after doing the
    work but before answering would."""

    service_socket: Path
    lose: dict[Opcode, int]
    lost: list[Opcode] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, conn: socket.socket, server: FakeServer) -> None:
        while (request := read_request(conn, server)) is not None:
            header = request.header.replace(flags=0)  # one answer, then the service closes
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
                upstream.settimeout(10)
                upstream.connect(os.fspath(self.service_socket))
                upstream.sendall(encode_request(header, request.body, request.auth))
                answer = b""
                while chunk := upstream.recv(65536):
                    answer += chunk
            opcode = Opcode(request.header.opcode)
            with self._lock:
                losing = self.lose.get(opcode, 0) > 0
                if losing:
                    self.lose[opcode] -= 1
                    self.lost.append(opcode)
            if losing:
                return  # the work is done; the answer never comes
            conn.sendall(answer)


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    with short_dir() as state, running_service(state, *SERVICE_ARGS) as running:
        yield running


@pytest.fixture
def losing(service: RunningService) -> Iterator[tuple[LosingProxy, tessera.Client]]:
    proxy = LosingProxy(service.socket_path, {})
    with (
        short_dir() as directory,
        FakeServer(directory / "p.sock", proxy) as server,
        tessera.Client(server.endpoint, timeout=30) as client,
    ):
        yield proxy, client


def test_a_lost_answer_to_a_signature_is_asked_again(
    losing: tuple[LosingProxy, tessera.Client],
) -> None:
    proxy, client = losing
    key = client.generate_key(unique("sign"))
    proxy.lose[Opcode.PSA_SIGN_MESSAGE] = 2  # on the pooled connection, then on a fresh one
    key.verify(key.sign(b"data"), b"data")
    assert proxy.lost == [Opcode.PSA_SIGN_MESSAGE] * 2


def test_a_creation_whose_answer_was_lost_is_ours_without_a_duplicate(
    losing: tuple[LosingProxy, tessera.Client],
) -> None:
    proxy, client = losing
    name = unique("made")
    proxy.lose[Opcode.PSA_GENERATE_KEY] = 1
    key = client.generate_key(name)  # made by the lost attempt: AlreadyExists, then ours
    assert proxy.lost == [Opcode.PSA_GENERATE_KEY]
    assert key_names(client).count(name) == 1
    key.verify(key.sign(b"mine"), b"mine")


def test_a_key_that_was_there_before_is_still_already_exists(
    losing: tuple[LosingProxy, tessera.Client],
) -> None:
    proxy, client = losing
    name = unique("taken")
    client.generate_key(name, tessera.ED25519)
    proxy.lose[Opcode.PSA_GENERATE_KEY] = 1
    with pytest.raises(tessera.AlreadyExistsError, match=f"PsaGenerateKey on key '{name}'"):
        client.generate_key(name)  # asked for ECDSA: the Ed25519 key there is not ours
    with pytest.raises(tessera.AlreadyExistsError):
        client.generate_key(name)  # and without a loss, the same answer


def test_an_import_whose_answer_was_lost_is_ours_only_with_our_material(
    losing: tuple[LosingProxy, tessera.Client],
) -> None:
    proxy, client = losing
    mine, theirs = unique("imported"), unique("imported")
    private = ec.generate_private_key(ec.SECP256R1())
    proxy.lose[Opcode.PSA_IMPORT_KEY] = 1
    key = client.import_key(mine, private)
    assert key.public_key() == private.public_key()
    client.import_key(theirs, ec.generate_private_key(ec.SECP256R1()))
    proxy.lose[Opcode.PSA_IMPORT_KEY] = 1
    with pytest.raises(tessera.AlreadyExistsError):
        client.import_key(theirs, private)  # same attributes, other material: not ours
    assert proxy.lost == [Opcode.PSA_IMPORT_KEY] * 2


def test_a_destruction_whose_answer_was_lost_is_done(
    losing: tuple[LosingProxy, tessera.Client],
) -> None:
    proxy, client = losing
    name = unique("doomed")
    key = client.generate_key(name)
    proxy.lose[Opcode.PSA_DESTROY_KEY] = 1
    key.destroy()
    assert proxy.lost == [Opcode.PSA_DESTROY_KEY]
    assert name not in key_names(client)


def test_the_async_client_settles_lost_answers_too(service: RunningService) -> None:
    proxy = LosingProxy(service.socket_path, {})

    async def body(endpoint: str) -> None:
        async with tessera.AsyncClient(endpoint, timeout=30) as client:
            name = unique("async-made")
            proxy.lose[Opcode.PSA_GENERATE_KEY] = 1
            key = await client.generate_key(name)
            proxy.lose[Opcode.PSA_DESTROY_KEY] = 1
            await key.destroy()
            assert name not in [k.name for k in await client.keys()]

    with short_dir() as directory, FakeServer(directory / "p.sock", proxy) as server:
        asyncio.run(body(server.endpoint))
    assert proxy.lost == [Opcode.PSA_GENERATE_KEY, Opcode.PSA_DESTROY_KEY]
