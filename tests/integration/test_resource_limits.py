"""A client cannot make the service hoard memory or connections."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tessera.client.specs import ECDSA_P256, rsa_pss
from tessera.wire.contracts import decode_result
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import list_keys_pb2, psa_generate_key_pb2, psa_generate_random_pb2
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes
from tessera.wire.status import Status
from tests.support import (
    RunningService,
    direct,
    read_response,
    request_bytes,
    running_service,
)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def settled_rss_kib(pid: int, timeout: float = 20.0) -> int:
    """The RSS once it stops changing (the service has done what it will do), bounded."""
    deadline = time.monotonic() + timeout
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) < 1024:
            return now
        last = now
    return last


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
    # One process: the exact count. Several share the limit (test_one_user_cannot_lock_...).
    with running_service(short_tmp, "--workers", "1", config=config) as service:
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


def test_many_clients_that_never_read_pin_a_bounded_amount_and_it_is_returned(
    short_tmp: Path,
) -> None:
    # The attack run: many connections each pipelining GenerateRandom(1 MiB), never reading,
    # pushed the service past 1 GB, and 757 MB stayed after they closed.
    config = short_tmp / "config.toml"
    config.write_text("[listener]\nmax_connections = 2048\nmax_connections_per_uid = 2048\n")
    big = request_bytes(
        Opcode.PSA_GENERATE_RANDOM,
        psa_generate_random_pb2.Operation(size=1 << 20),
        provider=1,
        keep_alive=True,
    )
    with running_service(short_tmp, config=config) as service:
        pid = service.process.pid
        before = rss_kib(pid)
        flooders = []
        for _ in range(600):
            sock = service.connect()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.send(big * 4)
            flooders.append(sock)
        held = settled_rss_kib(pid) - before
        for sock in flooders:
            sock.close()
        # Budget: 64 MiB in all (8 MiB per user), plus the interpreter's own churn.
        assert held < 160 << 10, f"{held} KiB held for clients that never read"
        ping = service.call(request_bytes(Opcode.PING), timeout=60)  # a loaded machine is slow
        assert ping.header.status == Status.SUCCESS
        deadline = time.monotonic() + 10
        while rss_kib(pid) - before > 48 << 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        kept = rss_kib(pid) - before
        assert kept < 48 << 10, f"{kept} KiB kept after the connections closed"


def test_a_connection_that_says_nothing_is_closed_early(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    config.write_text("[listener]\nfirst_byte_timeout = 200\nidle_timeout = 60000\n")
    with running_service(short_tmp, config=config) as service:
        silent = service.connect()
        silent.settimeout(30)
        with contextlib.suppress(ConnectionResetError):
            assert silent.recv(10) == b""  # closed long before the 60 s idle timeout
        silent.close()
        # A connection that did speak keeps the idle timeout: its second request is served.
        with service.connect() as talker:
            talker.sendall(request_bytes(Opcode.PING, keep_alive=True))
            assert read_response(talker).header.status == Status.SUCCESS
            time.sleep(0.5)
            talker.sendall(request_bytes(Opcode.PING))
            assert read_response(talker).header.status == Status.SUCCESS


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user")
@pytest.mark.parametrize("workers", [1, 2])
def test_one_user_cannot_lock_another_out(short_tmp: Path, workers: int) -> None:
    # The attack run: one unprivileged user holding 1,030 idle connections failed every ping
    # of another tenant. Here a second user (nobody) holds more than its share.
    nobody = pwd.getpwnam("nobody")
    # The second user runs the system's Python (this one may live where it cannot enter).
    python = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if _runs_as(p)), None)
    if python is None:
        pytest.skip("no Python that the user nobody may run")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    config = short_tmp / "config.toml"
    config.write_text(
        f'[listener]\nsocket_group = "{group}"\nmax_connections = 64\n'
        "max_connections_per_uid = 8\nfirst_byte_timeout = 60000\n"
    )
    # The second user reaches the socket through the client group, as docs/security.md says.
    os.chown(short_tmp, -1, nobody.pw_gid)
    short_tmp.chmod(0o750)
    with running_service(short_tmp, "--workers", str(workers), config=config) as service:
        holder = subprocess.Popen(
            [python, "-c", _HOLD_CONNECTIONS, str(service.socket_path), "100"],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            held = int(holder.stdout.readline())
            # Several workers share the limit: each takes 8 / workers of the user's connections,
            # so it holds its share of one worker at least, and never more than 8 in all.
            assert 8 // workers <= held <= 8, f"the other user kept {held} connections open"
            if workers == 1:
                assert held == 8
            for _ in range(15):
                assert service.call(request_bytes(Opcode.PING)).header.status == Status.SUCCESS
        finally:
            holder.kill()
            holder.wait()
            if holder.stdout is not None:
                holder.stdout.close()
        assert "refusing a connection of uid" in service.log()
        # A flood of refusals is logged a line at a time, not a line per connection.
        assert service.log().count("refusing a connection of uid") < 10


def _runs_as(program: str) -> bool:
    """True if `program` is executable by everyone (the user nobody among them)."""
    try:
        return os.stat(program).st_mode & 0o001 != 0
    except OSError:
        return False


# Opens N connections as the user it runs as; prints how many the service left open.
_HOLD_CONNECTIONS = """
import socket, sys, time
path, count = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(count):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
    except OSError:
        continue
    held.append(s)
