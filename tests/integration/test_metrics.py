"""The metrics endpoint of real daemons, scraped over its Unix socket after real requests and
read with Prometheus's own text parser."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tessera.client.specs import ECDSA_P256
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import ping_pb2
from tests.support import (
    call,
    direct,
    request_bytes,
    running_service,
    start_identity,
    stop_service,
)

pytestmark = pytest.mark.integration


def http_get(path: Path, target: str) -> tuple[int, bytes]:
    """One HTTP/1.0 GET over a Unix socket: status code and body."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(os.fspath(path))
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: tessera\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def scrape(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample, keyed by name and labels."""
    code, body = http_get(path, "/metrics")
    assert code == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_service_metrics_and_health(tmp_path: Path) -> None:
    metrics_socket = tmp_path / "run" / "metrics.sock"
    config = tmp_path / "service.toml"
    config.write_text(
        f'[listener]\nmetrics_socket = "{metrics_socket}"\n'
        '[authenticator]\nauth_types = ["direct"]\n'
    )
    with running_service(tmp_path / "state", config=config) as service:
        for _ in range(3):
            assert call(service.socket_path, Opcode.PING, ping_pb2.Operation()).header.status == 0
        service.generate_key("k", ECDSA_P256.attributes(), direct("alice"))
        unknown = request_bytes(Opcode.PING, ping_pb2.Operation())
        unknown = unknown[:28] + (0x7777).to_bytes(4, "little") + unknown[32:]
        service.call(unknown)  # an opcode nobody serves: counted by its status
        samples = scrape(metrics_socket)

        ping = {"opcode": "Ping", "status": "Success", "provider": "0"}
        assert value(samples, "tessera_requests_total", **ping) == 3
        generated = {"opcode": "PsaGenerateKey", "status": "Success", "provider": "1"}
        assert value(samples, "tessera_requests_total", **generated) == 1
        refused = [
            v for (name, labels), v in samples.items()
            if name == "tessera_requests_total" and ("status", "OpcodeDoesNotExist") in labels
        ]  # fmt: skip
        assert sum(refused) == 1
        assert value(samples, "tessera_request_duration_seconds_count", opcode="Ping") == 3
        # The unknown opcode is refused while framing, before admission.
        assert value(samples, "tessera_admission_duration_seconds_count") == 4
        assert value(samples, "tessera_keys", provider="1") == 1
        assert value(samples, "tessera_connections_accepted_total") >= 5
        assert value(samples, "tessera_connections_open") >= 0
        started = value(samples, "process_start_time_seconds")
        assert 0 < started <= time.time()
        assert value(samples, "tessera_build_info", daemon="service", version="0.1.0") == 1
        # No application or key name appears anywhere.
        _, text = http_get(metrics_socket, "/metrics")
        assert b"alice" not in text and b'"k"' not in text

        code, body = http_get(metrics_socket, "/health")
        assert code == 200
        health = json.loads(body)
        assert health["status"] == "serving" and health["daemon"] == "service"
        assert http_get(metrics_socket, "/nothing")[0] == 404
        assert metrics_socket.stat().st_mode & 0o077 == 0
    assert not metrics_socket.exists()


def test_identity_metrics_count_rotations(tmp_path: Path) -> None:
    metrics_socket = tmp_path / "idp-metrics.sock"
    config = tmp_path / "identity.toml"
    config.write_text(f'[identity]\nmetrics_socket = "{metrics_socket}"\n')
    with running_service(tmp_path / "svc") as service:
        identity = start_identity(
            tmp_path / "idp", service.socket_path, "--heartbeat", "0.1", "--config", str(config)
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                code, body = http_get(metrics_socket, "/health")
                if code == 200:
                    break
                assert json.loads(body)["status"] == "degraded"  # not yet trusted
                time.sleep(0.1)
            assert code == 200, body
            assert json.loads(body)["checks"] == {"trusted": True}
            call(identity.socket_path, Opcode.PING, ping_pb2.Operation())
            samples = scrape(metrics_socket)
            assert value(samples, "tessera_trust_rotations_total") >= 1
            assert value(samples, "tessera_tokens_issued_total") == 0
            assert value(samples, "tessera_peer_restarts_total") == 0
            assert value(samples, "tessera_proven_processes") == 0
            ping = {"opcode": "Ping", "status": "Success", "provider": "0"}
            assert value(samples, "tessera_requests_total", **ping) == 1
        finally:
            stop_service(identity)
