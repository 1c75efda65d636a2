"""Sign with the JWT authenticator versus direct authentication, in-process, in one run.

The dispatcher is called directly (no sockets), so the figures isolate what authentication
costs on the request path: a PsaSignHash authenticated directly, the same with a token from
Tessera's identity provider (the benchmark acts as the identity provider), and the JWT
authenticator alone, once with a token it has verified before and once with a fresh token each
time (a full ES256 verification).

`--wire ROUNDS` measures the same over the socket instead: one service with both
authenticators, four clients, one connection per request (compare.py's "sign 4c/conn"),
alternating direct and JWT for ROUNDS rounds of `--seconds` each so that the machine's other
load touches both alike; the ratio is of the summed operations.

Usage: python -m benchmarks.jwt_auth [--seconds S] [--wire ROUNDS] [--json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from benchmarks.load import Result, generate_key_body, measure_in_process, sign_body, summarize
from tessera.service.builder import build
from tessera.service.config import parse_config
from tessera.trust.authority import RootAuthority
from tessera.trust.peer import PeerCredentials
from tessera.wire.framing import Frame, FrameReader, encode_request
from tessera.wire.header import Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import share_trust_bundle_pb2

SUBJECT = "spiffe://tessera.local/benchmark"


def _frame(opcode: Opcode, body: bytes, auth_type: AuthType, auth: bytes, provider: int) -> Frame:
    header = Header(provider=provider, auth_type=int(auth_type), opcode=int(opcode))
    frame = FrameReader().feed(encode_request(header, body, auth))[0]
    assert isinstance(frame, Frame)
    return frame


def run(seconds: float) -> list[Result]:
    state = Path(tempfile.mkdtemp(prefix="ts-jwt-bench-", dir="/tmp"))
    config = parse_config(
        {
            "core_settings": {"state_dir": str(state)},
            "authenticator": {"auth_types": ["direct", "jwt"]},
        }
    )
    me = PeerCredentials(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())
    assembly = build(config)
    results: list[Result] = []
    try:
        dispatcher = assembly.dispatcher
        root = RootAuthority.generate("benchmark identity provider")
        intermediate = root.issue_intermediate(timedelta(minutes=30))
        for der, is_root in ((root.der, True), (intermediate.der, False)):
            body = share_trust_bundle_pb2.Operation(certificate=der, root=is_root)
            frame = _frame(
                Opcode.SHARE_TRUST_BUNDLE, body.SerializeToString(), AuthType.NO_AUTH, b"", 0
            )
            reply = dispatcher.handle(frame, me)
            assert reply[32:34] == b"\x00\x00", "ShareTrustBundle refused"

        def token() -> bytes:
            return intermediate.issue_token(
                subject=SUBJECT, audience=config.trust.audience, lifetime=timedelta(minutes=20)
            ).encode()

        jwt = token()
        for auth_type, auth in ((AuthType.DIRECT, b"benchmark"), (AuthType.JWT, jwt)):
            frame = _frame(Opcode.PSA_GENERATE_KEY, generate_key_body(), auth_type, auth, 1)
            assert dispatcher.handle(frame, None)[32:34] == b"\x00\x00", "key generation failed"

        authenticator = assembly.dispatcher._authenticators[AuthType.JWT]
        fresh = [token() for _ in range(20_000)]
        pending = iter(fresh)
        scenarios: list[tuple[str, Callable[[], object]]] = [
            (
                "sign/direct",
                functools.partial(
                    dispatcher.handle,
                    _frame(Opcode.PSA_SIGN_HASH, sign_body(), AuthType.DIRECT, b"benchmark", 1),
                    None,
                ),
            ),
            (
                "sign/jwt",
                functools.partial(
                    dispatcher.handle,
                    _frame(Opcode.PSA_SIGN_HASH, sign_body(), AuthType.JWT, jwt, 1),
                    None,
                ),
            ),
            ("jwt-auth/same token", functools.partial(authenticator.authenticate, jwt, None)),
            (
                "jwt-auth/fresh tokens",
                lambda: authenticator.authenticate(next(pending), None),
            ),
        ]
        for name, operation in scenarios:
            operation()
            budget = min(seconds, 0.5) if name.endswith("fresh tokens") else seconds
            results.append(summarize(name, measure_in_process(operation, budget), budget))
    finally:
        assembly.close()
        shutil.rmtree(state, ignore_errors=True)
    return results


def run_wire(seconds: float, rounds: int) -> list[Result]:
    from benchmarks.compare import share_trust, tessera
    from benchmarks.loadgen import drive
    from benchmarks.requests import APP, exchange, generate_request, sign_request
    from tests.support import stop_service

    base = Path(tempfile.mkdtemp(prefix="ts-jwt-wire-", dir="/tmp"))
    service = tessera(base, "tessera", "--auth", "direct,jwt")
    totals: dict[str, list[float]] = {"sign 4c/conn direct": [], "sign 4c/conn jwt": []}
    counts: dict[str, int] = dict.fromkeys(totals, 0)
    spans: dict[str, float] = dict.fromkeys(totals, 0.0)
    try:
        path = service.socket_path
        direct = (AuthType.DIRECT, APP)
        jwt = (AuthType.JWT, share_trust(path).encode())
        for auth in (direct, jwt):
            if exchange(path, generate_request(auth))[0] != 0:
                raise RuntimeError("could not generate the benchmark key")
        requests = {
            "sign 4c/conn direct": sign_request(direct),
            "sign 4c/conn jwt": sign_request(jwt),
        }
        for round_ in range(rounds):
            order = list(requests) if round_ % 2 == 0 else list(reversed(requests))
            for name in order:
                measured = drive(name, path, requests[name], clients=4, seconds=seconds)
                if measured.failures:
                    raise RuntimeError(f"{name}: {measured.failures} failures")
                counts[name] += measured.operations
                spans[name] += measured.seconds
                totals[name].append(measured.p50_us)
    finally:
        stop_service(service)
        shutil.rmtree(base, ignore_errors=True)
    return [
        Result(name, counts[name], spans[name], sorted(totals[name])[len(totals[name]) // 2], 0.0)
        for name in totals
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per scenario")
    parser.add_argument("--wire", type=int, default=0, metavar="ROUNDS", help="over the socket")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run_wire(args.seconds, args.wire) if args.wire else run(args.seconds)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
        return 0
    print(f"{'scenario':24} {'ops/s':>10} {'p50 µs':>9} {'p99 µs':>9}")
    for r in results:
        print(f"{r.scenario:24} {r.per_second:10.0f} {r.p50_us:9.1f} {r.p99_us:9.1f}")
    rates = [r.per_second for r in results]
    print(f"sign jwt / direct: {rates[1] / rates[0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
