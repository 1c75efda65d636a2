"""A load generator of plain processes and blocking sockets, the same for every service.

Each client is its own process (so the generator's share of the CPU is the same whichever service
it drives) that sends one prepared request and reads one response, either on a new connection
each time (what Parsec's clients do) or on one kept-alive connection. It knows only the wire
framing: it measures Parsec's service and Tessera's alike.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import statistics
import struct
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from benchmarks.requests import read_exactly

_HEADER = 36
_BODY_LENGTH = struct.Struct("<I")  # the header's content length, at byte 22
_STATUS = struct.Struct("<H")  # the header's status, at byte 32


@dataclass
class Measured:
    """One scenario against one service."""

    scenario: str
    operations: int
    seconds: float
    p50_us: float
    p99_us: float
    failures: int = 0

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0


def _exchange(sock: socket.socket, request: bytes) -> int:
    """Send a request, read its response; the response's status."""
    sock.sendall(request)
    header = read_exactly(sock, _HEADER)
    (length,) = _BODY_LENGTH.unpack_from(header, 22)
    # Responses carry no auth; a body is read whole so the next request starts clean.
    if length:
        read_exactly(sock, length)
    (status,) = _STATUS.unpack_from(header, 32)
    return int(status)


def _client(
    path: str, request: bytes, keep_alive: bool, window: tuple[float, float], out: Connection
) -> None:
    start_at, stop_at = window
    latencies: list[int] = []
    failures = 0
    while time.monotonic() < start_at:
        time.sleep(0.001)
    sock: socket.socket | None = None
    while time.monotonic() < stop_at:
        begin = time.perf_counter_ns()
        try:
            if sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(path)
            status = _exchange(sock, request)
        except OSError:
            failures += 1
            status = 0
            if sock is not None:
                sock.close()
                sock = None
            continue
        if not keep_alive:
            sock.close()
            sock = None
        latencies.append(time.perf_counter_ns() - begin)
        if status:
            failures += 1
    if sock is not None:
        sock.close()
    out.send((latencies, failures))
    out.close()


def drive(
    scenario: str,
    path: Path,
    request: bytes,
    *,
    clients: int,
    seconds: float,
    keep_alive: bool = False,
) -> Measured:
    """`clients` processes sending `request` for `seconds`; every latency and failure counted."""
    context = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.3  # every client forked and waiting before the clock starts
    stop_at = start_at + seconds
    pipes = []
    processes = []
    for _ in range(clients):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_client,
            args=(os.fspath(path), request, keep_alive, (start_at, stop_at), send),
        )
        process.start()
        send.close()
        pipes.append(receive)
        processes.append(process)
    latencies: list[int] = []
    failures = 0
    for receive in pipes:
        got, failed = receive.recv()
        latencies += got
        failures += failed
    for process in processes:
        process.join()
    return summarize(scenario, latencies, seconds, failures)


def summarize(scenario: str, latencies_ns: list[int], seconds: float, failures: int) -> Measured:
    if len(latencies_ns) > 1:
        cuts = statistics.quantiles(latencies_ns, n=100)
        p50, p99 = cuts[49] / 1000, cuts[98] / 1000
    else:
        p50 = p99 = 0.0
    return Measured(scenario, len(latencies_ns), seconds, p50, p99, failures)
