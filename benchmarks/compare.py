"""Tessera against Parsec and against the floor, every figure a ratio measured in one run.

Issue 14's goals: the same load generator (benchmarks/loadgen.py: processes, blocking sockets,
one connection per request unless said) drives Parsec 1.1.0's service with its default idle poll
(10 ms) and with idle poll 0, then Tessera; the floor is the bare `cryptography` ECDSA P-256
signature in one and in two processes; the ceiling (benchmarks/ceiling.py) is a bare uvloop
server in one and two processes that answers the same signature request with nothing but the
unavoidable work, so each throughput and latency goal is also read against what any Python
service reaches on this machine. Then Tessera alone: keep-alive, the JWT authenticator
against direct authentication, a key store of 100,000 keys against one of a few, the service's
resident memory with those keys and 64 idle connections, and its CPU use while idle. And the
`tessera` command's wall time (ping, list-keys, sign against that service, a fresh process each,
as a script calls it) against `python -c pass` in the same run (`measure_cli`).

Usage: python -m benchmarks.compare [--seconds S] [--keys N] [--json]
Parsec's runs are skipped, saying so, where ../shared/interop/ is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from benchmarks.ceiling import ceiling_service
from benchmarks.floor import signing_rate
from benchmarks.loadgen import Measured, drive
from benchmarks.requests import (
    APP,
    exchange,
    fill_key_store,
    generate_request,
    ping_request,
    sign_request,
    verify_request,
)
from tessera.trust.authority import RootAuthority
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import share_trust_bundle_pb2
from tests.interop import interop_dir
from tests.support import (
    RunningService,
    call,
    children_of,
    start_service,
    stop_service,
    wait_for_socket,
)

JWT_SUBJECT = "spiffe://tessera.local/benchmark"
Goal = tuple[str, str, bool, str]  # the goal, Tessera's figure, met, the ceiling's figure


@dataclass
class Report:
    """Everything one run measured, and the goals read from it."""

    seconds: float
    runs: list[Measured] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, service: str, measured: Measured) -> Measured:
        measured.scenario = f"{service} {measured.scenario}"
        self.runs.append(measured)
        return measured


# --- the services -------------------------------------------------------------------------


@contextlib.contextmanager
def parsec(base: Path, idle_ms: int) -> Iterator[Path]:
    script = interop_dir() / "parsec-service"
    state = base / f"parsec-{idle_ms}"
    path = state / "parsec.sock"
    log = (base / f"parsec-{idle_ms}.log").open("wb")
    process = subprocess.Popen(
        [os.fspath(script), os.fspath(path), os.fspath(state), str(idle_ms)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_socket(path, process, base / f"parsec-{idle_ms}.log")
        yield path
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def tessera(base: Path, name: str, *extra: str) -> RunningService:
    """A Tessera service, returned once it answers and its start-up work is over (its worker
    processes start after its socket exists: their imports are not idle time)."""
    service = start_service(base / name, "--log-level", "warning", *extra)
    exchange(service.socket_path, ping_request())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        before = cpu_seconds(service.process.pid)
        time.sleep(0.3)
        if cpu_seconds(service.process.pid) - before < 0.01:
            break
    return service


def tree(pid: int) -> list[int]:
    """`pid` and its children: a service's master and its worker processes."""
    return [pid, *children_of(pid)]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for member in tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def idle_cpu(pid: int, seconds: float = 2.0) -> float:
    """The share of one core a process (and its workers) used over `seconds` of no requests."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its workers, summed (pages they share count twice)."""
    total = 0
    for member in tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


# --- the scenarios ------------------------------------------------------------------------


def common(report: Report, service: str, path: Path, auth: tuple[AuthType, bytes]) -> None:
    """What is measured on every service: ping and sign with 4 clients, sign with 1."""
    seconds = report.seconds
    if exchange(path, generate_request(auth))[0] != 0:
        raise RuntimeError(f"{service}: could not generate the benchmark key")
    report.add(service, drive("ping 4c/conn", path, ping_request(), clients=4, seconds=seconds))
    sign = sign_request(auth)
    report.add(service, drive("sign 1c/conn", path, sign, clients=1, seconds=seconds))
    report.add(service, drive("sign 4c/conn", path, sign, clients=4, seconds=seconds))
    verify = verify_request(auth, path)
    report.add(service, drive("verify 4c/conn", path, verify, clients=4, seconds=seconds))


