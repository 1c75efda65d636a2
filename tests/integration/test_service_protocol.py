"""The daemon over real sockets: core operations, authenticators, malformed input, connections.

One daemon serves the whole module; it must still be alive (and answering Ping) at the end.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tessera.client.specs import ECDSA_P256, ECDSA_P384, aes_gcm, rsa_oaep
from tessera.wire.contracts import decode_result
from tessera.wire.header import Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    delete_client_pb2,
    list_authenticators_pb2,
    list_clients_pb2,
    list_keys_pb2,
    list_opcodes_pb2,
    list_providers_pb2,
    psa_algorithm_pb2,
    psa_generate_random_pb2,
    psa_hash_compute_pb2,
)
from tessera.wire.status import Status
from tests.support import (
    Auth,
    Response,
    RunningService,
    direct,
    exchange_raw,
    read_response,
    request_bytes,
    running_service,
    unix_peer,
)

UID = os.getuid()


def seed(service: RunningService) -> None:
    """Keys of several applications, made through the wire."""
    for owner, name, spec in [
        ("alice", "signing", ECDSA_P256),
        ("alice", "encryption", rsa_oaep(2048)),
        ("bob", "signing", ECDSA_P384),  # same key name, another application
        ("carol", "a", aes_gcm(128)),
        ("carol", "b", aes_gcm(128)),
    ]:
        service.generate_key(name, spec.attributes(), direct(owner))
    service.generate_key("mine", aes_gcm(128).attributes(), unix_peer())


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    state = Path(tempfile.mkdtemp(prefix="ts-proto-", dir="/tmp"))
    with running_service(
        state, "--auth", "direct,unix-peer", "--admin", "direct:root-admin"
    ) as running:
        seed(running)
        yield running
        assert running.alive(), "the daemon must survive everything this module sends"
        assert running.call(request_bytes(Opcode.PING)).header.status == Status.SUCCESS


def ok(response: Response, opcode: Opcode) -> object:
    assert response.header.status == Status.SUCCESS, Status(response.header.status).name
    assert response.header.opcode == opcode
    return decode_result(opcode, response.body)


def status_of(response: Response) -> Status:
    return Status(response.header.status)


# core operations


def test_ping(service: RunningService) -> None:
    response = service.call(request_bytes(Opcode.PING, session=0xDEADBEEF))
    result = ok(response, Opcode.PING)
    assert response.header.session == 0xDEADBEEF
    assert response.body == b"\x08\x01"  # version 1.0
    assert result is not None


def test_list_providers_lists_configured_then_core(service: RunningService) -> None:
    result = ok(service.call(request_bytes(Opcode.LIST_PROVIDERS)), Opcode.LIST_PROVIDERS)
    assert isinstance(result, list_providers_pb2.Result)
    assert [p.id for p in result.providers] == [1, 0]
    software, core = result.providers
    assert core.uuid == "47049873-2a43-4845-9d72-831eab668784"
    assert software.uuid != core.uuid and len(software.uuid) == 36
    assert software.description and software.vendor == "Tessera"


def test_list_opcodes_per_provider(service: RunningService) -> None:
    def opcodes(provider_id: int) -> list[int]:
        body = list_opcodes_pb2.Operation(provider_id=provider_id)
        result = ok(service.call(request_bytes(Opcode.LIST_OPCODES, body)), Opcode.LIST_OPCODES)
        assert isinstance(result, list_opcodes_pb2.Result)
        return list(result.opcodes)

    assert opcodes(0) == [1, 8, 9, 14, 26]
    software = opcodes(1)
    assert Opcode.PSA_GENERATE_RANDOM in software and Opcode.PING not in software
    unknown = service.call(
        request_bytes(Opcode.LIST_OPCODES, list_opcodes_pb2.Operation(provider_id=42))
    )
    assert status_of(unknown) is Status.PROVIDER_NOT_REGISTERED  # as Parsec's core provider


def test_extensions_are_listed_only_to_clients_that_know_them(service: RunningService) -> None:
    # Parsec's Rust client rejects a whole ListOpcodes answer naming an opcode it lacks (MAC).
    body = list_opcodes_pb2.Operation(provider_id=1)
    plain = ok(service.call(request_bytes(Opcode.LIST_OPCODES, body)), Opcode.LIST_OPCODES)
    extended = ok(
        service.call(request_bytes(Opcode.LIST_OPCODES, body, extensions=True)),
        Opcode.LIST_OPCODES,
    )
    assert isinstance(plain, list_opcodes_pb2.Result)
    assert isinstance(extended, list_opcodes_pb2.Result)
    mac = {int(Opcode.PSA_MAC_COMPUTE), int(Opcode.PSA_MAC_VERIFY)}
    assert not mac & set(plain.opcodes)
    assert set(extended.opcodes) == set(plain.opcodes) | mac


def test_list_authenticators_in_configured_order(service: RunningService) -> None:
    result = ok(service.call(request_bytes(Opcode.LIST_AUTHENTICATORS)), Opcode.LIST_AUTHENTICATORS)
    assert isinstance(result, list_authenticators_pb2.Result)
    assert [a.id for a in result.authenticators] == [1, 3]
    assert all(a.description for a in result.authenticators)


def listed_keys(service: RunningService, auth: Auth) -> list[tuple[int, str, int]]:
    response = service.call(request_bytes(Opcode.LIST_KEYS, **auth))
    result = ok(response, Opcode.LIST_KEYS)
    assert isinstance(result, list_keys_pb2.Result)
    return [(k.provider_id, k.name, k.attributes.key_bits) for k in result.keys]


def test_list_keys_shows_only_the_callers_keys(service: RunningService) -> None:
    assert listed_keys(service, direct("alice")) == [
        (1, "encryption", 2048),
        (1, "signing", 256),
    ]
    assert listed_keys(service, direct("bob")) == [(1, "signing", 384)]
    assert listed_keys(service, direct("nobody")) == []
    assert listed_keys(service, unix_peer()) == [(1, "mine", 128)]


def test_list_keys_needs_authentication(service: RunningService) -> None:
    assert status_of(service.call(request_bytes(Opcode.LIST_KEYS))) is Status.NOT_AUTHENTICATED


def test_list_clients_is_for_admins(service: RunningService) -> None:
    response = service.call(request_bytes(Opcode.LIST_CLIENTS, **direct("root-admin")))
    result = ok(response, Opcode.LIST_CLIENTS)
    assert isinstance(result, list_clients_pb2.Result)
    assert {"alice", "bob"} <= set(result.clients)
    assert len(result.clients) == len(set(result.clients))
    denied = service.call(request_bytes(Opcode.LIST_CLIENTS, **direct("alice")))
    assert status_of(denied) is Status.ADMIN_OPERATION
    anonymous = service.call(request_bytes(Opcode.LIST_CLIENTS))
    assert status_of(anonymous) is Status.NOT_AUTHENTICATED


def test_delete_client_removes_every_key(service: RunningService) -> None:
    body = delete_client_pb2.Operation(client="carol")
    assert listed_keys(service, direct("carol")) == [(1, "a", 128), (1, "b", 128)]
    denied = service.call(request_bytes(Opcode.DELETE_CLIENT, body, **direct("alice")))
    assert status_of(denied) is Status.ADMIN_OPERATION
    assert len(listed_keys(service, direct("carol"))) == 2
    ok(
        service.call(request_bytes(Opcode.DELETE_CLIENT, body, **direct("root-admin"))),
        Opcode.DELETE_CLIENT,
    )
    assert listed_keys(service, direct("carol")) == []
    again = service.call(request_bytes(Opcode.DELETE_CLIENT, body, **direct("root-admin")))
    assert status_of(again) is Status.PSA_ERROR_DOES_NOT_EXIST
    assert len(listed_keys(service, direct("alice"))) == 2  # nobody else was touched


def test_list_clients_lists_what_delete_client_can_delete(service: RunningService) -> None:
    """Both act under the administrator's own authenticator: the application proven by peer
    credentials (named by its uid) is not listed to a direct-authenticated administrator, who
    could not delete it by that name either."""
    admin = direct("root-admin")
    result = ok(service.call(request_bytes(Opcode.LIST_CLIENTS, **admin)), Opcode.LIST_CLIENTS)
    assert isinstance(result, list_clients_pb2.Result)
    assert str(UID) not in result.clients and "alice" in result.clients
    body = delete_client_pb2.Operation(client=str(UID))
    refused = service.call(request_bytes(Opcode.DELETE_CLIENT, body, **admin))
    assert status_of(refused) is Status.PSA_ERROR_DOES_NOT_EXIST
    assert listed_keys(service, unix_peer()) == [(1, "mine", 128)]


# authentication


def test_operations_parsec_serves_without_authentication(service: RunningService) -> None:
    random = service.call(
        request_bytes(
            Opcode.PSA_GENERATE_RANDOM, psa_generate_random_pb2.Operation(size=32), provider=1
        )
    )
    result = ok(random, Opcode.PSA_GENERATE_RANDOM)
    assert isinstance(result, psa_generate_random_pb2.Result)
    assert len(result.random_bytes) == 32
    hashed = service.call(
        request_bytes(
            Opcode.PSA_HASH_COMPUTE,
            psa_hash_compute_pb2.Operation(alg=psa_algorithm_pb2.Algorithm.SHA_256, input=b"abc"),
            provider=1,
        )
    )
    digest = ok(hashed, Opcode.PSA_HASH_COMPUTE)
    assert isinstance(digest, psa_hash_compute_pb2.Result)
    assert digest.hash.hex().startswith("ba7816bf8f01cfea")


def test_direct_authentication_failures(service: RunningService) -> None:
    empty = service.call(request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.DIRECT, auth=b""))
    assert status_of(empty) is Status.AUTHENTICATION_ERROR
    not_utf8 = service.call(
        request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.DIRECT, auth=b"\xff\xfe")
    )
    assert status_of(not_utf8) is Status.AUTHENTICATION_ERROR


def test_auth_on_an_unauthenticated_opcode_is_still_checked(service: RunningService) -> None:
    bad = service.call(request_bytes(Opcode.PING, auth_type=AuthType.DIRECT, auth=b"\xff"))
    assert status_of(bad) is Status.AUTHENTICATION_ERROR


def test_unix_peer_credentials(service: RunningService) -> None:
    assert listed_keys(service, unix_peer())  # our own uid is accepted
    mismatch = service.call(request_bytes(Opcode.LIST_KEYS, **unix_peer(UID + 1)))
    assert status_of(mismatch) is Status.AUTHENTICATION_ERROR
    short = service.call(
        request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.UNIX_PEER_CREDENTIALS, auth=b"\0\0")
    )
    assert status_of(short) is Status.AUTHENTICATION_ERROR


def test_disabled_and_unknown_authenticators(service: RunningService) -> None:
    jwt = service.call(request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.JWT, auth=b"x.y.z"))
    assert status_of(jwt) is Status.AUTHENTICATOR_NOT_REGISTERED
    assert jwt.header.opcode == Opcode.LIST_KEYS  # echoed: the header itself was valid
    unknown = service.call(request_bytes(Opcode.LIST_KEYS, auth_type=9, auth=b"x"))
    assert status_of(unknown) is Status.AUTHENTICATOR_DOES_NOT_EXIST
    assert unknown.header == Header(status=Status.AUTHENTICATOR_DOES_NOT_EXIST)  # default header


def test_only_configured_authenticators_are_active(short_tmp: Path) -> None:
    with running_service(short_tmp, "--auth", "direct") as only_direct:
        peer = only_direct.call(request_bytes(Opcode.LIST_KEYS, **unix_peer()))
        assert status_of(peer) is Status.AUTHENTICATOR_NOT_REGISTERED
        assert status_of(only_direct.call(request_bytes(Opcode.LIST_KEYS, **direct("x")))) is (
            Status.SUCCESS
        )


# routing


def test_routing_errors_echo_the_request(service: RunningService) -> None:
    # An id Parsec names but this service does not run: echoed, as Parsec's dispatcher.
    absent = service.call(request_bytes(Opcode.PSA_GENERATE_RANDOM, b"", provider=2, session=5))
    assert status_of(absent) is Status.PROVIDER_NOT_REGISTERED
    assert (absent.header.provider, absent.header.session) == (2, 5)
    # An id outside Parsec's enumeration: Parsec's default header, which its clients can decode.
    unknown = service.call(request_bytes(Opcode.PSA_GENERATE_RANDOM, b"", provider=77, session=5))
    assert status_of(unknown) is Status.PROVIDER_DOES_NOT_EXIST
    assert (unknown.header.provider, unknown.header.session) == (0, 0)
    assert unknown.header.opcode == Opcode.PING
    core_elsewhere = service.call(request_bytes(Opcode.PING, provider=1))
    assert status_of(core_elsewhere) is Status.PSA_ERROR_NOT_SUPPORTED
    crypto_at_core = service.call(request_bytes(Opcode.PSA_GENERATE_RANDOM, provider=0))
    assert status_of(crypto_at_core) is Status.PSA_ERROR_NOT_SUPPORTED
    unimplemented = service.call(request_bytes(Opcode.ATTEST_KEY, provider=1, **direct("alice")))
    assert status_of(unimplemented) is Status.PSA_ERROR_NOT_SUPPORTED


def test_undecodable_body(service: RunningService) -> None:
    response = service.call(request_bytes(Opcode.LIST_OPCODES, b"\x08\xff\xff", session=3))
    assert status_of(response) is Status.DESERIALIZING_BODY_FAILED
    assert (response.header.opcode, response.header.session) == (Opcode.LIST_OPCODES, 3)


def test_generate_random_over_the_buffer_limit(service: RunningService) -> None:
    body = psa_generate_random_pb2.Operation(size=1 << 40)
    response = service.call(request_bytes(Opcode.PSA_GENERATE_RANDOM, body, provider=1))
    assert status_of(response) is Status.RESPONSE_TOO_LARGE


# malformed input: each gets its status, with Parsec's default header


DEFAULT_HEADER_CASES = {
    "bad magic": (
        bytes.fromhex("deadbeef") + request_bytes(Opcode.PING)[4:],
        Status.INVALID_HEADER,
    ),
    "header size 31": (
        request_bytes(Opcode.PING)[:4] + b"\x1f\x00" + request_bytes(Opcode.PING)[6:] + b"\0",
        Status.INVALID_HEADER,
    ),
    "version 2.0": (
        request_bytes(Opcode.PING)[:6] + b"\x02" + request_bytes(Opcode.PING)[7:],
        Status.WIRE_PROTOCOL_VERSION_NOT_SUPPORTED,
    ),
    "reserved byte set": (request_bytes(Opcode.PING)[:35] + b"\x01", Status.INVALID_HEADER),
    "content type 1": (
        request_bytes(Opcode.PING)[:19] + b"\x01" + request_bytes(Opcode.PING)[20:],
        Status.CONTENT_TYPE_NOT_SUPPORTED,
    ),
    "accept type 1": (
        request_bytes(Opcode.PING)[:20] + b"\x01" + request_bytes(Opcode.PING)[21:],
        Status.ACCEPT_TYPE_NOT_SUPPORTED,
    ),
    "unknown opcode": (request_bytes(0x99), Status.OPCODE_DOES_NOT_EXIST),
    "short read in header": (request_bytes(Opcode.PING)[:20], Status.CONNECTION_ERROR),
    "short read in body": (
        request_bytes(Opcode.LIST_OPCODES, b"\x08\x01\x08\x01")[:-2],
        Status.CONNECTION_ERROR,
    ),
    "oversize body": (
        request_bytes(Opcode.PING)[:22]
        + struct.pack("<I", (1 << 20) + 1)
        + request_bytes(Opcode.PING)[26:],
        Status.BODY_SIZE_EXCEEDS_LIMIT,
    ),
    # No auth limit below the field's own maximum, as Parsec: the frame is just short.
    "auth longer than sent": (
        request_bytes(Opcode.PING)[:26]
        + struct.pack("<H", 65535)
        + request_bytes(Opcode.PING)[28:],
        Status.CONNECTION_ERROR,
    ),
}


@pytest.mark.parametrize("case", sorted(DEFAULT_HEADER_CASES))
def test_malformed_request(service: RunningService, case: str) -> None:
    data, status = DEFAULT_HEADER_CASES[case]
    answer = exchange_raw(service.socket_path, data)
    assert len(answer) == 36, f"expected exactly one bare response header, got {answer.hex()}"
    assert answer == Header(status=status).pack()


def test_garbage_stream_is_answered_and_closed(service: RunningService) -> None:
    answer = exchange_raw(service.socket_path, os.urandom(4096))
    assert answer == Header(status=Status.INVALID_HEADER).pack()


def test_request_timeout(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    config.write_text("[listener]\ntimeout = 150\n")
    with running_service(short_tmp, config=config) as slow, slow.connect() as sock:
        sock.sendall(request_bytes(Opcode.PING)[:10])
        sock.settimeout(10)
        answer = sock.recv(100)
        assert answer == Header(status=Status.CONNECTION_ERROR).pack()
        assert sock.recv(100) == b""  # closed


def test_idle_timeout_counts_from_the_last_request(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    config.write_text("[listener]\nidle_timeout = 2000\n")
    with running_service(short_tmp, config=config) as idle, idle.connect() as sock:
        for session in range(12):  # 12 x 0.25 s of activity: longer than the idle timeout
            sock.sendall(request_bytes(Opcode.PING, session=session, keep_alive=True))
            assert read_response(sock).header.session == session
            time.sleep(0.25)
        sock.settimeout(20)
        assert sock.recv(10) == b""  # then, idle, the service closes it


def test_body_and_auth_limits_from_config(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    config.write_text("[core_settings]\nbody_len_limit = 16\nauth_len_limit = 8\n")
    body = psa_hash_compute_pb2.Operation(alg=psa_algorithm_pb2.Algorithm.SHA_256, input=b"x" * 64)
    with running_service(short_tmp, config=config) as limited:
        response = limited.call(request_bytes(Opcode.PSA_HASH_COMPUTE, body, provider=1))
        assert status_of(response) is Status.BODY_SIZE_EXCEEDS_LIMIT
        small = psa_hash_compute_pb2.Operation(alg=psa_algorithm_pb2.Algorithm.SHA_256, input=b"")
        assert (
            status_of(limited.call(request_bytes(Opcode.PSA_HASH_COMPUTE, small, provider=1)))
            is Status.SUCCESS
        )
        long_name = limited.call(request_bytes(Opcode.LIST_KEYS, **direct("a-long-app-name")))
        assert status_of(long_name) is Status.BODY_SIZE_EXCEEDS_LIMIT
        assert status_of(limited.call(request_bytes(Opcode.LIST_KEYS, **unix_peer()))) is (
            Status.SUCCESS
        )


# connections


def test_one_request_per_connection_closes_after_the_response(service: RunningService) -> None:
    with service.connect() as sock:
        sock.sendall(request_bytes(Opcode.PING))
        assert read_response(sock).header.status == Status.SUCCESS
        sock.settimeout(5)
        assert sock.recv(10) == b""  # Parsec's Go client reads until EOF


def test_persistent_connection_serves_many_requests(service: RunningService) -> None:
    with service.connect() as sock:
        for session in range(100):
            sock.sendall(request_bytes(Opcode.PING, session=session, keep_alive=True))
            assert read_response(sock).header.session == session
        # pipelined: all requests first, then all responses, in order
        sock.sendall(
            b"".join(
                request_bytes(Opcode.LIST_KEYS, session=i, keep_alive=True, **direct("alice"))
                for i in range(50)
            )
        )
        sessions = [read_response(sock).header.session for _ in range(50)]
        assert sessions == list(range(50))
        # an error answer keeps a sound connection open too
        sock.sendall(request_bytes(0x99, keep_alive=True))
        assert read_response(sock).header.status == Status.OPCODE_DOES_NOT_EXIST
        sock.sendall(request_bytes(Opcode.PING, keep_alive=True))
        assert read_response(sock).header.status == Status.SUCCESS


def test_fifty_concurrent_clients(service: RunningService) -> None:
    def client(index: int) -> list[int]:
        statuses = []
        with service.connect() as sock:
            for i in range(20):
                sock.sendall(
                    request_bytes(
                        Opcode.LIST_KEYS, session=i, keep_alive=True, **direct(f"app-{index}")
                    )
                )
                response = read_response(sock)
                assert response.header.session == i
                statuses.append(response.header.status)
        for _ in range(5):
            statuses.append(service.call(request_bytes(Opcode.PING)).header.status)
        return statuses

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(client, range(50)))
    assert all(status == Status.SUCCESS for statuses in results for status in statuses)
    assert sum(len(s) for s in results) == 50 * 25


def test_socket_and_directory_permissions(service: RunningService) -> None:
    socket_mode = stat.S_IMODE(service.socket_path.stat().st_mode)
    dir_mode = stat.S_IMODE(service.socket_path.parent.stat().st_mode)
    assert socket_mode == 0o600
    assert dir_mode == 0o700
    assert stat.S_IMODE((service.state_dir / "keys.sqlite3").stat().st_mode) == 0o600


def test_second_service_refuses_a_live_socket(service: RunningService, short_tmp: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tessera.cli.main",
            "service",
            "--allow-root",
            "--socket",
            os.fspath(service.socket_path),
            "--state-dir",
            os.fspath(short_tmp),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "another service" in result.stderr
    assert "Traceback" not in result.stderr
    assert service.call(request_bytes(Opcode.PING)).header.status == Status.SUCCESS
