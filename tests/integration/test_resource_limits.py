"""A client cannot make the service hoard memory or connections."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_generate_random_pb2
from tessera.wire.status import Status
from tests.support import request_bytes, running_service


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_client_that_never_reads_cannot_pile_up_answers(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    config.write_text("[listener]\nidle_timeout = 1500\n")
    big = request_bytes(
        Opcode.PSA_GENERATE_RANDOM,
        psa_generate_random_pb2.Operation(size=1 << 20),
        provider=1,
        keep_alive=True,
    )
    with running_service(short_tmp, config=config) as service:
        before = rss_kib(service.process.pid)
        flooder = service.connect()
        flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        flooder.settimeout(0.2)
        sent = 0
        try:
            for _ in range(2000):  # 2000 answers of 1 MiB would be 2 GiB if they piled up
                flooder.sendall(big)
                sent += 1
        except (TimeoutError, BlockingIOError, OSError):
            pass  # the service stopped reading from us: exactly the point
        # Others are still served meanwhile; once a Ping is answered, the event loop has been
        # through the flood's requests (or stopped producing for them), so measure then.
        assert service.call(request_bytes(Opcode.PING)).header.status == Status.SUCCESS
        grown = rss_kib(service.process.pid) - before
        assert grown < 64 << 10, f"the service grew by {grown} KiB for a client that never reads"
        # And the stalled connection is dropped once it has been stalled past the idle timeout.
        flooder.settimeout(10)
        deadline = time.monotonic() + 20
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                closed = flooder.recv(1 << 20) == b""
            except ConnectionResetError:
                closed = True
        flooder.close()
        assert closed
        assert sent >= 1


def test_connections_beyond_the_limit_are_closed(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    config.write_text("[listener]\nmax_connections = 4\n")
    with running_service(short_tmp, config=config) as service:
        held = [service.connect() for _ in range(4)]
        try:
            time.sleep(0.2)  # let the service accept them
            extra = service.connect()
            extra.settimeout(10)
            try:
                extra.sendall(request_bytes(Opcode.PING))
                answer = extra.recv(100)
            except (BrokenPipeError, ConnectionResetError):
                answer = b""
            assert answer == b""  # closed without an answer
            extra.close()
        finally:
            for sock in held:
                sock.close()
        # once they are gone, new connections are served again
        deadline = time.monotonic() + 10
        while True:
            try:
                status = service.call(request_bytes(Opcode.PING)).header.status
                break
            except ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert status == Status.SUCCESS
