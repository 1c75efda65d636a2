"""Starting and stopping the daemon: signals with requests in flight, bad configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tessera.client.specs import rsa_oaep
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import list_keys_pb2, psa_algorithm_pb2, psa_hash_compute_pb2
from tessera.wire.status import Status
from tests.support import (
    direct,
    generate_key_request,
    read_response,
    request_bytes,
    start_service,
    stop_service,
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_requests_in_flight(short_tmp: Path, sig: int) -> None:
    """Every request fully sent before the signal is answered; then a clean exit.

    RSA key generation runs on the worker pool, so those requests are truly in flight when the
    signal lands; hashing runs inline. Every key answered as created must exist afterwards.
    """
    config = short_tmp / "config.toml"
    config.write_text("[listener]\ndrain_timeout = 60000\n")  # a busy machine is slow, not wrong
    service = start_service(short_tmp, "--auth", "direct", config=config)
    hashing = request_bytes(
        Opcode.PSA_HASH_COMPUTE,
        psa_hash_compute_pb2.Operation(
            alg=psa_algorithm_pb2.Algorithm.SHA3_512, input=os.urandom(500_000)
        ),
        provider=1,
    )
    requests = [
        generate_key_request(f"rsa-{i}", rsa_oaep(2048).attributes(), direct("app"))
        for i in range(8)
    ] + [hashing] * 20
    sent = threading.Barrier(len(requests) + 1)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(request: bytes) -> None:
        with service.connect() as sock:
            sock.sendall(request)
            sent.wait(timeout=30)
            status = read_response(sock, timeout=60).header.status
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    sent.wait(timeout=30)
    exit_code = stop_service(service, sig)
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [Status.SUCCESS] * len(requests)
    assert exit_code == 0, service.log()
    assert not service.socket_path.exists()
    restarted = start_service(short_tmp, "--auth", "direct")
    try:
        listed = restarted.call(request_bytes(Opcode.LIST_KEYS, **direct("app")))
        keys = list_keys_pb2.Result.FromString(listed.body).keys
        assert sorted(k.name for k in keys) == sorted(f"rsa-{i}" for i in range(8))
    finally:
        stop_service(restarted)


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
