"""Tokens of a removed application stop working at the service at once, and stay refused when
the service restarts. Real service and identity provider; the test plays the orchestrator."""

from __future__ import annotations

import json
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
from tests.integration.identity_support import Orchestrating, trust_status, wait_for
from tests.support import (
    RunningService,
    request_bytes,
    start_identity,
    start_service,
    stop_service,
)

REPO = str(Path(__file__).resolve().parents[2])

# Waits for "go", fetches its token, prints it, and stays alive until its stdin closes (so the
# identity provider's sweep of exited processes cannot be what withdraws it).
FETCHER = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import fetch_token_pb2
from tests.support import call
sys.stdin.readline()
r = call(Path(sys.argv[1]), Opcode.FETCH_TOKEN, fetch_token_pb2.Operation())
token = fetch_token_pb2.Result.FromString(r.body).token if r.header.status == 0 else ""
print(json.dumps({"status": r.header.status, "token": token}), flush=True)
sys.stdin.read()
"""


class App:
    """A proven process of the test's orchestrator, holding the token it fetched."""

    def __init__(self, orchestrator: Orchestrating, identity: Path, client_id: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FETCHER, str(identity), REPO],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        name = client_id.partition("/")[0]
        assert orchestrator.add(client_id, name).header.status == 0
        assert orchestrator.prove(client_id, self.process.pid).header.status == 0
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        assert answer["status"] == Status.SUCCESS, answer
        self.token: str = answer["token"]

    def end(self) -> None:
        self.process.communicate(timeout=30)


def use(service: RunningService, token: str) -> Status:
    request = request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.JWT, auth=token.encode())
    return Status(service.call(request).header.status)


@dataclass
class System:
    base: Path
    service: RunningService
    identity: RunningService
    orchestrator: Orchestrating


@pytest.fixture
def system() -> Iterator[System]:
    base = Path(tempfile.mkdtemp(prefix="ts-rev-", dir="/tmp"))
    try:
        service = start_service(base / "svc", "--auth", "jwt")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        identity = start_identity(base / "idp", service.socket_path, "--heartbeat", "0.1")
    except BaseException:
        stop_service(service)
        shutil.rmtree(base, ignore_errors=True)
        raise
    running = System(base, service, identity, Orchestrating(identity.socket_path))
    try:
        assert all(r.header.status == 0 for r in running.orchestrator.share())
        wait_for(lambda: trust_status(service.socket_path).intermediate_kid != "")
        yield running
    finally:
        stop_service(running.identity)
        stop_service(running.service)
        shutil.rmtree(base, ignore_errors=True)


def test_a_removed_apps_token_is_refused_within_a_second(system: System) -> None:
    service, identity, orchestrator = system.service, system.identity, system.orchestrator
    stolen = App(orchestrator, identity.socket_path, "victim/0")
    other = App(orchestrator, identity.socket_path, "bystander/0")
    try:
        assert use(service, stolen.token) is Status.SUCCESS  # and now cached by the service
        assert use(service, other.token) is Status.SUCCESS
        assert orchestrator.remove("victim/0").header.status == Status.SUCCESS
        removed = time.monotonic()
        while use(service, stolen.token) is Status.SUCCESS:
            assert time.monotonic() - removed < 1.0, "the removed app's token still works"
            time.sleep(0.01)
        assert use(service, stolen.token) is Status.AUTHENTICATION_ERROR
        assert use(service, other.token) is Status.SUCCESS  # nobody else's
    finally:
        stolen.end()
        other.end()


def test_a_restarted_service_still_refuses_a_revoked_token(system: System) -> None:
    service, identity, orchestrator = system.service, system.identity, system.orchestrator
    stolen = App(orchestrator, identity.socket_path, "victim/0")
    other = App(orchestrator, identity.socket_path, "bystander/0")
    try:
        assert orchestrator.remove("victim/0").header.status == Status.SUCCESS
        wait_for(lambda: use(service, stolen.token) is Status.AUTHENTICATION_ERROR, 1.0)
        kid = trust_status(service.socket_path).intermediate_kid

        service.kill()
        service = system.service = start_service(system.base / "svc", "--auth", "jwt")
        # the identity provider re-shares the same intermediate: its tokens pass again ...
        wait_for(lambda: use(service, other.token) is Status.SUCCESS)
        assert trust_status(service.socket_path).intermediate_kid == kid
        # ... except the revoked one, which came back in the same step
        assert use(service, stolen.token) is Status.AUTHENTICATION_ERROR
    finally:
        stolen.end()
        other.end()