def share_trust(path: Path) -> str:
    """Act as the identity provider: share a root and an intermediate; a token for the app."""
    root = RootAuthority.generate("benchmark identity provider")
    intermediate = root.issue_intermediate(timedelta(minutes=30))
    for der, is_root in ((root.der, True), (intermediate.der, False)):
        body = share_trust_bundle_pb2.Operation(certificate=der, root=is_root)
        status = call(path, Opcode.SHARE_TRUST_BUNDLE, body).header.status
        if status != 0:
            raise RuntimeError(f"ShareTrustBundle refused: status {status}")
    return intermediate.issue_token(
        subject=JWT_SUBJECT, audience="tessera", lifetime=timedelta(minutes=20)
    )


def measure_tessera(report: Report, base: Path, keys: int) -> None:
    direct = (AuthType.DIRECT, APP)
    service = tessera(base, "tessera", "--auth", "direct,jwt")
    try:
        path = service.socket_path
        pid = service.process.pid
        # Worker processes of the default set-up (one process, no master, when it is one).
        report.figures["tessera workers"] = float(max(1, len(tree(pid)) - 1))
        report.figures["tessera idle cpu"] = idle_cpu(pid)
        common(report, "tessera", path, direct)
        sign = sign_request(direct)
        kept = sign_request(direct, keep_alive=True)
        report.add(
            "tessera",
            drive(
                "sign 1c/keepalive", path, kept, clients=1, seconds=report.seconds, keep_alive=True
            ),
        )
        jwt = (AuthType.JWT, share_trust(path).encode())
        if exchange(path, generate_request(jwt))[0] != 0:
            raise RuntimeError("tessera: could not generate the JWT app's key")
        report.add(
            "tessera",
            drive("sign 4c/conn jwt", path, sign_request(jwt), clients=4, seconds=report.seconds),
        )
        measure_cli(report, path, rounds=max(3, round(report.seconds * 4)))
        filled = fill_key_store(path, direct, keys)
        report.add(
            "tessera",
            drive(f"sign 4c/conn {filled} keys", path, sign, clients=4, seconds=report.seconds),
        )
        with _idle_connections(path, 64):
            report.figures["tessera rss mib"] = rss_mib(pid)
        report.figures["tessera keys"] = filled
    finally:
        stop_service(service)


def measure_cli(report: Report, path: Path, rounds: int) -> None:
    """The `tessera` command against this run's service: `ping`, `list-keys` and `sign` as a
    script runs them (a fresh process each), beside `python -c pass` (benchmarks/cli_startup.py).
    """
    from benchmarks.cli_startup import COMMANDS, time_commands

    words = tuple(command for command in COMMANDS if command[0] != "--help")
    for result in time_commands(path, rounds, words=words):
        report.figures[f"cli {result.name} ms"] = result.median_ms


def cli_goals(report: Report) -> list[Goal]:
    """Issue 14's CLI goal for each command timed: <= 50 ms and <= 4x `python -c pass`."""
    from benchmarks.cli_startup import GOAL_MS, GOAL_RATIO

    figures = report.figures
    floor = figures.get("cli python -c pass ms", float("nan"))
    rows = []
    for name, value in figures.items():
        if not name.startswith("cli tessera "):
            continue
        command = name.removeprefix("cli ").removesuffix(" ms")
        ratio = value / floor
        rows.append(
            (
                f"{command} <= {GOAL_MS:.0f} ms and <= {GOAL_RATIO:.0f}x python",
                f"{value:.0f} ms, {ratio:.1f}x ({floor:.0f} ms)",
                value <= GOAL_MS and ratio <= GOAL_RATIO,
                "",
            )
        )
    return rows


