"""The identity provider and both trust relationships, with real daemons on temporary sockets.

The test plays the orchestrator with the real trust primitives (root, intermediate, signed
payloads); the identity provider and the security service are the real daemons.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from tessera.orchestrator.claims import client_definition
from tessera.trust.authority import RootAuthority
from tessera.trust.peer import incarnation_of
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    add_client_pb2,
    fetch_token_pb2,
    prove_client_pb2,
)
from tessera.wire.status import Status
from tests.integration.identity_support import Orchestrating, share, trust_status, wait_for
from tests.support import (
    Response,
    RunningService,
    call,
    request_bytes,
    start_identity,
    start_service,
    stop_service,
)

TRUST_DOMAIN = "tessera.local"


def fetch_token(identity_socket: Path, audience: str = "") -> Response:
    return call(identity_socket, Opcode.FETCH_TOKEN, fetch_token_pb2.Operation(audience=audience))


def with_token(service: RunningService, token: str, opcode: Opcode = Opcode.LIST_KEYS) -> int:
    response = service.call(request_bytes(opcode, auth_type=AuthType.JWT, auth=token.encode()))
    return response.header.status


def status(response: Response) -> Status:
    return Status(response.header.status)


@pytest.fixture(scope="module")
def system() -> Iterator[tuple[RunningService, RunningService, Orchestrating]]:
    base = Path(tempfile.mkdtemp(prefix="ts-idp-", dir="/tmp"))
    service = start_service(base / "svc", "--auth", "jwt,direct")
    identity = start_identity(base / "idp", service.socket_path, "--heartbeat", "0.1")
    try:
        orchestrator = Orchestrating(identity.socket_path)
        root, intermediate = orchestrator.share()
        assert status(root) is Status.SUCCESS and status(intermediate) is Status.SUCCESS
        wait_for(lambda: trust_status(service.socket_path).intermediate_kid != "")
        yield service, identity, orchestrator
    finally:
        stop_service(identity)
        stop_service(service)


def test_service_trusts_the_identity_provider(system: Any) -> None:
    service, _identity, _ = system
    held = trust_status(service.socket_path)
    assert held.has_root and held.root_kid and held.intermediate_kid


def test_unproven_process_gets_no_token(system: Any) -> None:
    _, identity, _orchestrator = system
    # A process outside any proven lineage: the test process is never proven in this module.
    assert status(fetch_token(identity.socket_path)) is Status.IDENTITY_CLIENT_NOT_PROVEN


def spawn_sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


FETCH_AND_USE = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[3])
from tests.support import call, request_bytes
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import fetch_token_pb2
from pathlib import Path
r = call(Path(sys.argv[1]), Opcode.FETCH_TOKEN, fetch_token_pb2.Operation())
out = {"status": r.header.status}
if r.header.status == 0:
    res = fetch_token_pb2.Result.FromString(r.body)
    out.update(token=res.token, spiffe_id=res.spiffe_id, expires_at=res.expires_at)
print(json.dumps(out))
"""


