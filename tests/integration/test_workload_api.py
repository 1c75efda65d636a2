"""The SPIFFE Workload API end to end: the real security service, identity provider and
orchestrator, and a workload (tests/integration/spiffe_app.py) that knows only the reference
SPIFFE client, py-spiffe, unchanged.

The service authenticates with both the identity provider's tokens (auth type "jwt": that is how
the identity provider gets an intermediate to sign with) and JWT-SVIDs checked against a bundle
file (auth type "jwt-svid"), which starts empty: the test writes into it the bundle the workload
was served, as a bundle updater would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.status import Status
from tests.integration.identity_support import trust_status, wait_for
from tests.support import (
    RunningService,
    request_bytes,
    start_identity,
    start_orchestrator,
    start_service,
    stop_service,
)

pytestmark = pytest.mark.integration

APP = Path(__file__).with_name("spiffe_app.py")
TRUST_DOMAIN = "tessera.local"
APP_ID = f"spiffe://{TRUST_DOMAIN}/spiffe-app"
WAIT = 30.0


@dataclass
class Deployment:
    """The three daemons, the Workload API socket and the service's JWT bundle file."""

    base: Path
    service: RunningService
    identity: RunningService
    orchestrator: RunningService
    workload_socket: Path
    bundle_file: Path
    app_output: Path

    def logs(self) -> str:
        parts = []
        for daemon in (self.orchestrator, self.identity, self.service):
            parts.append(f"--- {daemon.log_path.name}\n{daemon.log()[-4000:]}")
        return "\n".join(parts)


def clean_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    for variable in ("PARSEC_SERVICE_ENDPOINT", "TESSERA_IDENTITY_ENDPOINT", "TESSERA_STATE_DIR"):
        env.pop(variable, None)
    return env


def write_bundle_file(path: Path, document: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(document)
    os.replace(temporary, path)  # as a bundle updater does: the reader never sees half a file


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    base = Path(tempfile.mkdtemp(prefix="ts-wl-", dir="/tmp"))
    workload_socket = base / "idp" / "run" / "workload.sock"
    bundle_file = base / "bundle.jwks"
    write_bundle_file(bundle_file, '{"keys": []}')  # nothing trusted yet
    config = base / "service.toml"
    config.write_text(
        "[authenticator]\n"
        'auth_types = ["jwt", "jwt-svid"]\n'
        f'jwt_svid_bundle = "{bundle_file}"\n'
        f'jwt_svid_trust_domain = "{TRUST_DOMAIN}"\n'
    )
    daemons: list[RunningService] = []
    try:
        service = start_service(base / "svc", config=config)
        daemons.append(service)
        identity = start_identity(
            base / "idp",
            service.socket_path,
            "--heartbeat",
            "0.2",
            "--workload-api-socket",
            str(workload_socket),
        )
        daemons.append(identity)
        wait_for(lambda: trust_status(service.socket_path).intermediate_kid != "")
        output = base / "app.json"
        manifest = base / "manifest.toml"
        command = json.dumps([sys.executable, str(APP), str(output), "--linger"])
        manifest.write_text(
            "[[app]]\n"
            'name = "spiffe-app"\n'
            f"command = {command}\n"
            'restart = "never"\n'
            f'env = {{ SPIFFE_ENDPOINT_SOCKET = "unix:{workload_socket}" }}\n'
        )
        orchestrator = start_orchestrator(
            base / "orch",
            service_socket=service.socket_path,
            identity_socket=identity.socket_path,
            manifest=manifest,
            env=clean_env(),
        )
        daemons.append(orchestrator)
        yield Deployment(
            base, service, identity, orchestrator, workload_socket, bundle_file, output
        )
    finally:
        for daemon in reversed(daemons):
            with contextlib.suppress(subprocess.TimeoutExpired):
                stop_service(daemon)
    shutil.rmtree(base, ignore_errors=True)


def app_result(deployment: Deployment) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while not deployment.app_output.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the orchestrated workload wrote nothing\n{deployment.logs()}")
        time.sleep(0.05)
    result: dict[str, Any] = json.loads(deployment.app_output.read_text())
    return result


def jwt_svid_status(service: RunningService, token: str) -> Status:
    request = request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.JWT_SVID, auth=token.encode())
    return Status(service.call(request).header.status)


def test_the_workload_socket_is_private(deployment: Deployment) -> None:
    assert deployment.workload_socket.stat().st_mode & 0o777 == 0o600


def test_an_orchestrated_app_gets_its_svid_and_the_bundle_the_service_accepts(
    deployment: Deployment,
) -> None:
    result = app_result(deployment)
    errors = {key: value for key, value in result.items() if key.endswith("_error")}
    assert not errors, f"{errors}\n{deployment.logs()}"
    assert result["spiffe_id"] == APP_ID
    assert result["verified_locally"] == APP_ID  # py-spiffe checked it with the served bundle
    assert result["validated"] == APP_ID  # and ValidateJWTSVID agrees
    # The bundle holds the intermediate the service trusts, and nothing else.
    held = trust_status(deployment.service.socket_path).intermediate_kid
    assert result["kids"] == [held]
    token = result["token"]

    # Before the service's bundle file holds the served bundle, the SVID is a stranger...
    assert jwt_svid_status(deployment.service, token) is Status.AUTHENTICATION_ERROR
    # ...and with it, the service's JWT-SVID authenticator accepts it.
    write_bundle_file(deployment.bundle_file, result["bundle"])
    assert jwt_svid_status(deployment.service, token) is Status.SUCCESS


def test_a_process_not_started_by_the_orchestrator_gets_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    output = tmp_path / "outsider.json"
    subprocess.run(
        [sys.executable, str(APP), str(output)],
        env=clean_env(SPIFFE_ENDPOINT_SOCKET=f"unix:{deployment.workload_socket}"),
        check=True,
        timeout=60,
    )
    result = json.loads(output.read_text())
    assert "token" not in result and "bundle" not in result and "kids" not in result
    for call in ("svid_error", "bundle_error", "validate_error", "raw_bundle_error"):
        assert "PERMISSION_DENIED" in result[call], result


def test_a_call_without_the_security_header_is_refused(deployment: Deployment) -> None:
    import grpc  # type: ignore[import-untyped]  # (no stubs: only the tests call it)
    from spiffe._proto import workload_pb2, workload_pb2_grpc

    with grpc.insecure_channel(f"unix:{deployment.workload_socket}") as channel:
        stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as caught:
            stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(audience=["parsec"]), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