@contextlib.contextmanager
def _idle_connections(path: Path, count: int) -> Iterator[None]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(os.fspath(path))
            sockets.append(sock)
        time.sleep(0.2)  # accepted and registered by the service
        yield
    finally:
        for sock in sockets:
            sock.close()


def measure_one_worker(report: Report, base: Path) -> None:
    """Sign with one worker process, to compare with the default (one per core)."""
    service = tessera(base, "tessera-1-worker", "--auth", "direct", "--workers", "1")
    try:
        direct = (AuthType.DIRECT, APP)
        if exchange(service.socket_path, generate_request(direct))[0] != 0:
            raise RuntimeError("tessera, one worker: could not generate the benchmark key")
        sign = sign_request(direct)
        report.add(
            "tessera-1-worker",
            drive("sign 4c/conn", service.socket_path, sign, clients=4, seconds=report.seconds),
        )
    finally:
        stop_service(service)


def measure_ceiling(report: Report, base: Path) -> None:
    """The bare server (benchmarks/ceiling.py) in one and in two processes: sign, and ping."""
    sign = sign_request((AuthType.DIRECT, APP))
    seconds = report.seconds
    for processes in (1, 2):
        path = base / f"ceiling-{processes}.sock"
        with ceiling_service(path, processes):
            name = f"ceiling-{processes}p"
            if exchange(path, sign)[0] != 0:  # answered once every worker runs
                raise RuntimeError(f"{name}: the bare server did not sign")
            for clients in (1, 4):
                measured = drive(
                    f"sign {clients}c/conn", path, sign, clients=clients, seconds=report.seconds
                )
                report.add(name, measured)
            kept = sign_request((AuthType.DIRECT, APP), keep_alive=True)
            measured = drive(
                "sign 1c/keepalive", path, kept, clients=1, seconds=report.seconds, keep_alive=True
            )
            report.add(name, measured)
            if processes == 2:  # as Tessera runs by default here: the ping goal's ceiling
                ping = drive("ping 4c/conn", path, ping_request(), clients=4, seconds=seconds)
                report.add(name, ping)


def measure_parsec(report: Report, base: Path) -> None:
    if not (interop_dir() / "parsec-service").exists():
        report.notes.append(f"Parsec not measured: {interop_dir()} has no parsec-service")
        return
    for idle_ms in (10, 0):
        name = f"parsec-idle{idle_ms}"
        with parsec(base, idle_ms) as path:
            process_cpu = _parsec_pid(base / name)
            if process_cpu is not None:
                report.figures[f"{name} idle cpu"] = idle_cpu(process_cpu)
            common(report, name, path, (AuthType.DIRECT, APP))


def _parsec_pid(state: Path) -> int | None:
    # The script execs Parsec, so the process started is Parsec itself; find it by its cwd.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(entry / "cwd").resolve() == state.resolve():
                    return int(entry.name)
    return None


# --- the goals ----------------------------------------------------------------------------


def _rate(report: Report, scenario: str) -> float:
    for run in report.runs:
        if run.scenario == scenario:
            return run.per_second
    return float("nan")


def _p50(report: Report, scenario: str) -> float:
    for run in report.runs:
        if run.scenario == scenario:
            return run.p50_us
    return float("nan")


