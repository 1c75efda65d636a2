"""Starting and stopping the daemon: signals with requests in flight, bad configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_algorithm_pb2, psa_hash_compute_pb2
from tessera.wire.status import Status
from tests.support import read_response, request_bytes, start_service, stop_service


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_requests_in_flight(short_tmp: Path, sig: int) -> None:
    """Every request fully sent before the signal is answered; then a clean exit."""
    service = start_service(short_tmp)
    body = psa_hash_compute_pb2.Operation(
        alg=psa_algorithm_pb2.Algorithm.SHA3_512, input=os.urandom(900_000)
    )
    request = request_bytes(Opcode.PSA_HASH_COMPUTE, body, provider=1)
    clients = 30
    sent = threading.Barrier(clients + 1)
    statuses: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        with service.connect() as sock:
            sock.sendall(request)
            sent.wait(timeout=30)
            status = read_response(sock, timeout=30).header.status
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    sent.wait(timeout=30)
    exit_code = stop_service(service, sig)
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [Status.SUCCESS] * clients
    assert exit_code == 0, service.log()
    assert not service.socket_path.exists()


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ("[core_settings\n", "not valid TOML"),
        ("[core_settings]\nbody_len_limit = -1\n", "body_len_limit"),
        ("[core_settings]\nbody_len_limit = true\n", "body_len_limit"),
        ('[authenticator]\nauth_types = ["telepathy"]\n', "unknown authenticator"),
        ('[[provider]]\nprovider_type = "quantum"\n', "provider_type"),
        ('[listener]\nsocket_group = "no-such-group-here"\n', "no group"),
    ],
)
def test_bad_configuration_is_one_line(short_tmp: Path, config_text: str, message: str) -> None:
    config = short_tmp / "config.toml"
    config.write_text(config_text)
    result = run_cli(
        "service", "--allow-root", "--config", str(config), "--state-dir", str(short_tmp)
    )
    assert result.returncode == 3
    assert result.stderr.startswith("tessera: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_missing_config_file(short_tmp: Path) -> None:
    result = run_cli("service", "--config", str(short_tmp / "absent.toml"))
    assert result.returncode == 3 and "cannot read config file" in result.stderr


def test_refuses_root_without_permission(short_tmp: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only meaningful when the tests run as root")
    result = run_cli("service", "--state-dir", str(short_tmp))
    assert result.returncode == 3 and "refusing to run as root" in result.stderr
