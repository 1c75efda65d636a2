"""What a transport failure says: whether the request left, and whether waiting may help.

The flows decide what to send again from these two facts, so both transports must report them
the same way: no socket where nothing ever answered (nothing runs there: fail at once), a socket
nobody answers on (a daemon died and is being restarted), a vanished socket of a daemon reached
before (restarting), and a hang-up after the request went out (the outcome is unknown).
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tessera.client._async_transport import AsyncTransport
from tessera.client._errors import TransportError
from tessera.client._transport import SyncTransport
from tessera.wire.framing import FrameReader, encode_request, encode_response
from tessera.wire.header import FLAG_KEEP_ALIVE, Header

REQUEST = encode_request(Header(opcode=1, flags=FLAG_KEEP_ALIVE), b"")
Exchange = Callable[[Path, bool], tuple[TransportError | None, bool]]


def sync_exchange(path: Path, reach_first: bool) -> tuple[TransportError | None, bool]:
    """(the failure of an exchange, whether an exchange succeeded before it)."""
    transport = SyncTransport(path, timeout=2)
    reached = False
    try:
        if reach_first:
            transport.exchange(REQUEST)
            reached = True
            transport.close()
            _stop(path)
        transport.exchange(REQUEST)
    except TransportError as error:
        return error, reached
    finally:
        transport.close()
    return None, reached


def async_exchange(path: Path, reach_first: bool) -> tuple[TransportError | None, bool]:
    """`sync_exchange` with the asyncio transport."""

    async def run() -> tuple[TransportError | None, bool]:
        transport = AsyncTransport(path, timeout=2)
        reached = False
        try:
            if reach_first:
                await transport.exchange(REQUEST)
                reached = True
                await transport.aclose()
                _stop(path)
            await transport.exchange(REQUEST)
        except TransportError as error:
            return error, reached
        finally:
            await transport.aclose()
        return None, reached

    return asyncio.run(run())


_SERVERS: dict[Path, socket.socket] = {}


def _serve(path: Path, *, answer: bool) -> None:
    """A server at `path`: answers each request with an empty success, or hangs up unanswered."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(os.fspath(path))
    listener.listen(8)
    _SERVERS[path] = listener

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                reader = FrameReader()
                while data := conn.recv(65536):
                    if reader.feed(data):
                        if not answer:
                            break
                        conn.sendall(encode_response(Header(opcode=1), b""))

    threading.Thread(target=loop, daemon=True).start()


def _stop(path: Path) -> None:
    """Stop the server as a clean shutdown does: close, and remove the socket file."""
    listener = _SERVERS.pop(path)
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    path.unlink()


@pytest.fixture
def path() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    yield directory / "s.sock"
    for listener in _SERVERS.values():
        listener.close()
    _SERVERS.clear()


EXCHANGES = pytest.mark.parametrize(
    "exchange", [sync_exchange, async_exchange], ids=["sync", "async"]
)


@EXCHANGES
def test_no_socket_where_nothing_ever_answered_fails_at_once(
    exchange: Exchange, path: Path
) -> None:
    error, _ = exchange(path, False)
    assert error is not None
    assert "is it running? PARSEC_SERVICE_ENDPOINT" in str(error)
    assert (error.sent, error.transient) == (False, False)


@EXCHANGES
def test_a_socket_nobody_answers_on_is_a_daemon_being_restarted(
    exchange: Exchange, path: Path
) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(os.fspath(path))  # as a daemon killed with -9 leaves it
    stale.close()
    error, _ = exchange(path, False)
    assert error is not None
    assert "Connection refused" in str(error)
    assert (error.sent, error.transient) == (False, True)


@EXCHANGES
def test_a_vanished_socket_of_a_daemon_reached_before_is_a_restart(
    exchange: Exchange, path: Path
) -> None:
    _serve(path, answer=True)
    error, reached = exchange(path, True)
    assert reached and error is not None
    assert (error.sent, error.transient) == (False, True)


@EXCHANGES
def test_a_hang_up_after_the_request_left_leaves_the_outcome_unknown(
    exchange: Exchange, path: Path
) -> None:
    _serve(path, answer=False)
    error, _ = exchange(path, False)
    assert error is not None
    assert "may or may not have taken effect" in str(error)
    assert (error.sent, error.transient) == (True, True)
