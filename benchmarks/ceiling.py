"""The ceiling: the least any Python service must do to answer the benchmark's signature.

Worker processes of a bare uvloop server (the event loop Tessera uses) share one listening
socket, as Tessera's workers do, and answer the benchmark's PsaSignHash request with nothing but
the unavoidable work: read the frame, decode the body (protobuf), sign with a key held in memory,
encode the result, write it, close. No authentication, key store, policy, quota, audit, timeout
or limit. Driven by the same load generator in the same run, it shows what this machine allows a
Python service to reach: a throughput or latency goal the ceiling itself misses cannot be met by
a service that does more work per request. (Scaling is another matter: where the load generator
shares the cores, a service that does more per request gains more from a second worker.)
"""

from __future__ import annotations

import asyncio
import contextlib
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
from tessera.wire.proto import psa_sign_hash_pb2

_HEADER = 36
_FLAGS = struct.Struct("<H")  # at byte 8 of the header
_LENGTHS = struct.Struct("<IH")  # content length, auth length: at byte 22 of the header
_REQUEST = Header(provider=1, opcode=int(Opcode.PSA_SIGN_HASH))  # what the benchmark sends


class _Signer(asyncio.Protocol):
    """Answers each request with a signature; closes after it unless it asked to keep alive."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) < _HEADER:
            return
        body_length, auth_length = _LENGTHS.unpack_from(self._buffer, 22)
        end = _HEADER + body_length + auth_length
        if len(self._buffer) < end:
            return
        operation = psa_sign_hash_pb2.Operation.FromString(
            self._buffer[_HEADER : _HEADER + body_length]
        )
        (flags,) = _FLAGS.unpack_from(self._buffer, 8)
        self._buffer = self._buffer[end:]
        r, s = utils.decode_dss_signature(self._key.sign(operation.hash, self._algorithm))
        result = psa_sign_hash_pb2.Result(signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        self._transport.write(response_to(_REQUEST, 0, result.SerializeToString()))
        if not flags & FLAG_KEEP_ALIVE:
            self._transport.close()


def _serve(listening: socket.socket) -> None:
    import uvloop

    key = ec.generate_private_key(ec.SECP256R1())

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_unix_server(lambda: _Signer(key), sock=listening)
        async with server:
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
