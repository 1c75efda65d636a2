"""A request that may have taken effect is never sent twice.

A server answers the first request on a persistent connection, then reads the second and hangs
up without answering (as a service killed mid-request would). The transport may resend a
request that can safely run twice, on a new connection; a key creation, never.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.client._errors import TransportError
from tessera.client._transport import SyncTransport
from tessera.wire.framing import Frame, FrameReader, encode_request, encode_response
from tessera.wire.header import FLAG_KEEP_ALIVE, Header


class HangUpAfterOne:
    """Answers every request with an empty success, except the second one it receives, which
    it reads and then drops without an answer (closing that connection)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received = 0
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(os.fspath(path))
        self._server.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        reader = FrameReader()
        with connection:
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                for event in reader.feed(data):
                    assert isinstance(event, Frame)
                    self.received += 1
                    if self.received == 2:
                        return  # read it, then hang up without an answer
                    connection.sendall(encode_response(Header(opcode=event.header.opcode), b""))

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def server() -> Iterator[HangUpAfterOne]:
    directory = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    fake = HangUpAfterOne(directory / "s.sock")
    try:
        yield fake
    finally:
        fake.close()


def request(opcode: int) -> bytes:
    return encode_request(Header(opcode=opcode, flags=FLAG_KEEP_ALIVE), b"")


def test_an_idempotent_request_is_resent_on_a_new_connection(server: HangUpAfterOne) -> None:
    transport = SyncTransport(server.path, timeout=5)
    try:
        assert transport.exchange(request(1)).header.status == 0
        assert transport.exchange(request(1), idempotent=True).header.status == 0
        assert server.received == 3  # the dropped one, and its resend
    finally:
        transport.close()


def test_a_key_creation_is_not_resent(server: HangUpAfterOne) -> None:
    transport = SyncTransport(server.path, timeout=5)
    try:
        assert transport.exchange(request(1)).header.status == 0
        with pytest.raises(TransportError, match="may or may not have taken effect"):
            transport.exchange(request(2), idempotent=False)
        assert server.received == 2  # read once, never again
    finally:
        transport.close()
