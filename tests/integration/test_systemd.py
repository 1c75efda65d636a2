"""Issue 10 (operators): the service under systemd, with systemd's part played by the test.

Socket activation: the listening socket is bound by "systemd" (the test), passed as fd 3 with
LISTEN_FDS=1 and LISTEN_PID set to the daemon's own pid, as systemd's exec does. A client that
connects before the daemon runs is answered once it does; a stopped daemon leaves the socket to
systemd, and the next one serves on it again. Type=notify: READY=1 and STOPPING=1 arrive as
datagrams on a real NOTIFY_SOCKET. JSON logs: every line the daemon writes is one JSON object.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import ping_pb2
from tessera.wire.status import Status
from tests.support import (
    read_response,
    request_bytes,
    start_identity,
    start_orchestrator,
    start_service,
    stop_service,
)


def service_command(state: Path, socket_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "tessera.cli.main", "service",
        "--socket", os.fspath(socket_path), "--state-dir", os.fspath(state),
        "--allow-root", "--log-level", "debug", *extra,
    ]  # fmt: skip


# What systemd's exec does for a socket unit: the socket at fd 3, LISTEN_PID naming the process
# itself (this launcher's pid, which exec keeps), then the daemon.
LAUNCHER = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
os.execv(sys.argv[2], sys.argv[2:])
"""


def activated(command: list[str], listening: socket.socket, log: Path) -> subprocess.Popen[bytes]:
    """Start `command` as systemd would, with `listening` passed to it."""
    fd = listening.fileno()
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(fd), *command],
            pass_fds=(fd,),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def listening(short_tmp: Path) -> Iterator[socket.socket]:
    """What systemd's tessera-service.socket holds: bound and listening before any daemon."""
    run = short_tmp / "run"
    run.mkdir(mode=0o700)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(os.fspath(run / "parsec.sock"))
    sock.listen(16)
    try:
        yield sock
    finally:
        sock.close()


def ping(sock: socket.socket) -> Status:
    sock.sendall(request_bytes(Opcode.PING, ping_pb2.Operation()))
    return Status(read_response(sock, timeout=30).header.status)


def wait(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    process.send_signal(sig)
    return process.wait(30)


def test_the_service_serves_on_the_socket_systemd_passes(
    short_tmp: Path, listening: socket.socket
) -> None:
    path = Path(listening.getsockname())
    log = short_tmp / "service.log"
    # A client connects before the daemon exists: the kernel queues it on systemd's socket.
    early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    early.connect(os.fspath(path))
    first = activated(service_command(short_tmp, path), listening, log)
    try:
        assert ping(early) is Status.SUCCESS, log.read_text()
    finally:
        early.close()
        assert wait(first) == 0, log.read_text()
    assert "socket passed by systemd" in log.read_text()
    # The socket file is systemd's: a stopped service leaves it, and a restart serves on it.
    assert path.is_socket()
    second = activated(service_command(short_tmp, path), listening, log)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(os.fspath(path))
            assert ping(client) is Status.SUCCESS, log.read_text()
    finally:
        assert wait(second) == 0, log.read_text()


def test_a_passed_descriptor_that_is_not_a_listening_socket_is_refused(short_tmp: Path) -> None:
    log = short_tmp / "service.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as wrong:
        process = activated(service_command(short_tmp, short_tmp / "s.sock"), wrong, log)
        assert process.wait(30) != 0
    assert "not a listening Unix stream socket" in log.read_text()


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_and_stopping_reach_the_notify_socket(short_tmp: Path, abstract: bool) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"tessera-test-notify-{os.getpid()}"
        notify.bind("\0" + name)
        address = "@" + name
    else:
        address = os.fspath(short_tmp / "notify")
        notify.bind(address)
    notify.settimeout(30)
    path = short_tmp / "run" / "parsec.sock"
    log = short_tmp / "service.log"
    env = os.environ | {"NOTIFY_SOCKET": address}
    with notify, log.open("ab") as output:
        process = subprocess.Popen(
            service_command(short_tmp, path), env=env, stdout=output, stderr=subprocess.STDOUT
        )
        stopping = False
        try:
            assert notify.recv(4096) == b"READY=1", log.read_text()
            # Ready means accepting: no retry loop needed.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(os.fspath(path))
                assert ping(client) is Status.SUCCESS
            process.send_signal(signal.SIGTERM)
            stopping = True
            assert notify.recv(4096) == b"STOPPING=1"
        finally:
            # One SIGTERM, as systemd sends: a second one can land after the shutdown has put
            # the default handler back, and end the process it asked to stop.
            if not stopping and process.poll() is None:
                process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, log.read_text()


def test_json_logs_from_all_three_daemons_are_one_object_per_line(short_tmp: Path) -> None:
    json_logs = ("--log-format", "json")
    service = start_service(short_tmp, *json_logs)
    daemons = [service]
    try:
        daemons.append(start_identity(short_tmp, service.socket_path, *json_logs))
        daemons.append(
            start_orchestrator(
                short_tmp,
                *json_logs,
                service_socket=service.socket_path,
                identity_socket=daemons[1].socket_path,
            )
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(os.fspath(service.socket_path))
            assert ping(client) is Status.SUCCESS
    finally:
        for daemon in reversed(daemons):
            assert stop_service(daemon) == 0, daemon.log()
    for daemon in daemons:
        lines = daemon.log().splitlines()
        assert len(lines) >= 3, daemon.log()  # listening, stopping, stopped at least
        entries = [json.loads(line) for line in lines]
        assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
        assert any(e["message"].startswith("listening on") for e in entries)
        assert entries[-1]["message"] == "stopped"
