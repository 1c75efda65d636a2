"""The requests the side-by-side benchmark sends, as bytes, for any authenticator.

Parsec's service and Tessera's get the same bytes: provider 1 (Parsec's Mbed Crypto provider,
Tessera's software provider), direct authentication as application "benchmark" unless the
scenario says otherwise.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from pathlib import Path

from benchmarks.load import DIGEST, KEY, generate_key_body, sign_body
from tessera.wire.framing import encode_request
from tessera.wire.header import FLAG_KEEP_ALIVE, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    psa_generate_key_pb2,
    psa_import_key_pb2,
    psa_sign_hash_pb2,
    psa_verify_hash_pb2,
)

APP = b"benchmark"
PROVIDER = 1
Auth = tuple[AuthType, bytes]
# Any valid P-256 private scalar: the large key store holds copies of one key under many names.
_SCALAR = bytes(31) + b"\x07"

__all__ = [
    "APP",
    "KEY",
    "exchange",
    "fill_key_store",
    "generate_request",
    "ping_request",
    "sign_request",
    "verify_request",
]


def request(opcode: Opcode, body: bytes, auth: Auth, *, keep_alive: bool = False) -> bytes:
    kind, credential = auth
    header = Header(
        provider=PROVIDER,
        auth_type=int(kind),
        opcode=int(opcode),
        flags=FLAG_KEEP_ALIVE if keep_alive else 0,
    )
    return encode_request(header, body, credential)


def ping_request() -> bytes:
    header = Header(provider=0, auth_type=int(AuthType.NO_AUTH), opcode=int(Opcode.PING))
    return encode_request(header, b"", b"")


def generate_request(auth: Auth) -> bytes:
    return request(Opcode.PSA_GENERATE_KEY, generate_key_body(), auth)


def sign_request(auth: Auth, *, keep_alive: bool = False) -> bytes:
    return request(Opcode.PSA_SIGN_HASH, sign_body(), auth, keep_alive=keep_alive)


def verify_request(auth: Auth, path: Path) -> bytes:
    """A VerifyHash of a signature the service made just now."""
    status, body = exchange(path, sign_request(auth))
    if status:
        raise RuntimeError(f"sign for the verify scenario failed: status {status}")
    signature = psa_sign_hash_pb2.Result.FromString(body).signature
    sign = psa_sign_hash_pb2.Operation.FromString(sign_body())
    verify = psa_verify_hash_pb2.Operation(
        key_name=KEY, alg=sign.alg, hash=DIGEST, signature=signature
    )
    return request(Opcode.PSA_VERIFY_HASH, verify.SerializeToString(), auth)


def exchange(path: Path, data: bytes, sock: socket.socket | None = None) -> tuple[int, bytes]:
    """One request, one answer: (status, body); on `sock` when given (kept alive)."""
    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(os.fspath(path))
    try:
        sock.sendall(data)
        header = read_exactly(sock, 36)
        body = read_exactly(sock, int.from_bytes(header[22:26], "little"))
        return int.from_bytes(header[32:34], "little"), body
    finally:
        if own:
            sock.close()


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """`size` bytes from `sock` (ConnectionError if it closes first)."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed without an answer")
        data += chunk
    return bytes(data)


# Keys per filler application: under the default per-application quota (10,000 keys), so a large
# store is many applications' keys, as on a real host.
_KEYS_PER_APP = 5_000


def _import_slice(path: str, auth: Auth, names: range) -> int:
    attributes = psa_generate_key_pb2.Operation.FromString(generate_key_body()).attributes
    made = 0
    kind, credential = auth
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        for index in names:
            owner = (kind, credential + f"-filler-{index // _KEYS_PER_APP}".encode())
            body = psa_import_key_pb2.Operation(
                key_name=f"filler-{index:07d}", attributes=attributes, data=_SCALAR
            ).SerializeToString()
            status, _ = exchange(
                Path(path),
                request(Opcode.PSA_IMPORT_KEY, body, owner, keep_alive=True),
                sock,
            )
            made += status == 0
    return made


def fill_key_store(path: Path, auth: Auth, keys: int, clients: int = 4) -> int:
    """Import `keys` keys (for several applications of the direct authenticator) over `clients`
    kept-alive connections; how many were stored."""
    share = -(-keys // clients)
    slices = [range(i * share, min(keys, (i + 1) * share)) for i in range(clients)]
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        made = pool.starmap(_import_slice, [(os.fspath(path), auth, part) for part in slices])
    return sum(made)