def goals(report: Report) -> list[Goal]:
    """(goal, what was measured, met, what the ceiling measured where it applies) for each goal
    of issue 14 this run can judge."""
    figures = report.figures
    sign4 = _rate(report, "tessera sign 4c/conn")
    parsec0 = _rate(report, "parsec-idle0 sign 4c/conn")
    ping4 = _rate(report, "tessera ping 4c/conn")
    ping_parsec0 = _rate(report, "parsec-idle0 ping 4c/conn")
    floor2 = figures["floor 2 processes"]
    jwt = _rate(report, "tessera sign 4c/conn jwt")
    keys = int(figures.get("tessera keys", 0))
    many = _rate(report, f"tessera sign 4c/conn {keys} keys")
    one_worker = _rate(report, "tessera-1-worker sign 4c/conn")
    ceiling = _rate(report, "ceiling-2p sign 4c/conn")
    ceiling_one = _rate(report, "ceiling-1p sign 4c/conn")
    sign_p50 = _p50(report, "tessera sign 1c/conn")
    kept_p50 = _p50(report, "tessera sign 1c/keepalive")
    rows: list[Goal] = [
        (
            "sign 4c/conn >= 10x Parsec idle 0",
            f"{sign4 / parsec0:.2f}x",
            sign4 / parsec0 >= 10,
            f"{ceiling / parsec0:.2f}x",
        ),
        (
            "sign 4c/conn >= 0.6x floor (2 procs)",
            f"{sign4 / floor2:.2f}x",
            sign4 / floor2 >= 0.6,
            f"{ceiling / floor2:.2f}x",
        ),
        (
            "ping 4c/conn >= 1x Parsec idle 0",
            f"{ping4 / ping_parsec0:.2f}x",
            ping4 >= ping_parsec0,
            f"{_rate(report, 'ceiling-2p ping 4c/conn') / ping_parsec0:.2f}x",
        ),
        (
            "sign p50 1c/conn <= 100 us",
            f"{sign_p50:.0f} us",
            sign_p50 <= 100,
            f"{_p50(report, 'ceiling-2p sign 1c/conn'):.0f} us",
        ),
        (
            "sign p50 1c/keepalive <= 60 us",
            f"{kept_p50:.0f} us",
            kept_p50 <= 60,
            f"{_p50(report, 'ceiling-2p sign 1c/keepalive'):.0f} us",
        ),
        (
            "two workers >= 1.7x one worker (sign)",
            f"{sign4 / one_worker:.2f}x",
            sign4 / one_worker >= 1.7,
            f"{ceiling / ceiling_one:.2f}x",
        ),
        ("sign jwt >= 0.9x direct", f"{jwt / sign4:.2f}x", jwt / sign4 >= 0.9, ""),
        (f"sign with {keys} keys within 10%", f"{many / sign4:.2f}x", many / sign4 >= 0.9, ""),
        (
            "RSS with the keys + 64 idle conns < 150 MiB",
            f"{figures.get('tessera rss mib', float('nan')):.1f} MiB",
            figures.get("tessera rss mib", 1e9) < 150,
            "",
        ),
        (
            "Tessera idles at ~0% CPU",
            f"{100 * figures['tessera idle cpu']:.1f}%",
            figures["tessera idle cpu"] < 0.01,
            "",
        ),
    ]
    rows += cli_goals(report)
    return rows


def print_report(report: Report) -> None:
    print(f"{'scenario':36} {'ops/s':>9} {'p50 us':>8} {'p99 us':>8} {'failed':>7}")
    for run in report.runs:
        print(
            f"{run.scenario:36} {run.per_second:9.0f} {run.p50_us:8.0f} "
            f"{run.p99_us:8.0f} {run.failures:7d}"
        )
    for name, value in report.figures.items():
        print(f"{name:36} {value:9.3f}")
    print()
    print(f"{'':7} {'goal':46} {'measured':24} the ceiling (benchmarks/ceiling.py)")
    for goal, measured, met, ceiling in goals(report):
        print(f"{'met    ' if met else 'NOT MET'} {goal:46} {measured:24} {ceiling}")
    for note in report.notes:
        print(f"note: {note}")


def measure(seconds: float, keys: int) -> Report:
    """The whole run: the floor, Parsec twice (where present), Tessera."""
    report = Report(seconds=seconds)
    base = Path(tempfile.mkdtemp(prefix="ts-compare-", dir="/tmp"))
    try:
        report.figures["floor 1 process"] = signing_rate(1, seconds)
        report.figures["floor 2 processes"] = signing_rate(2, seconds)
        measure_parsec(report, base)
        measure_ceiling(report, base)
        measure_tessera(report, base, keys)
        measure_one_worker(report, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per scenario")
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the large store")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = measure(args.seconds, args.keys)
    if args.json:
        json.dump(
            {
                "runs": [asdict(run) for run in report.runs],
                "figures": report.figures,
                "goals": goals(report),
                "notes": report.notes,
            },
            sys.stdout,
            indent=2,
        )
        print()
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
