"""Per-application quotas: one application over a limit is refused, another keeps working."""

from __future__ import annotations

import socket
from pathlib import Path

from tessera.client.specs import ECDSA_P256, rsa_pss
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_destroy_key_pb2, psa_generate_key_pb2
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes
from tessera.wire.status import Status
from tests.support import RunningService, direct, read_response, request_bytes, running_service

BUSY = Status.PSA_ERROR_INSUFFICIENT_MEMORY
FULL = Status.PSA_ERROR_INSUFFICIENT_STORAGE


def _config(tmp: Path, quotas: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(f'[authenticator]\nauth_types = ["direct"]\n\n[quotas]\n{quotas}\n')
    return path


def _generate(app: str, name: str, attributes: KeyAttributes | None = None) -> bytes:
    body = psa_generate_key_pb2.Operation(
        key_name=name, attributes=attributes or ECDSA_P256.attributes()
    )
    return request_bytes(Opcode.PSA_GENERATE_KEY, body, provider=1, **direct(app))


def _status(service: RunningService, data: bytes) -> Status:
    return Status(service.call(data, 120).header.status)


def test_an_application_over_its_request_rate_is_refused_alone(short_tmp: Path) -> None:
    with running_service(short_tmp, config=_config(short_tmp, "requests_per_second = 5")) as svc:
        ask = request_bytes(Opcode.LIST_KEYS, keep_alive=True, **direct("noisy"))
        with svc.connect() as sock:
            sock.sendall(ask * 20)  # pipelined: all arrive within the same second
            statuses = [read_response(sock).header.status for _ in range(20)]
        served = statuses.count(Status.SUCCESS)
        assert 1 <= served <= 7, statuses  # a burst of one second's worth, plus a little refill
        assert statuses.count(BUSY) == 20 - served
        # Another application is not affected.
        assert _status(svc, request_bytes(Opcode.LIST_KEYS, **direct("quiet"))) == Status.SUCCESS
        # Unauthenticated requests belong to no application.
        assert _status(svc, request_bytes(Opcode.PING)) == Status.SUCCESS


def test_an_application_over_its_concurrent_requests_is_refused_alone(short_tmp: Path) -> None:
    rsa_4096 = rsa_pss(4096).attributes()
    with running_service(short_tmp, config=_config(short_tmp, "max_concurrent = 1")) as svc:
        socks: list[socket.socket] = []
        for i in range(3):  # each RSA-4096 generation takes far longer than sending these
            sock = svc.connect()
            sock.sendall(_generate("hog", f"rsa-{i}", rsa_4096))
            socks.append(sock)
        # Meanwhile another application's slow request is served.
        assert _status(svc, _generate("other", "ecc")) == Status.SUCCESS
        statuses = [read_response(sock, 120).header.status for sock in socks]
        for sock in socks:
            sock.close()
        assert statuses.count(Status.SUCCESS) >= 1, statuses
        assert statuses.count(BUSY) >= 1, statuses
        assert set(statuses) <= {Status.SUCCESS, BUSY}


def test_an_application_at_its_key_quota_is_refused_alone(short_tmp: Path) -> None:
    with running_service(short_tmp, config=_config(short_tmp, "max_keys = 2")) as svc:
        assert _status(svc, _generate("filler", "a")) == Status.SUCCESS
        assert _status(svc, _generate("filler", "b")) == Status.SUCCESS
        assert _status(svc, _generate("filler", "c")) == FULL
        for name in "ab":  # another application still has its whole quota
            assert _status(svc, _generate("roomy", name)) == Status.SUCCESS
        # Destroying a key makes room again.
        destroy = psa_destroy_key_pb2.Operation(key_name="a")
        data = request_bytes(Opcode.PSA_DESTROY_KEY, destroy, provider=1, **direct("filler"))
        assert _status(svc, data) == Status.SUCCESS
        assert _status(svc, _generate("filler", "c")) == Status.SUCCESS


def test_an_application_at_its_storage_quota_is_refused_alone(short_tmp: Path) -> None:
    with running_service(short_tmp, config=_config(short_tmp, "max_bytes = 1000")) as svc:
        statuses = [_status(svc, _generate("hoarder", f"k{i}")) for i in range(20)]
        made = statuses.count(Status.SUCCESS)
        assert 1 <= made < 20, statuses  # a P-256 key takes a few hundred bytes
        assert statuses[made:] == [FULL] * (20 - made), statuses
        for i in range(made):  # another application still has its whole quota
            assert _status(svc, _generate("modest", f"k{i}")) == Status.SUCCESS
