"""Several worker processes serving one socket (service/workers.py), against the real daemon.

The kernel hands each new connection to whichever worker accepts first, so a test cannot pick
a worker; it spreads its calls over many fresh connections instead (each lands on either of two
workers, so twenty calls all missing one worker has odds of about one in a million) and checks
what must hold whichever worker answered.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import tessera
from tessera.client.specs import ECDSA_P256, rsa_oaep
from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.revocation import revocation_claims
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import list_authenticators_pb2, list_keys_pb2, revoke_tokens_pb2
from tessera.wire.status import Status
from tests.integration.client_support import short_dir
from tests.integration.identity_support import share
from tests.support import (
    RunningService,
    call,
    children_of,
    direct,
    generate_key_request,
    process_alive,
    request_bytes,
    start_service,
    stop_service,
)

pytestmark = pytest.mark.integration

SPREAD = 20  # fresh connections per check: both workers answer some of them


@pytest.fixture
def service() -> Iterator[RunningService]:
    with short_dir() as state:
        running = start_service(state, "--auth", "direct,unix-peer", "--workers", "2")
        try:
            wait_for_workers(running, 2)
            yield running
        finally:
            stop_service(running)


def wait_for_workers(
    service: RunningService, count: int, timeout: float = 30.0, *, started: int | None = None
) -> list[int]:
    """The worker pids once `count` live ones are there and `started` (default `count`) have
    ever begun accepting (each says so in the log)."""
    deadline = time.monotonic() + timeout
    while True:
        workers = service.workers()
        serving = service.log().count("listening on")
        if len(workers) == count and serving >= (started or count):
            return workers
        assert time.monotonic() < deadline, service.log()
        time.sleep(0.05)


def public_key(client: tessera.Client, name: str) -> ec.EllipticCurvePublicKey:
    key = client.key(name).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def verifies(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    half = len(signature) // 2
    der = encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def test_the_socket_is_served_by_two_workers_in_their_own_processes(
    service: RunningService,
) -> None:
    workers = service.workers()
    assert len(workers) == 2 and service.process.pid not in workers
    with tessera.Client(f"unix:{service.socket_path}") as client:
        for _ in range(SPREAD):
            assert client.ping() == (1, 0)
    # Every worker is its own session: the terminal's Ctrl-C reaches only the master.
    assert all(os.getsid(pid) == pid for pid in workers)


def test_a_key_destroyed_through_one_worker_is_unknown_to_every_worker_at_once(
    service: RunningService,
) -> None:
    with tessera.Client(f"unix:{service.socket_path}", timeout=10) as client:
        key = client.generate_key("shared")
        for _ in range(SPREAD):  # opened, and cached, by both workers
            key.sign(b"warm")
        key.destroy()
        for _ in range(SPREAD):
            with pytest.raises(tessera.DoesNotExistError):
                client.key("shared").sign(b"after")
        # The same name made again is the new key in every worker, never the old one's cache.
        client.generate_key("shared")
        new = public_key(client, "shared")
        for index in range(SPREAD):
            message = f"new {index}".encode()
            assert verifies(new, client.key("shared").sign(message), message)


def test_rotation_and_revocation_through_one_worker_hold_in_every_worker(
    short_tmp: Path,
) -> None:
    """The test plays the identity provider: each ShareTrustBundle or RevokeTokens reaches one
    worker; every later request, whichever worker takes it, is judged by the new state."""
    service = start_service(short_tmp, "--auth", "jwt", "--workers", "2")
    try:
        wait_for_workers(service, 2)
        authority = RootAuthority.generate("identity provider")
        first = authority.issue_intermediate(timedelta(hours=1))
        for der, root in ((authority.der, True), (first.der, False)):
            response = call(service.socket_path, Opcode.SHARE_TRUST_BUNDLE, share(der, root=root))
            assert response.header.status == Status.SUCCESS
        old = _token(first, "old")
        assert _statuses(service, old) == {Status.SUCCESS}  # verified, and cached, in both

        second = authority.issue_intermediate(timedelta(hours=1))
        response = call(service.socket_path, Opcode.SHARE_TRUST_BUNDLE, share(second.der))
        assert response.header.status == Status.SUCCESS
        assert _statuses(service, old) == {Status.AUTHENTICATION_ERROR}
        gone, kept = _token(second, "gone"), _token(second, "kept")
        assert _statuses(service, gone) == {Status.SUCCESS}

        listing = second.sign_jws(revocation_claims(1, {"gone": second.not_after.timestamp()}))
        operation = revoke_tokens_pb2.Operation(revocations=listing)
        assert call(service.socket_path, Opcode.REVOKE_TOKENS, operation).header.status == 0
        assert _statuses(service, gone) == {Status.AUTHENTICATION_ERROR}
        assert _statuses(service, kept) == {Status.SUCCESS}
    finally:
        stop_service(service)


def _token(intermediate: Intermediate, grant: str) -> str:
    return intermediate.issue_token(
        subject="spiffe://tessera.local/workers",
        audience="tessera",
        lifetime=timedelta(minutes=5),
        token_id=f"{grant}.1",
    )


def _statuses(service: RunningService, token: str) -> set[Status]:
    """What SPREAD fresh connections answer a ListKeys authenticated by `token`."""
    data = request_bytes(
        Opcode.LIST_KEYS, list_keys_pb2.Operation(), auth_type=AuthType.JWT, auth=token.encode()
    )
    return {Status(service.call(data).header.status) for _ in range(SPREAD)}


def test_a_worker_killed_while_clients_run_is_replaced_and_no_call_fails(
    service: RunningService,
) -> None:
    victim, survivor = service.workers()
    failures: list[BaseException] = []
    done = [0]
    stop = threading.Event()

    def sign_in_a_loop(index: int) -> None:
        try:
            with tessera.Client(f"unix:{service.socket_path}", timeout=20) as client:
                key = client.generate_key(f"loop-{index}")
                while not stop.is_set():
                    key.sign(b"still here")
                    done[0] += 1
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=sign_in_a_loop, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        replaced = wait_for_workers(service, 2, started=3)
        assert victim not in replaced and survivor in replaced
        before = done[0]
        time.sleep(0.5)
        assert done[0] > before  # serving on, through the survivor and the replacement
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures
    assert "worker" in service.log() and "killed by SIGKILL" in service.log()


def test_sigterm_answers_the_requests_in_flight_in_every_worker(short_tmp: Path) -> None:
    service = start_service(short_tmp, "--auth", "direct", "--workers", "2")
    wait_for_workers(service, 2)
    workers = service.workers()
    answers: list[int] = []

    def generate(index: int) -> None:
        request = generate_key_request(f"rsa-{index}", rsa_oaep(3072).attributes(), direct("slow"))
        answers.append(service.call(request, timeout=60).header.status)

    threads = [threading.Thread(target=generate, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # RSA-3072 generations under way in both workers
    assert stop_service(service, timeout=60) == 0
    for thread in threads:
        thread.join(60)
    assert answers == [Status.SUCCESS] * 6
    assert not service.socket_path.exists()
    assert not any(process_alive(pid) for pid in workers)


def test_sighup_reaches_every_worker(short_tmp: Path) -> None:
    config = short_tmp / "service.toml"
    config.write_text('[authenticator]\nauth_types = ["direct"]\n')
    service = start_service(short_tmp, "--workers", "2", config=config)
    try:
        wait_for_workers(service, 2)
        config.write_text('[authenticator]\nauth_types = ["unix-peer", "direct"]\n')
        service.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while service.log().count("configuration reloaded:") < 2:
            assert time.monotonic() < deadline, service.log()
            time.sleep(0.05)
        for _ in range(SPREAD):
            response = service.call(request_bytes(Opcode.LIST_AUTHENTICATORS))
            listed = list_authenticators_pb2.Result.FromString(response.body).authenticators
            assert [a.id for a in listed] == [3, 1]
    finally:
        stop_service(service)


def test_the_workers_end_with_their_master_even_on_kill_9(short_tmp: Path) -> None:
    service = start_service(short_tmp, "--auth", "direct", "--workers", "2")
    workers = wait_for_workers(service, 2)
    service.process.kill()
    service.process.wait()
    deadline = time.monotonic() + 10
    while any(process_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its master"
        time.sleep(0.05)


def test_a_worker_that_cannot_start_stops_the_service_with_its_reason(short_tmp: Path) -> None:
    state = short_tmp / "state"
    state.mkdir(mode=0o700)
    (state / "kek").write_bytes(b"not a key-encryption key")
    (state / "kek").chmod(0o600)
    service = start_service(state, "--auth", "direct", "--workers", "2", wait=False)
    assert service.process.wait(60) == 3
    lines = [line for line in service.log().splitlines() if line.startswith("tessera:")]
    assert len(lines) == 1 and "kek" in lines[0], service.log()
    assert not any(process_alive(pid) for pid in children_of(service.process.pid))


def test_one_worker_mode_has_no_master(short_tmp: Path) -> None:
    service = start_service(short_tmp, "--auth", "direct", "--workers", "1")
    try:
        assert service.call(request_bytes(Opcode.PING)).header.status == 0
        assert service.workers() == []
    finally:
        stop_service(service)


def test_key_creation_spread_over_workers_keeps_one_key_per_name(
    service: RunningService,
) -> None:
    """Two workers racing to create the same name: one creation wins, the other is told the
    key exists (the store's uniqueness holds across processes)."""
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        request = generate_key_request("race", ECDSA_P256.attributes(), direct("racer"))
        barrier.wait()
        statuses.append(service.call(request).header.status)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == sorted([Status.SUCCESS] + [Status.PSA_ERROR_ALREADY_EXISTS] * 7)
