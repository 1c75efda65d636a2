"""Helpers for the client-library integration tests: checks with `cryptography`, and fake
"services" for the cases the real daemon never produces (silence, garbage, hang-ups)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import tessera
from tessera.client import specs
from tessera.psa import formats
from tessera.wire.framing import Frame, FrameReader, encode_request
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

_HASHES: dict[int, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    Algorithm.SHA_256: hashes.SHA256,
    Algorithm.SHA_384: hashes.SHA384,
    Algorithm.SHA_512: hashes.SHA512,
}


@contextlib.contextmanager
def short_dir() -> Iterator[Path]:
    """A temporary directory with a short path (Unix socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def psa_to_der(signature: bytes) -> bytes:
    """A PSA ECDSA signature (r || s, each the curve's size) as the DER cryptography verifies."""
    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    return encode_dss_signature(r, s)


def der_to_psa(signature: bytes, curve_bits: int) -> bytes:
    """cryptography's DER ECDSA signature in PSA's r || s form."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    size = (curve_bits + 7) // 8
    r, s = decode_dss_signature(signature)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def hash_of(spec: specs.KeySpec) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    """The cryptography hash object of a hash-and-sign spec."""
    signature = spec.algorithm.asymmetric_signature
    variant = signature.WhichOneof("variant")
    assert variant is not None
    return _HASHES[getattr(signature, variant).hash_alg.specific]()


def verify_locally(
    public: formats.PublicKey, spec: specs.KeySpec, signature: bytes, data: bytes
) -> None:
    """Check a signature made in the service with cryptography alone (raises if invalid)."""
    variant = spec.algorithm.asymmetric_signature.WhichOneof("variant")
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(psa_to_der(signature), data, ec.ECDSA(hash_of(spec)))
    elif isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(signature, data)
    elif isinstance(public, rsa.RSAPublicKey) and variant == "rsa_pss":
        algorithm = hash_of(spec)
        # PSA's PSS salt is as long as the hash
        pss = padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH)
        public.verify(signature, data, pss, algorithm)
    elif isinstance(public, rsa.RSAPublicKey) and variant == "rsa_pkcs1v15_sign":
        public.verify(signature, data, padding.PKCS1v15(), hash_of(spec))
    else:
        raise AssertionError(f"no local check for {spec.name}")


# Fake services


@dataclass
class FakeServer:
    """A Unix-socket server in threads: `handle` runs for each connection (until `stopped`)."""

    path: Path
    handle: Callable[[socket.socket, FakeServer], None]
    stopped: threading.Event = field(default_factory=threading.Event)
    connections: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)
    _listener: socket.socket | None = None

    def __enter__(self) -> FakeServer:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(os.fspath(self.path))
        listener.listen(16)
        listener.settimeout(0.05)
        self._listener = listener
        self._start(self._accept_loop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        for thread in self._threads:
            thread.join(5)
        if self._listener is not None:
            self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @property
    def endpoint(self) -> str:
        """The server's `unix:` URI."""
        return f"unix:{self.path}"

    def _start(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self._start(lambda conn=conn: self._serve(conn))  # type: ignore[misc]

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.05)
            with contextlib.suppress(OSError):
                self.handle(conn, self)


def read_request(conn: socket.socket, server: FakeServer) -> Frame | None:
    """One request frame from a client connection (None if the client left or we stop)."""
    reader = FrameReader()
    while not server.stopped.is_set():
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return None
        for event in reader.feed(chunk):
            assert isinstance(event, Frame)
            return event
    return None


def never_answer(conn: socket.socket, server: FakeServer) -> None:
    """Read whatever comes and say nothing, until the test ends."""
    while not server.stopped.is_set():
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue


def answer_with(data: bytes) -> Callable[[socket.socket, FakeServer], None]:
    """Read one request, send `data`, hang up."""

    def handle(conn: socket.socket, server: FakeServer) -> None:
        if read_request(conn, server) is not None:
            conn.sendall(data)

    return handle


@dataclass
class OneShotProxy:
    """Parsec's behaviour in front of the real service: one request per connection.

    Each request is forwarded without the keep-alive flag (so the real service closes after
    answering, as Parsec's does), the answer relayed, and the client's connection closed.
    """

    service_socket: Path
    forwarded: int = 0

    def __call__(self, conn: socket.socket, server: FakeServer) -> None:
        request = read_request(conn, server)
        if request is None:
            return
        header = request.header.replace(flags=0)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            upstream.settimeout(5)
            upstream.connect(os.fspath(self.service_socket))
            upstream.sendall(encode_request(header, request.body, request.auth))
            answer = b""
            while chunk := upstream.recv(65536):  # until the service closes: it must
                answer += chunk
        self.forwarded += 1
        conn.sendall(answer)


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run `work(i)` in `count` threads at once; re-raise the first failure."""
    failures: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if failures:
        raise failures[0]


SIGNING_SPECS = [
    tessera.ECDSA_P256,
    tessera.ECDSA_P384,
    tessera.ECDSA_P521,
    tessera.ED25519,
    specs.rsa_pss(2048),
    specs.rsa_pkcs1v15_sign(2048),
]
AEAD_SPECS = [tessera.AES_256_GCM, tessera.CHACHA20_POLY1305]
