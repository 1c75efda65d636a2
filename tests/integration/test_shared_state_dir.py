"""Two `tessera service` processes on one state directory (as worker processes are): a key
destroyed through one is gone through the other at once, the rate quota is the application's in
all, and the audit log is one chain."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.client.specs import ECDSA_P256
from tessera.service.audit import read_records, verify_chain
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    psa_algorithm_pb2,
    psa_destroy_key_pb2,
    psa_export_public_key_pb2,
    psa_sign_hash_pb2,
)
from tessera.wire.status import Status
from tests.support import (
    RunningService,
    direct,
    generate_key_request,
    read_response,
    request_bytes,
    services_on_one_state_dir,
    socket_file,
)

RATE = 50


@pytest.fixture
def two_services(short_tmp: Path) -> Iterator[tuple[RunningService, RunningService]]:
    state = short_tmp / "state"
    state.mkdir(mode=0o700)
    config = short_tmp / "config.toml"
    config.write_text(
        f'[authenticator]\nauth_types = ["direct"]\n\n[quotas]\nrequests_per_second = {RATE}\n'
    )
    sockets = (short_tmp / "one.sock", short_tmp / "two.sock")
    with services_on_one_state_dir(state, sockets, config=config) as pair:
        yield pair
    assert [service.process.returncode for service in pair] == [0, 0]  # both shut down cleanly


def _status(service: RunningService, data: bytes) -> Status:
    return Status(service.call(data).header.status)


def _sign(app: str, name: str) -> bytes:
    alg = psa_algorithm_pb2.Algorithm.AsymmetricSignature()
    alg.ecdsa.hash_alg.specific = psa_algorithm_pb2.Algorithm.Hash.SHA_256
    op = psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=bytes(32))
    return request_bytes(Opcode.PSA_SIGN_HASH, op, provider=1, keep_alive=True, **direct(app))


def _public(service: RunningService, name: str) -> bytes:
    op = psa_export_public_key_pb2.Operation(key_name=name)
    data = request_bytes(Opcode.PSA_EXPORT_PUBLIC_KEY, op, provider=1, **direct("alice"))
    response = service.call(data)
    assert response.header.status == 0
    return psa_export_public_key_pb2.Result.FromString(response.body).data


def test_two_services_on_one_state_directory_agree(
    two_services: tuple[RunningService, RunningService],
) -> None:
    first, second = two_services
    generate = generate_key_request("k", ECDSA_P256.attributes(), direct("alice"))
    destroy = request_bytes(
        Opcode.PSA_DESTROY_KEY,
        psa_destroy_key_pb2.Operation(key_name="k"),
        provider=1,
        **direct("alice"),
    )
    assert _status(first, generate) is Status.SUCCESS
    assert _status(second, _sign("alice", "k")) is Status.SUCCESS  # now in its row cache
    old = _public(second, "k")
    assert _status(first, destroy) is Status.SUCCESS
    assert _status(second, _sign("alice", "k")) is Status.PSA_ERROR_DOES_NOT_EXIST
    assert _status(first, generate) is Status.SUCCESS
    assert _status(second, _sign("alice", "k")) is Status.SUCCESS
    assert _public(second, "k") == _public(first, "k") != old

    # The rate quota: pipelined requests to both, within about a second, served RATE in all.
    time.sleep(1.5)  # the bucket is full again
    start = time.monotonic()
    statuses = []
    with first.connect() as one, second.connect() as two:
        one.sendall(_sign("alice", "k") * 40)
        two.sendall(_sign("alice", "k") * 40)
        for sock in (one, two):
            statuses += [Status(read_response(sock).header.status) for _ in range(40)]
    elapsed = time.monotonic() - start
    served = statuses.count(Status.SUCCESS)
    assert RATE - 1 <= served <= RATE + RATE * elapsed + 2, (served, elapsed)
    assert statuses.count(Status.PSA_ERROR_INSUFFICIENT_MEMORY) == 80 - served


def test_the_audit_log_of_two_services_is_one_chain(
    two_services: tuple[RunningService, RunningService],
) -> None:
    first, second = two_services
    for i in range(10):
        for service in (first, second):
            request = generate_key_request(
                f"k{i}-{service.socket_path.stem}", ECDSA_P256.attributes(), direct("bob")
            )
            assert _status(service, request) is Status.SUCCESS
    audit = first.state_dir / "audit"
    report = verify_chain(audit)
    assert report.broken is None, report.broken
    keys = {
        record["key"]
        for _, _, _, record in read_records(audit)
        if record is not None and record.get("op") == "PsaGenerateKey"
    }
    assert {f"k{i}-{name}" for i in range(10) for name in ("one", "two")} <= keys


def test_the_first_service_is_stopped_when_the_second_cannot_start(short_tmp: Path) -> None:
    """`services_on_one_state_dir` leaves nothing running when the pair cannot be made."""
    (short_tmp / "a-file").write_text("")
    unusable = short_tmp / "a-file" / "two.sock"  # under a file: the second cannot listen
    sockets = (short_tmp / "one.sock", unusable)
    with (
        pytest.raises(RuntimeError, match="exited early"),
        services_on_one_state_dir(short_tmp / "state", sockets, "--auth", "direct"),
    ):
        pytest.fail("the block runs only with both services up")
    assert socket_file(short_tmp / "one.sock") is None  # the first stopped and cleaned up
