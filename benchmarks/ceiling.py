"""The ceiling: the least any Python service must do to answer the benchmark's requests.

Worker processes of a bare uvloop server (the event loop Tessera uses) share one listening
socket, as Tessera's workers do, and answer the benchmark's PsaSignHash and Ping requests with
nothing but the unavoidable work: read the frame, decode the body (protobuf), sign with a key
held in memory (or name the wire protocol's version), encode the result, write it, close. As
Tessera's listener does, a request that is all there when its connection is accepted is answered
on the accepted socket; other connections (keep-alive ones) get an event-loop transport. No
authentication, key store, policy, quota, audit, timeout or limit. Driven by the same load
generator in the same run, it shows what this machine allows a Python service to reach: a
throughput or latency goal the ceiling itself misses cannot be met by a service that does more
work per request. (Scaling is another matter: where the load generator
shares the cores, a service that does more per request gains more from a second worker.)
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import functools
import multiprocessing
import os
import signal
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from tessera.wire.header import FLAG_KEEP_ALIVE, Header, response_to
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import ping_pb2, psa_sign_hash_pb2

_HEADER = 36
_FLAGS = struct.Struct("<H")  # at byte 8 of the header
_LENGTHS = struct.Struct("<IH")  # content length, auth length: at byte 22 of the header
_OPCODE = struct.Struct("<I")  # at byte 28 of the header
_SIGN = Header(provider=1, opcode=int(Opcode.PSA_SIGN_HASH))  # what the benchmark sends
# A Ping's answer never changes: made once, as a service could.
_PONG = response_to(
    Header(provider=0, opcode=int(Opcode.PING)),
    0,
    ping_pb2.Result(wire_protocol_version_maj=1, wire_protocol_version_min=0).SerializeToString(),
)


class _Answerer(asyncio.Protocol):
    """Answers a signature request with a signature and anything else with Ping's answer;
    closes after it unless the request asked to keep alive. `first`: bytes read already."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, first: bytes = b"") -> None:
        self._key = key
        self._algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
        self._buffer = first

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self._buffer:
            first, self._buffer = self._buffer, b""
            self.data_received(first)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        answered = self.answer(self._buffer)
        if answered is None:
            return
        response, keep, self._buffer = answered
        self._transport.write(response)
        if not keep:
            self._transport.close()

    def answer(self, buffer: bytes) -> tuple[bytes, bool, bytes] | None:
        """(the answer, keep alive, what follows the request) if `buffer` holds a whole one."""
        if len(buffer) < _HEADER:
            return None
        body_length, auth_length = _LENGTHS.unpack_from(buffer, 22)
        end = _HEADER + body_length + auth_length
        if len(buffer) < end:
            return None
        (flags,) = _FLAGS.unpack_from(buffer, 8)
        (opcode,) = _OPCODE.unpack_from(buffer, 28)
        body = buffer[_HEADER : _HEADER + body_length]
        response = self._sign(body) if opcode == Opcode.PSA_SIGN_HASH else _PONG
        return response, bool(flags & FLAG_KEEP_ALIVE), buffer[end:]

    def _sign(self, body: bytes) -> bytes:
        operation = psa_sign_hash_pb2.Operation.FromString(body)
        r, s = utils.decode_dss_signature(self._key.sign(operation.hash, self._algorithm))
        result = psa_sign_hash_pb2.Result(signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return response_to(_SIGN, 0, result.SerializeToString())


def _serve(listening: socket.socket) -> None:
    import uvloop

    key = ec.generate_private_key(ec.SECP256R1())
    answerer = _Answerer(key)
    handovers: set[asyncio.Task[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]]] = set()
    listening.setblocking(False)

    def accept_some() -> None:
        for _ in range(16):
            try:
                fd, _address = listening._accept()  # type: ignore[attr-defined]
            except BlockingIOError:
                return
            sock = _socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
            try:
                data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                data = b""
            answered = answerer.answer(data) if data else None
            if answered is not None and not answered[1] and not answered[2]:
                sock.send(answered[0], socket.MSG_DONTWAIT)  # small: fits the socket's buffer
                sock.close()
                continue
            whole = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, sock.detach())
            whole.setblocking(False)
            loop = asyncio.get_running_loop()
            task = loop.create_task(
                loop.connect_accepted_socket(functools.partial(_Answerer, key, data), whole)
            )
            handovers.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(handovers.discard)

    async def serve() -> None:
        asyncio.get_running_loop().add_reader(listening.fileno(), accept_some)
        await asyncio.Event().wait()  # until terminated

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    uvloop.run(serve())


@contextlib.contextmanager
def ceiling_service(path: Path, processes: int) -> Iterator[list[int]]:
    """`processes` bare signing servers on `path` until the block ends; yields their pids."""
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(os.fspath(path))
    listening.listen(1024)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_serve, args=(listening,)) for _ in range(processes)]
    try:
        for worker in workers:
            worker.start()
        yield [cast(int, worker.pid) for worker in workers]
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(timeout=10)
        listening.close()
        path.unlink(missing_ok=True)
