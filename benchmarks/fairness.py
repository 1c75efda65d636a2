"""Fairness: a victim's ECDSA sign latency alone and beside a neighbour flooding RSA generation.

Both phases run in one service, one after the other in the same run, so the ratio of the two
p99 latencies means something on any machine (benchmarks/README.md records it).

Usage: python -m benchmarks.fairness [--seconds S] [--flooders N] [--rsa-bits B] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.load import Result, read_one, sign_body, summarize
from tessera.client.specs import ECDSA_P256, rsa_pss
from tessera.wire.framing import encode_request
from tessera.wire.header import FLAG_KEEP_ALIVE, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import psa_generate_key_pb2
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes
from tests.support import start_service, stop_service

VICTIM = "victim"
FLOODER = "flooder"
KEY = "bench-p256"  # the key sign_body() names


@dataclass
class Fairness:
    """The victim alone, the victim flooded, and what the flooder got done meanwhile."""

    alone: Result
    flooded: Result
    flood_generations: int
    flood_refused: int

    @property
    def p99_factor(self) -> float:
        return self.flooded.p99_us / self.alone.p99_us


def request(opcode: Opcode, body: bytes, app: str) -> bytes:
    header = Header(
        provider=1, auth_type=int(AuthType.DIRECT), opcode=int(opcode), flags=FLAG_KEEP_ALIVE
    )
    return encode_request(header, body, app.encode())


def generate(app: str, name: str, attributes: KeyAttributes) -> bytes:
    body = psa_generate_key_pb2.Operation(key_name=name, attributes=attributes)
    return request(Opcode.PSA_GENERATE_KEY, body.SerializeToString(), app)


async def victim(path: Path, seconds: float) -> list[float]:
    """One application signing back to back on one connection, as a busy client would."""
    data = request(Opcode.PSA_SIGN_HASH, sign_body(), VICTIM)
    latencies: list[float] = []
    reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        writer.write(data)
        header = await read_one(reader)
        latencies.append(time.perf_counter() - start)
        assert header.status == 0, header
    writer.close()
    return latencies


async def flood(path: Path, connections: int, bits: int, counts: list[int]) -> None:
    """Another application generating RSA keys on `connections` connections until cancelled;
    counts[0] made, counts[1] refused (its quotas may say no: that is its business)."""
    attributes = rsa_pss(bits).attributes()

    async def one(index: int) -> None:
        reader, writer = await asyncio.open_unix_connection(os.fspath(path))
        try:
            for n in range(sys.maxsize):
                writer.write(generate(FLOODER, f"rsa-{index}-{n}", attributes))
                header = await read_one(reader)
                counts[0 if header.status == 0 else 1] += 1
        finally:
            writer.close()

    await asyncio.gather(*(one(i) for i in range(connections)))


@contextlib.contextmanager
def busy_cores() -> Iterator[None]:
    """Every core kept busy by processes outside the service, at the flood's CPU priority: the
    victim alone then runs on the same machine load as beside the flood (an idle machine's
    wake-up latency would otherwise count against the quiet phase), and the difference between
    the phases is what the service lets one tenant do to another."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "import os\nos.nice(10)\nwhile True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


async def phases(path: Path, seconds: float, flooders: int, bits: int) -> Fairness:
    await victim(path, min(1.0, seconds / 4))  # warm-up: the first requests are not the measure
    start = time.perf_counter()
    with busy_cores():
        alone = summarize("victim-sign/alone", await victim(path, seconds), 0.0)
    alone.seconds = time.perf_counter() - start
    counts = [0, 0]
    flooding = asyncio.create_task(flood(path, flooders, bits, counts))
    await asyncio.sleep(min(0.5, seconds / 4))  # the flood is under way before measuring
    start = time.perf_counter()
    flooded = summarize("victim-sign/flooded", await victim(path, seconds), 0.0)
    flooded.seconds = time.perf_counter() - start
    flooding.cancel()  # closes its connections: what is still queued is dropped, not run
    with contextlib.suppress(asyncio.CancelledError):
        await flooding
    return Fairness(alone, flooded, counts[0], counts[1])


def run_fairness(seconds: float, flooders: int = 8, rsa_bits: int = 4096) -> Fairness:
    state = Path(tempfile.mkdtemp(prefix="ts-fair-", dir="/tmp"))
    service = start_service(state, "--auth", "direct", "--log-level", "warning")
    try:
        setup = service.call(generate(VICTIM, KEY, ECDSA_P256.attributes()))
        if setup.header.status != 0:
            raise RuntimeError(f"key generation failed with status {setup.header.status}")
        return asyncio.run(phases(service.socket_path, seconds, flooders, rsa_bits))
    finally:
        stop_service(service)
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--flooders", type=int, default=8, help="flooding connections")
    parser.add_argument("--rsa-bits", type=int, default=4096)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run_fairness(args.seconds, args.flooders, args.rsa_bits)
    if args.json:
        print(json.dumps(asdict(result) | {"p99_factor": result.p99_factor}, indent=2))
        return 0
    print(f"{'scenario':22} {'ops/s':>8} {'p50 µs':>9} {'p99 µs':>9}")
    for r in (result.alone, result.flooded):
        print(f"{r.scenario:22} {r.per_second:8.0f} {r.p50_us:9.0f} {r.p99_us:9.0f}")
    print(
        f"flooded/alone p99: {result.p99_factor:.2f}x; the neighbour made "
        f"{result.flood_generations} RSA-{args.rsa_bits} keys ({result.flood_refused} refused)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
