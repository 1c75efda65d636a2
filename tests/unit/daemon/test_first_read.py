"""A new connection's request answered where it is accepted, and every case that goes on over a
transport instead: each still answered as before, in order, under the same limits."""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop

from tessera.daemon import acceptor as acceptor_module
from tessera.daemon.acceptor import Acceptor
from tessera.daemon.budget import DEFAULT_PER_UID, AnswerBudget
from tessera.daemon.config_schema import ConnectionSettings
from tessera.daemon.connection import Connection, Resumption
from tessera.daemon.listener import Listener
from tessera.daemon.scheduler import FairScheduler
from tessera.trust.peer import PeerCredentials
from tessera.wire.framing import (
    Frame,
    FrameReader,
    FramingError,
    Limits,
    encode_request,
    encode_response,
)
from tessera.wire.header import FLAG_KEEP_ALIVE, Header, response_header_for
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status

PING = encode_request(Header(opcode=int(Opcode.PING)), b"")
KEPT_PING = encode_request(Header(opcode=int(Opcode.PING), flags=FLAG_KEEP_ALIVE), b"")
SLOW = encode_request(Header(opcode=int(Opcode.PSA_GENERATE_KEY)), b"")  # "runs on the pool"
KEPT_SLOW = encode_request(Header(opcode=int(Opcode.PSA_GENERATE_KEY), flags=FLAG_KEEP_ALIVE), b"")
BIG = encode_request(Header(opcode=int(Opcode.PSA_GENERATE_RANDOM)), b"")  # a large answer
BIG_BODY = bytes(range(256)) * 8192  # 2 MiB: more than a Unix socket's buffer


@dataclass
class _Admitted:
    frame: Frame
    blocking: bool


class _Answers:
    """Ping: an empty success; the "slow" opcode: run on the pool (taking `slow_seconds`);
    the "random" one: 2 MiB."""

    def __init__(self, slow_seconds: float = 0.0) -> None:
        self.peers: list[PeerCredentials | None] = []
        self.on_pool = 0
        self.slow_seconds = slow_seconds

    def framing_error(self, error: FramingError) -> bytes:
        return encode_response(response_header_for(error.header, error.status), b"")

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> _Admitted:
        self.peers.append(peer)
        return _Admitted(frame, blocking=frame.header.opcode == Opcode.PSA_GENERATE_KEY)

    def execute(self, request: _Admitted) -> bytes:
        if request.blocking:
            self.on_pool += 1
            time.sleep(self.slow_seconds)
        body = BIG_BODY if request.frame.header.opcode == Opcode.PSA_GENERATE_RANDOM else b""
        return encode_response(response_header_for(request.frame.header, Status.SUCCESS), body)


def _success(request: bytes, body: bytes = b"") -> bytes:
    (frame,) = FrameReader(Limits()).feed(request)
    assert isinstance(frame, Frame)
    header = frame.header
    return encode_response(response_header_for(header, Status.SUCCESS), body)


async def _serve(path: Path, answers: _Answers, **settings: int) -> Listener:
    listener = Listener(
        answers,
        FairScheduler(ThreadPoolExecutor(1), 1),
        Limits(),
        ConnectionSettings(**settings),
    )
    await listener.start(path, None)
    return listener


async def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, str(path))
    return sock


