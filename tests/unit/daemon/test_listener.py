"""The listener's deadlines: one sweep acts for every connection, and only while any is open."""

from __future__ import annotations

import asyncio
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tessera.daemon.config_schema import ConnectionSettings
from tessera.daemon.listener import Listener
from tessera.daemon.scheduler import FairScheduler
from tessera.trust.peer import PeerCredentials
from tessera.wire.framing import Frame, FramingError, Limits, encode_request, encode_response
from tessera.wire.header import Header, response_header_for
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status


@dataclass
class _Admitted:
    frame: Frame
    blocking: bool = False


class _Echo:
    """Answers every request with success and an empty body; records the peers it saw."""

    def __init__(self) -> None:
        self.peers: list[PeerCredentials | None] = []

    def framing_error(self, error: FramingError) -> bytes:
        return encode_response(response_header_for(error.header, error.status), b"")

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> _Admitted:
        self.peers.append(peer)
        return _Admitted(frame)

    def execute(self, request: _Admitted) -> bytes:
        return encode_response(response_header_for(request.frame.header, Status.SUCCESS), b"")


async def _serve(path: Path, settings: ConnectionSettings, echo: _Echo) -> Listener:
    executor = ThreadPoolExecutor(1)
    listener = Listener(echo, FairScheduler(executor, 1), Limits(), settings)
    await listener.start(path, None)
    return listener


async def _read_all(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    received = b""
    while chunk := await loop.sock_recv(sock, 100):
        received += chunk
    return received


def test_a_partial_request_is_answered_connection_error_at_its_deadline(tmp_path: Path) -> None:
    settings = ConnectionSettings(request_timeout=0.1, first_byte_timeout=5, idle_timeout=60)

    async def scenario() -> bytes:
        echo = _Echo()
        listener = await _serve(tmp_path / "s.sock", settings, echo)
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.setblocking(False)
                await asyncio.get_running_loop().sock_connect(sock, str(tmp_path / "s.sock"))
                await asyncio.get_running_loop().sock_sendall(sock, b"\x10\xa7")  # a frame begun
                return await asyncio.wait_for(_read_all(sock), 10)
        finally:
            await listener.stop(0)

    answer = asyncio.run(scenario())
    assert answer == Header(status=Status.CONNECTION_ERROR).pack()


def test_the_sweep_runs_only_while_connections_are_open(tmp_path: Path) -> None:
    settings = ConnectionSettings(request_timeout=0.05, first_byte_timeout=0.05, idle_timeout=60)

    async def scenario() -> tuple[bool, bool, bool, list[PeerCredentials | None]]:
        echo = _Echo()
        listener = await _serve(tmp_path / "s.sock", settings, echo)
        loop = asyncio.get_running_loop()
        try:
            before = listener.sweeping
            with socket.socket(socket.AF_UNIX) as sock:
                sock.setblocking(False)
                await loop.sock_connect(sock, str(tmp_path / "s.sock"))
                await loop.sock_sendall(sock, encode_request(Header(opcode=int(Opcode.PING)), b""))
                await asyncio.wait_for(_read_all(sock), 10)  # answered, then closed by us
                while listener.open_connections:
                    await asyncio.sleep(0.01)
                silent = socket.socket(socket.AF_UNIX)
                silent.setblocking(False)
                await loop.sock_connect(silent, str(tmp_path / "s.sock"))
                while not listener.open_connections:
                    await asyncio.sleep(0.01)
                during = listener.sweeping
                # Says nothing: closed at its first-byte deadline by the sweep.
                assert await asyncio.wait_for(_read_all(silent), 10) == b""
                silent.close()
            while listener.open_connections:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # longer than a sweep interval
            return before, during, listener.sweeping, echo.peers
        finally:
            await listener.stop(0)

    before, during, after, peers = asyncio.run(scenario())
    assert (before, during, after) == (False, True, False)
    # The peer's credentials, read for the one connection that spoke.
    assert [peer.uid if peer else None for peer in peers] == [os.getuid()]


class _FailsOnce(_Echo):
    """Its first timeout answer fails (a bug, a full disk under a metrics hook...)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def framing_error(self, error: FramingError) -> bytes:
        if not self.failed:
            self.failed = True
            raise RuntimeError("could not answer")
        return super().framing_error(error)


def test_one_connection_that_fails_its_deadline_does_not_spare_the_others(
    tmp_path: Path,
) -> None:
    settings = ConnectionSettings(request_timeout=0.05, first_byte_timeout=5, idle_timeout=60)
    path = tmp_path / "s.sock"

    async def begun() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, str(path))
        await asyncio.get_running_loop().sock_sendall(sock, b"\x10\xa7")  # a frame begun
        return sock

    async def scenario() -> tuple[bool, list[bytes]]:
        failing = _FailsOnce()
        listener = await _serve(path, settings, failing)
        try:
            socks = [await begun() for _ in range(3)]
            answers = [await asyncio.wait_for(_read_all(sock), 10) for sock in socks]
            for sock in socks:
                sock.close()
            return failing.failed, answers
        finally:
            await listener.stop(0)

    failed, answers = asyncio.run(scenario())
    assert failed
    # The one whose answer failed is dropped; every other one is answered at its deadline.
    assert sorted(answers) == sorted([b""] + [Header(status=Status.CONNECTION_ERROR).pack()] * 2)
