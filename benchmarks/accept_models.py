"""Two ways for several worker processes to serve one socket, measured side by side.

Issue 14 asks to measure both and keep the faster:
- **shared accept** (what the service does, service/workers.py): the master binds the socket
  and every worker accepts on it; the kernel gives each connection to one waiting worker;
- **handover**: one acceptor process accepts every connection and passes its descriptor to a
  worker over a Unix socket pair (SCM_RIGHTS), round robin.
The workers answer each request with the same bytes and close (the service's per-request work
is the same in both models, so it is left out: what differs is the path of a connection). The
load generator of benchmarks/compare.py drives each model with Ping, one connection per request;
the report gives throughput, p50, and the CPU time all the model's processes spent per
connection, in one run.

Usage: python -m benchmarks.accept_models [--seconds S] [--workers N] [--clients C] [--json]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

from benchmarks.loadgen import drive
from benchmarks.requests import ping_request
from tessera.wire.header import Header
from tessera.wire.opcodes import Opcode

RESPONSE = Header(opcode=int(Opcode.PING)).pack()  # any well-formed answer: the same in both


@dataclass
class Measured:
    model: str
    per_second: float
    p50_us: float
    cpu_us_per_connection: float
    failures: int


class _Answer(asyncio.Protocol):
    """Reads whatever comes, answers once and closes: the same work in both models."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass

    def data_received(self, data: bytes) -> None:
        self._transport.write(RESPONSE)
        self._transport.close()


async def _serve_shared(fd: int, seconds: float) -> None:
    listening = socket.socket(fileno=fd)
    listening.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.create_unix_server(_Answer, sock=listening, backlog=1024)
    await asyncio.sleep(seconds)


async def _serve_handed(fd: int, seconds: float) -> None:
    channel = socket.socket(fileno=fd)
    channel.setblocking(False)
    loop = asyncio.get_running_loop()
    connecting: set[asyncio.Task[object]] = set()

    def receive() -> None:
        while True:
            try:
                fds = array.array("i")
                _, ancillary, _, _ = channel.recvmsg(1, socket.CMSG_SPACE(fds.itemsize))
            except BlockingIOError:
                return
            for _, _, data in ancillary:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
            for received in fds:
                conn = socket.socket(fileno=received)
                conn.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(_Answer, conn))
                connecting.add(task)
                task.add_done_callback(connecting.discard)

    loop.add_reader(channel.fileno(), receive)
    await asyncio.sleep(seconds)


def _acceptor(path: str, channels: list[int], seconds: float) -> None:
    """Accept every connection and hand it to the workers in turn."""
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(path)
    listening.listen(1024)
    listening.settimeout(0.2)
    pipes = [socket.socket(fileno=fd) for fd in channels]
    deadline = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < deadline:
        try:
            conn, _ = listening.accept()
        except TimeoutError:
            continue
        pipes[turn].sendmsg(
            [b"c"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [conn.fileno()]))]
        )
        conn.close()
        turn = (turn + 1) % len(pipes)


def _child(role: str, fd: int, seconds: float) -> None:
    import uvloop

    uvloop.install()
    serve = _serve_shared if role == "shared" else _serve_handed
    asyncio.run(serve(fd, seconds))


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            probe.connect(os.fspath(path))
            probe.sendall(ping_request())
            return len(probe.recv(64)) > 0
    except OSError:
        return False


def _spawn(role: str, fd: int, seconds: float) -> subprocess.Popen[bytes]:
    code = f"from benchmarks.accept_models import _child; _child({role!r}, {fd}, {seconds})"
    return subprocess.Popen([sys.executable, "-c", code], pass_fds=(fd,))


def _measure(model: str, path: Path, pids: list[int], seconds: float, clients: int) -> Measured:
    deadline = time.monotonic() + 30
    while not _answers(path):  # the processes have imported and serve
        if time.monotonic() > deadline:
            raise RuntimeError(f"{model}: nothing answers on {path}")
        time.sleep(0.05)
    before = _cpu_seconds(pids)
    run = drive(model, path, ping_request(), clients=clients, seconds=seconds)
    spent = _cpu_seconds(pids) - before
    connections = max(1.0, run.per_second * seconds)
    return Measured(model, run.per_second, run.p50_us, spent / connections * 1e6, run.failures)


def shared_accept(base: Path, workers: int, seconds: float, clients: int) -> Measured:
    path = base / "shared.sock"
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(os.fspath(path))
    listening.listen(1024)
    life = seconds + 3
    children = [_spawn("shared", listening.fileno(), life) for _ in range(workers)]
    try:
        return _measure("shared accept", path, [c.pid for c in children], seconds, clients)
    finally:
        for child in children:
            child.kill()
            child.wait()
        listening.close()


def handover(base: Path, workers: int, seconds: float, clients: int) -> Measured:
    path = base / "handover.sock"
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(workers)]
    life = seconds + 3
    children = [_spawn("handed", theirs.fileno(), life) for _, theirs in pairs]
    mine = [ours.fileno() for ours, _ in pairs]
    code = (
        "from benchmarks.accept_models import _acceptor; "
        f"_acceptor({os.fspath(path)!r}, {mine!r}, {life})"
    )
    acceptor = subprocess.Popen([sys.executable, "-c", code], pass_fds=tuple(mine))
    try:
        pids = [acceptor.pid, *(c.pid for c in children)]
        return _measure("handover", path, pids, seconds, clients)
    finally:
        for process in [acceptor, *children]:
            process.kill()
            process.wait()
        for ours, theirs in pairs:
            ours.close()
            theirs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="each model, alternated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="ts-accept-", dir="/tmp"))
    results: list[Measured] = []
    try:
        for _ in range(args.rounds):
            results.append(shared_accept(base, args.workers, args.seconds, args.clients))
            results.append(handover(base, args.workers, args.seconds, args.clients))
            for leftover in base.iterdir():
                leftover.unlink()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(f"{'model':16} {'conn/s':>9} {'p50 us':>8} {'cpu us/conn':>12} {'failed':>7}")
    for r in results:
        print(
            f"{r.model:16} {r.per_second:9.0f} {r.p50_us:8.0f} "
            f"{r.cpu_us_per_connection:12.1f} {r.failures:7d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