time.sleep(1.0)
alive = 0
for s in held:
    s.setblocking(False)
    try:
        alive += s.recv(1) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print(alive, flush=True)
time.sleep(60)
"""


def _generate_request(app: str, name: str, attributes: KeyAttributes) -> bytes:
    body = psa_generate_key_pb2.Operation(key_name=name, attributes=attributes)
    return request_bytes(Opcode.PSA_GENERATE_KEY, body, provider=1, **direct(app))


def _key_count(service: RunningService, app: str) -> int:
    response = service.call(request_bytes(Opcode.LIST_KEYS, **direct(app)))
    result = decode_result(Opcode.LIST_KEYS, response.body)
    assert isinstance(result, list_keys_pb2.Result)
    return len(result.keys)


def test_a_flooding_tenant_cannot_starve_another(short_tmp: Path) -> None:
    # The attack run: 200 RSA-4096 generations made another tenant's ECC generation wait 75 s.
    # Here the victim's request must be served within one turn of the workers, whatever the
    # flooder has queued: when it is answered, few of the flooder's keys can exist yet.
    rsa_4096 = rsa_pss(4096).attributes()
    # One process: the bound below is its threads (each worker process drops the work of its
    # own gone clients the same way, with its share of the threads).
    with running_service(short_tmp, "--auth", "direct", "--workers", "1") as service:
        flood = []
        for i in range(16):
            sock = service.connect()
            sock.sendall(_generate_request("flooder", f"rsa-{i}", rsa_4096))
            flood.append(sock)
        time.sleep(0.3)  # the flood is queued before the victim asks
        answer = service.call(_generate_request("victim", "ecc", ECDSA_P256.attributes()), 120)
        assert answer.header.status == Status.SUCCESS
        made = _key_count(service, "flooder")
        workers = os.cpu_count() or 2
        assert made <= 2 * workers, f"{made} flooder keys were made before the victim's"
        for sock in flood:
            assert read_response(sock, 120).header.status == Status.SUCCESS  # all served
            sock.close()


def test_slow_work_of_a_vanished_client_is_not_done(short_tmp: Path) -> None:
    # The attack run: generations sent on connections closed at once were all still made.
    rsa_4096 = rsa_pss(4096).attributes()
    # One process: the bound below is its threads (each worker process drops the work of its
    # own gone clients the same way, with its share of the threads).
    with running_service(short_tmp, "--auth", "direct", "--workers", "1") as service:
        for i in range(16):
            with service.connect() as sock:
                sock.sendall(_generate_request("gone", f"rsa-{i}", rsa_4096))
        # Once a later slow request is answered, the workers have moved past the gone client's.
        answer = service.call(_generate_request("later", "ecc", ECDSA_P256.attributes()), 120)
        assert answer.header.status == Status.SUCCESS
        made = _key_count(service, "gone")
        workers = os.cpu_count() or 2
        assert made <= workers, f"{made} keys were made for a client that had gone"