def run_as_app(identity: RunningService, service: RunningService) -> dict[str, Any]:
    """A fresh process that fetches its token (and whose children would share it)."""
    root_dir = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-c", FETCH_AND_USE, str(identity.socket_path), "", root_dir],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_proven_process_and_its_children_get_a_token(system: Any) -> None:
    service, identity, orchestrator = system
    assert status(orchestrator.add("shell-1", "shell")) is Status.SUCCESS
    # Prove a parent process; its child (the fetcher) belongs to the same application. The
    # parent starts the child only once it has been proven.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; sys.stdin.readline(); sys.exit(subprocess.call(sys.argv[1:]))",
            sys.executable,
            "-c",
            FETCH_AND_USE,
            str(identity.socket_path),
            "",
            str(Path(__file__).resolve().parents[2]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    proved = orchestrator.prove("shell-1", parent.pid)
    output, _ = parent.communicate("go\n", timeout=30)
    assert status(proved) is Status.SUCCESS
    result = json.loads(output)
    if result["status"] != 0:
        pytest.fail(f"child could not fetch a token: status {result['status']}")
    assert result["spiffe_id"] == f"spiffe://{TRUST_DOMAIN}/shell"
    claims = jwt.decode(result["token"], options={"verify_signature": False})
    assert claims["sub"] == f"spiffe://{TRUST_DOMAIN}/shell"
    assert claims["aud"] == "tessera"
    assert claims["exp"] - claims["iat"] <= 300
    header = jwt.get_unverified_header(result["token"])
    assert set(header) == {"alg", "kid", "typ"} and header["alg"] == "ES256"
    assert with_token(service, result["token"]) == Status.SUCCESS


def test_pid_reuse_cannot_inherit_an_identity(system: Any) -> None:
    _service, identity, orchestrator = system
    assert status(orchestrator.add("short-1", "short")) is Status.SUCCESS
    sleeper = spawn_sleeper()
    try:
        real = incarnation_of(sleeper.pid)
        assert real is not None
        # A proof whose start time is not the running process's: refused.
        forged = orchestrator.prove("short-1", sleeper.pid, start_time=real.start_time + 1)
        assert status(forged) is Status.IDENTITY_ATTESTATION_FAILED
        wrong_uid = orchestrator.prove("short-1", sleeper.pid, uid=os.getuid() + 1)
        assert status(wrong_uid) is Status.IDENTITY_ATTESTATION_FAILED
    finally:
        sleeper.kill()
        sleeper.wait()
    # The process is gone: a proof of it (as the orchestrator saw it) is refused.
    dead = orchestrator.intermediate.sign_jws(
        {
            "kind": "tessera/client-proof",
            "jti": "dead-1",
            "client_id": "short-1",
            "pid": real.pid,
            "start_time": real.start_time,
            "uid": os.getuid(),
            "gid": 0,
        }
    )
    response = call(
        identity.socket_path, Opcode.PROVE_CLIENT, prove_client_pb2.Operation(proof=dead)
    )
    assert status(response) is Status.IDENTITY_ATTESTATION_FAILED


def test_signed_payloads_must_be_genuine_and_fresh(system: Any) -> None:
    _, identity, orchestrator = system
    claims = client_definition(
        "bad-1", name="bad", command=[sys.executable], user="tester", uid=os.getuid()
    ).to_claims()
    genuine = orchestrator.intermediate.sign_jws(claims)
    head, body, signature = genuine.split(".")
    tampered_body = (
        base64.urlsafe_b64encode(json.dumps(claims | {"name": "admin"}).encode())
        .rstrip(b"=")
        .decode()
    )
    for bad in (
        f"{head}.{tampered_body}.{signature}",  # claims changed after signing
        f"{head}.{body}.{signature[:-4]}AAAA",  # signature damaged
        "not.a.jws",
    ):
        response = call(
            identity.socket_path, Opcode.ADD_CLIENT, add_client_pb2.Operation(definition=bad)
        )
        assert status(response) is Status.TRUST_BAD_SIGNATURE
    stale = orchestrator.intermediate.sign_jws(
        claims | {"jti": "stale-1", "iat": int(time.time()) - 3600}
    )
    response = call(
        identity.socket_path, Opcode.ADD_CLIENT, add_client_pb2.Operation(definition=stale)
    )
    assert status(response) is Status.TRUST_STALE_PAYLOAD
    first = call(
        identity.socket_path, Opcode.ADD_CLIENT, add_client_pb2.Operation(definition=genuine)
    )
    assert status(first) is Status.SUCCESS
    replay = call(
        identity.socket_path, Opcode.ADD_CLIENT, add_client_pb2.Operation(definition=genuine)
    )
    assert status(replay) is Status.TRUST_STALE_PAYLOAD
    stranger = RootAuthority.generate("stranger").issue_intermediate(timedelta(minutes=5))
    foreign = call(
        identity.socket_path,
        Opcode.ADD_CLIENT,
        add_client_pb2.Operation(definition=stranger.sign_jws(claims | {"jti": "x-1"})),
    )
    assert status(foreign) is Status.TRUST_UNKNOWN_SIGNER


def test_superseded_intermediate_is_refused(system: Any) -> None:
    _, _identity, orchestrator = system
    previous = orchestrator.rotate()
    response = orchestrator.add("old-1", "old", signer=previous)
    assert status(response) is Status.TRUST_UNKNOWN_SIGNER
    assert status(orchestrator.add("new-1", "new")) is Status.SUCCESS


def test_proof_for_an_unknown_client(system: Any) -> None:
    _, _identity, orchestrator = system
    sleeper = spawn_sleeper()
    try:
        assert status(orchestrator.prove("never-defined", sleeper.pid)) is (
            Status.IDENTITY_CLIENT_UNKNOWN
        )
    finally:
        sleeper.kill()
        sleeper.wait()


def test_root_reshare_by_the_live_orchestrator_is_refused(system: Any) -> None:
    _, identity, orchestrator = system
    again = call(
        identity.socket_path, Opcode.SHARE_TRUST_BUNDLE, share(orchestrator.root.der, root=True)
    )
    assert status(again) is Status.TRUST_ROOT_ALREADY_SHARED
    other = RootAuthority.generate("other root from the same process")
    refused = call(identity.socket_path, Opcode.SHARE_TRUST_BUNDLE, share(other.der, root=True))
    assert status(refused) is Status.TRUST_ROOT_ALREADY_SHARED


def test_removed_client_gets_no_more_tokens(system: Any) -> None:
    _service, _identity, orchestrator = system
    assert status(orchestrator.add("gone-1", "gone")) is Status.SUCCESS
    assert status(orchestrator.remove("gone-1")) is Status.SUCCESS
    assert status(orchestrator.remove("gone-1")) is Status.IDENTITY_CLIENT_UNKNOWN


def test_identity_provider_restart_heals(tmp_path_factory: pytest.TempPathFactory) -> None:
    """kill -9 the identity provider: its successor's new root is accepted by the service."""
    base = Path(tempfile.mkdtemp(prefix="ts-heal-", dir="/tmp"))
    service = start_service(base / "svc", "--auth", "jwt")
    identity = start_identity(base / "idp", service.socket_path, "--heartbeat", "0.1")
    try:
        wait_for(lambda: trust_status(service.socket_path).intermediate_kid != "")
        first_root = trust_status(service.socket_path).root_kid
        identity.process.send_signal(signal.SIGKILL)
        identity.process.wait()
        identity = start_identity(base / "idp", service.socket_path, "--heartbeat", "0.1")
        wait_for(lambda: trust_status(service.socket_path).root_kid not in ("", first_root))
        # The new incarnation knows no clients yet: the orchestrator re-shares and replays.
        orchestrator = Orchestrating(identity.socket_path)
        assert all(status(r) is Status.SUCCESS for r in orchestrator.share())
        assert status(orchestrator.add("app-1", "app")) is Status.SUCCESS
        result = run_proven_fetcher(orchestrator, identity, "app-1")
        assert result["spiffe_id"] == f"spiffe://{TRUST_DOMAIN}/app"
        assert with_token(service, result["token"]) == Status.SUCCESS
    finally:
        stop_service(identity)
        stop_service(service)


def run_proven_fetcher(
    orchestrator: Orchestrating, identity: RunningService, client_id: str
) -> dict[str, Any]:
    """Start a process, prove it as `client_id`, let it fetch its token; return what it got."""
    fetcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.stdin.readline(); exec(sys.argv[1])",
            FETCH_AND_USE.replace("sys.argv[1]", "sys.argv[2]").replace(
                "sys.argv[3]", "sys.argv[4]"
            ),
            str(identity.socket_path),
            "",
            str(Path(__file__).resolve().parents[2]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    proved = orchestrator.prove(client_id, fetcher.pid)
    output, _ = fetcher.communicate("go\n", timeout=30)
    assert status(proved) is Status.SUCCESS
    result: dict[str, Any] = json.loads(output)
    assert result["status"] == 0, f"status {result['status']}"
    return result


def test_a_proof_must_name_the_executable(system: Any) -> None:
    _, _identity, orchestrator = system
    assert status(orchestrator.add("nodigest-1", "nodigest")) is Status.SUCCESS
    sleeper = spawn_sleeper()
    try:
        response = orchestrator.prove("nodigest-1", sleeper.pid, exe_digest=None)
        assert status(response) is Status.IDENTITY_ATTESTATION_FAILED
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_token_probe_from_outside_an_application_is_not_logged_as_news(system: Any) -> None:
    # Every client call from a shell asks for a token first: its refusal is debug, not info.
    _, identity, _ = system
    assert status(fetch_token(identity.socket_path)) is Status.IDENTITY_CLIENT_NOT_PROVEN
    wait_for(lambda: "FETCH_TOKEN failed" in identity.log_path.read_text())
    lines = [line for line in identity.log_path.read_text().splitlines() if "FETCH_TOKEN" in line]
    assert lines
    assert all(" DEBUG " in line for line in lines if "IDENTITY_CLIENT_NOT_PROVEN" in line)
