"""Load generator: the daemon over the wire versus the same work in-process, in one run.

Usage: python -m benchmarks.load [--seconds S] [--clients N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tessera.service.builder import build
from tessera.service.config import parse_config
from tessera.wire.framing import Frame, FrameReader, encode_request
from tessera.wire.header import FLAG_KEEP_ALIVE, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    psa_algorithm_pb2,
    psa_generate_key_pb2,
    psa_key_attributes_pb2,
    psa_sign_hash_pb2,
)
from tests.support import start_service, stop_service

APP = b"benchmark"
KEY = "bench-p256"
DIGEST = bytes(range(32))


@dataclass
class Result:
    """One scenario's measurements."""

    scenario: str
    operations: int
    seconds: float
    p50_us: float
    p99_us: float
    ratio_to_in_process: float | None = None

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds


def request(opcode: Opcode, body: bytes, *, keep_alive: bool, provider: int = 0) -> bytes:
    auth = AuthType.DIRECT if opcode is not Opcode.PING else AuthType.NO_AUTH
    header = Header(
        provider=provider,
        auth_type=int(auth),
        opcode=int(opcode),
        flags=FLAG_KEEP_ALIVE if keep_alive else 0,
    )
    return encode_request(header, body, APP if auth is AuthType.DIRECT else b"")


def sign_body() -> bytes:
    sha256 = psa_algorithm_pb2.Algorithm.AsymmetricSignature.SignHash(
        specific=psa_algorithm_pb2.Algorithm.SHA_256
    )
    alg = psa_algorithm_pb2.Algorithm.AsymmetricSignature(
        ecdsa=psa_algorithm_pb2.Algorithm.AsymmetricSignature.Ecdsa(hash_alg=sha256)
    )
    return psa_sign_hash_pb2.Operation(key_name=KEY, alg=alg, hash=DIGEST).SerializeToString()


def generate_key_body() -> bytes:
    sha256 = psa_algorithm_pb2.Algorithm.AsymmetricSignature.SignHash(
        specific=psa_algorithm_pb2.Algorithm.SHA_256
    )
    attributes = psa_key_attributes_pb2.KeyAttributes(
        key_type=psa_key_attributes_pb2.KeyType(
            ecc_key_pair=psa_key_attributes_pb2.KeyType.EccKeyPair(
                curve_family=psa_key_attributes_pb2.KeyType.SECP_R1
            )
        ),
        key_bits=256,
        key_policy=psa_key_attributes_pb2.KeyPolicy(
            key_usage_flags=psa_key_attributes_pb2.UsageFlags(sign_hash=True, verify_hash=True),
            key_algorithm=psa_algorithm_pb2.Algorithm(
                asymmetric_signature=psa_algorithm_pb2.Algorithm.AsymmetricSignature(
                    ecdsa=psa_algorithm_pb2.Algorithm.AsymmetricSignature.Ecdsa(hash_alg=sha256)
                )
            ),
        ),
    )
    return psa_generate_key_pb2.Operation(key_name=KEY, attributes=attributes).SerializeToString()


async def read_one(reader: asyncio.StreamReader) -> Header:
    frames = FrameReader(responses=True)
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionError("closed without a response")
        events = frames.feed(chunk)
        if events:
            event = events[0]
            assert isinstance(event, Frame)
            return event.header