async def _read_all(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    received = b""
    while chunk := await loop.sock_recv(sock, 1 << 16):
        received += chunk
    return received


async def _ask(path: Path, *pieces: bytes, half_close: bool = False) -> bytes:
    """Send `pieces` (a pause between them), optionally half-close, read until EOF (a reset,
    as a refused connection whose request is unread gets, reads as nothing)."""
    loop = asyncio.get_running_loop()
    with await _connect(path) as sock:
        for index, piece in enumerate(pieces):
            if index:
                await asyncio.sleep(0.05)
            await loop.sock_sendall(sock, piece)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        try:
            return await asyncio.wait_for(_read_all(sock), 10)
        except ConnectionResetError:
            return b""


Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Run:
    """Each scenario on both event loops: the service's (uvloop) and the standard one."""
    return asyncio.run if request.param == "asyncio" else uvloop.run


def test_a_whole_request_is_answered_without_a_connection_object(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "s.sock"

    async def scenario() -> tuple[list[bytes], bool, int]:
        answers = _Answers()
        listener = await _serve(path, answers)
        try:
            got = [await _ask(path, PING) for _ in range(5)]
            # The deadline sweep runs while a `Connection` is open: none was made.
            return got, listener.sweeping or listener.open_connections > 0, listener.accepted
        finally:
            await listener.stop(0)

    got, made_connections, accepted = run(scenario())
    assert got == [_success(PING)] * 5
    assert not made_connections
    assert accepted == 5


def test_every_other_first_read_goes_on_over_a_transport(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "s.sock"
    header, rest = PING[:20], PING[20:]

    async def scenario() -> dict[str, bytes]:
        answers = _Answers()
        listener = await _serve(path, answers)
        try:
            loop = asyncio.get_running_loop()
            got = {
                "split in two": await _ask(path, header, rest),
                "then half-closed": await _ask(path, PING, half_close=True),
                "damaged, half-closed": await _ask(path, b"\x00" * 36, half_close=True),
                "two pipelined": await _ask(path, PING + PING),
                "slow": await _ask(path, SLOW),
                "big": await _ask(path, BIG),
            }
            with await _connect(path) as kept:  # keep-alive: two answers on one connection
                await loop.sock_sendall(kept, KEPT_PING)
                first = await loop.sock_recv(kept, 100)
                await loop.sock_sendall(kept, PING)
                got["keep-alive"] = first + await asyncio.wait_for(_read_all(kept), 10)
            got["slow requests on the pool"] = bytes([answers.on_pool])
            return got
        finally:
            await listener.stop(0)

    got = run(scenario())
    assert got["split in two"] == _success(PING)
    assert got["then half-closed"] == _success(PING)
    (damaged,) = FrameReader(Limits()).feed(b"\x00" * 36)
    assert isinstance(damaged, FramingError)
    assert got["damaged, half-closed"] == _Answers().framing_error(damaged)
    # Without keep-alive, one answer and the close (as a `Connection` does).
    assert got["two pipelined"] == _success(PING)
    assert got["slow"] == _success(SLOW)
    assert got["slow requests on the pool"] == b"\x01"
    assert got["big"] == _success(BIG, BIG_BODY)
    assert got["keep-alive"] == _success(KEPT_PING) + _success(PING)


def test_an_answer_too_big_for_the_socket_reaches_a_slow_reader(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "s.sock"

    async def scenario() -> bytes:
        listener = await _serve(path, _Answers())
        loop = asyncio.get_running_loop()
        try:
            with await _connect(path) as sock:
                await loop.sock_sendall(sock, BIG)
                await asyncio.sleep(0.2)  # the first write fills the socket's buffer
                received = b""
                while chunk := await asyncio.wait_for(loop.sock_recv(sock, 4096), 10):
                    received += chunk
                return received
        finally:
            await listener.stop(0)

    assert run(scenario()) == _success(BIG, BIG_BODY)


def test_a_uid_at_its_share_is_refused_on_the_first_read_too(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "s.sock"

    async def scenario() -> tuple[bytes, bytes, int]:
        listener = await _serve(path, _Answers(), max_connections_per_uid=1)
        try:
            with await _connect(path):  # says nothing: a `Connection`, held open
                while not listener.open_connections:
                    await asyncio.sleep(0.01)
                refused = await _ask(path, PING)
            while listener.open_connections:
                await asyncio.sleep(0.01)
            return refused, await _ask(path, PING), listener.refused
        finally:
            await listener.stop(0)

    refused, later, count = run(scenario())
    assert refused == b""  # closed unanswered, as a connection over its share always was
    assert later == _success(PING)
    assert count == 1


def test_the_service_wide_limit_holds_on_the_first_read(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "s.sock"

    async def scenario() -> tuple[bytes, int]:
        listener = await _serve(path, _Answers(), max_connections=1)
        try:
            with await _connect(path):
                while not listener.open_connections:
                    await asyncio.sleep(0.01)
                refused = await _ask(path, PING)
            return refused, listener.refused
        finally:
            await listener.stop(0)

    refused, count = run(scenario())
    assert (refused, count) == (b"", 1)


@pytest.mark.parametrize("slow", [SLOW, KEPT_SLOW], ids=["closing", "keep-alive"])
def test_a_client_flooding_behind_a_slow_request_is_not_read(
    tmp_path: Path, run: Run, slow: bytes
) -> None:
    """While a connection's slow request runs, the connection is not read: a client that
    keeps sending fills the socket's buffers and no more (not the service's memory)."""
    path = tmp_path / "s.sock"

    async def scenario() -> int:
        listener = await _serve(path, _Answers(slow_seconds=1.0))
        loop = asyncio.get_running_loop()
        try:
            with await _connect(path) as sock:
                await loop.sock_sendall(sock, slow)  # read alone, at the accept
                await asyncio.sleep(0.1)
                sent = 0
                flood = PING * 1000
                deadline = loop.time() + 0.5
                while loop.time() < deadline:
                    try:
                        sent += sock.send(flood)
                    except BlockingIOError:
                        await asyncio.sleep(0.01)
                return sent
        finally:
            await listener.stop(0)

    assert run(scenario()) < 1 << 20  # unbounded without the pause: tens of MiB in 0.5 s


def test_answers_too_big_for_the_socket_count_against_the_budget_at_once(
    tmp_path: Path, run: Run
) -> None:
    """One uid asking for many large answers it never reads holds its share of the answer
    budget, not the whole service's."""
    path = tmp_path / "s.sock"

    async def scenario() -> int:
        listener = await _serve(path, _Answers())
        loop = asyncio.get_running_loop()
        socks = []
        try:
            for _ in range(40):
                sock = await _connect(path)
                socks.append(sock)
                await loop.sock_sendall(sock, BIG)
            await asyncio.sleep(0.3)
            return listener.answers_held
        finally:
            for sock in socks:
                sock.close()
            await listener.stop(0)

    # The share (8 MiB) and at most the one answer that crossed it.
    assert run(scenario()) <= DEFAULT_PER_UID + len(BIG_BODY)


class _Exhausted:
    """A listening socket whose accept fails as a process out of descriptors does."""

    def __init__(self) -> None:
        self._pair = socket.socketpair()
        self._pair[1].send(b"x")  # readable, as a listening socket with a backlog is
        self.accepts = 0

    def fileno(self) -> int:
        return self._pair[0].fileno()

    def setblocking(self, flag: bool) -> None:
        pass

    def _accept(self) -> tuple[int, object]:
        self.accepts += 1
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None:
        for sock in self._pair:
            sock.close()


def test_accepting_pauses_when_descriptors_run_out() -> None:
    async def scenario() -> tuple[int, int]:
        listening = _Exhausted()
        acceptor = Acceptor(
            asyncio.get_running_loop(),
            listening,  # type: ignore[arg-type]
            lambda sock: None,
        )
        await asyncio.sleep(acceptor_module.RESOURCE_PAUSE / 2)
        during_pause = listening.accepts  # one failure, then no spinning
        await asyncio.sleep(acceptor_module.RESOURCE_PAUSE * 1.5)
        after = listening.accepts  # tried again after the pause
        acceptor.close()
        return during_pause, after

    during_pause, after = asyncio.run(scenario())
    assert during_pause == 1
    assert after >= 2


class _Transport(asyncio.Transport):
    """Enough of a transport for a `Connection` that is closed before it goes on."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True


def test_an_unsent_answer_leaves_the_budget_when_its_connection_closes_first() -> None:
    """A connection handed over with an answer's unsent end, aborted (a deadline, shutdown)
    before it went on: the bytes the listener counted for it are given back all the same."""

    async def scenario() -> int:
        budget = AnswerBudget()
        resumption = Resumption(unsent=b"x" * 1000)
        budget.hold(resumption, 1000, 1000)  # as the listener does at the handover
        connection = Connection(
            _Answers(),
            FairScheduler(ThreadPoolExecutor(1), 1),
            Limits(),
            request_timeout=1,
            idle_timeout=1,
            on_close=lambda connection: None,
            budget=budget,
            resumption=resumption,
        )
        connection.connection_made(_Transport())
        connection.abort()  # before the loop's next turn, where it would have gone on
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return budget.held

    assert asyncio.run(scenario()) == 0