async def drive(
    path: Path, data: bytes, *, keep_alive: bool, clients: int, seconds: float
) -> list[float]:
    """Run `clients` concurrent loops for `seconds`; returns every latency in seconds."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def per_connection() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            reader, writer = await asyncio.open_unix_connection(os.fspath(path))
            writer.write(data)
            header = await read_one(reader)
            writer.close()
            latencies.append(time.perf_counter() - start)
            assert header.status == 0, header

    async def persistent() -> None:
        reader, writer = await asyncio.open_unix_connection(os.fspath(path))
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(data)
            header = await read_one(reader)
            latencies.append(time.perf_counter() - start)
            assert header.status == 0, header
        writer.close()

    loop_body = persistent if keep_alive else per_connection
    await asyncio.gather(*(loop_body() for _ in range(clients)))
    return latencies


def measure_in_process(operation: Callable[[], object], seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        operation()
        latencies.append(time.perf_counter() - start)
    return latencies


def summarize(name: str, latencies: list[float], seconds: float) -> Result:
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Result(name, len(latencies), seconds, quantiles[49] * 1e6, quantiles[98] * 1e6)


def run(seconds: float, clients: int) -> list[Result]:
    state = Path(tempfile.mkdtemp(prefix="ts-bench-", dir="/tmp"))
    results: list[Result] = []
    service = start_service(state, "--auth", "direct", "--log-level", "warning")
    try:
        setup = service.call(
            request(Opcode.PSA_GENERATE_KEY, generate_key_body(), keep_alive=False, provider=1)
        )
        if setup.header.status != 0:
            raise RuntimeError(f"key generation failed with status {setup.header.status}")
        scenarios: list[tuple[str, bytes, bool]] = [
            ("ping/conn", request(Opcode.PING, b"", keep_alive=False), False),
            ("ping/keepalive", request(Opcode.PING, b"", keep_alive=True), True),
            (
                "sign/conn",
                request(Opcode.PSA_SIGN_HASH, sign_body(), keep_alive=False, provider=1),
                False,
            ),
            (
                "sign/keepalive",
                request(Opcode.PSA_SIGN_HASH, sign_body(), keep_alive=True, provider=1),
                True,
            ),
        ]
        for name, data, keep in scenarios:
            start = time.perf_counter()
            latencies = asyncio.run(
                drive(service.socket_path, data, keep_alive=keep, clients=clients, seconds=seconds)
            )
            results.append(summarize(name, latencies, time.perf_counter() - start))
    finally:
        stop_service(service)

    # The same operations in this process, on the same key store, without sockets. The rate
    # quota is raised: one process signs faster than the default 20,000 requests per second,
    # and refusals would be counted as fast signatures.
    config = parse_config(
        {
            "core_settings": {"state_dir": str(state)},
            "authenticator": {"auth_types": ["direct"]},
            "quotas": {"requests_per_second": 1 << 40},
        }
    )
    assembly = build(config)
    try:
        dispatcher = assembly.dispatcher
        for name, data in [
            ("ping/in-process", request(Opcode.PING, b"", keep_alive=False)),
            (
                "sign/in-process",
                request(Opcode.PSA_SIGN_HASH, sign_body(), keep_alive=False, provider=1),
            ),
        ]:
            frame = FrameReader().feed(data)[0]
            assert isinstance(frame, Frame)
            reply = dispatcher.handle(frame, None)
            assert reply[32:34] == b"\x00\x00", f"{name} failed in-process"
            results.append(
                summarize(
                    name,
                    measure_in_process(functools.partial(dispatcher.handle, frame, None), seconds),
                    seconds,
                )
            )
            reply = dispatcher.handle(frame, None)
            assert reply[32:34] == b"\x00\x00", f"{name} was refused in-process"
    finally:
        assembly.close()
    private = ec.generate_private_key(ec.SECP256R1())
    results.append(
        summarize(
            "sign/cryptography",
            measure_in_process(
                lambda: private.sign(DIGEST, ec.ECDSA(Prehashed(hashes.SHA256()))), seconds
            ),
            seconds,
        )
    )
    shutil.rmtree(state, ignore_errors=True)
    baseline = {
        r.scenario.split("/")[0]: r.per_second for r in results if r.scenario.endswith("in-process")
    }
    for result in results:
        op, mode = result.scenario.split("/")
        if mode in ("conn", "keepalive"):
            result.ratio_to_in_process = result.per_second / baseline[op]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.seconds, args.clients)
    if args.json:
        print(json.dumps([asdict(r) | {"per_second": r.per_second} for r in results], indent=2))
        return 0
    print(f"{'scenario':20} {'ops/s':>10} {'p50 µs':>9} {'p99 µs':>9} {'vs in-process':>14}")
    for r in results:
        ratio = f"{r.ratio_to_in_process:.2f}x" if r.ratio_to_in_process is not None else ""
        print(f"{r.scenario:20} {r.per_second:10.0f} {r.p50_us:9.0f} {r.p99_us:9.0f} {ratio:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
