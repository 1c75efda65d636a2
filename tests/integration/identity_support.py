"""The test as orchestrator: the real trust primitives driving a real identity provider."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from tessera.orchestrator.claims import client_definition, client_proof
from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.payloads import Removal
from tessera.trust.peer import incarnation_of
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    add_client_pb2,
    prove_client_pb2,
    remove_client_pb2,
    share_trust_bundle_pb2,
    trust_status_pb2,
)
from tessera.wire.status import Status
from tests.support import Response, call


class Orchestrating:
    """The orchestrator's side of the trust relationship, as a test drives it."""

    def __init__(self, identity_socket: Path) -> None:
        self.socket = identity_socket
        self.root = RootAuthority.generate("test orchestrator")
        self.intermediate = self.root.issue_intermediate(timedelta(minutes=10))

    def share(self) -> tuple[Response, Response]:
        root = call(self.socket, Opcode.SHARE_TRUST_BUNDLE, share(self.root.der, root=True))
        return root, call(self.socket, Opcode.SHARE_TRUST_BUNDLE, share(self.intermediate.der))

    def rotate(self) -> Intermediate:
        previous = self.intermediate
        self.intermediate = self.root.issue_intermediate(timedelta(minutes=10))
        response = call(self.socket, Opcode.SHARE_TRUST_BUNDLE, share(self.intermediate.der))
        assert response.header.status == Status.SUCCESS
        return previous

    def add(self, client_id: str, name: str, *, signer: Intermediate | None = None) -> Response:
        definition = client_definition(
            client_id, name=name, command=[sys.executable], user="tester", uid=os.getuid()
        )
        token = (signer or self.intermediate).sign_jws(definition.to_claims())
        return call(self.socket, Opcode.ADD_CLIENT, add_client_pb2.Operation(definition=token))

    def prove(self, client_id: str, pid: int, **changes: Any) -> Response:
        process = incarnation_of(pid)
        assert process is not None, f"process {pid} is not running"
        claims = client_proof(client_id, process).to_claims() | changes
        token = self.intermediate.sign_jws(claims)
        return call(self.socket, Opcode.PROVE_CLIENT, prove_client_pb2.Operation(proof=token))

    def remove(self, client_id: str) -> Response:
        token = self.intermediate.sign_jws(Removal(client_id).to_claims())
        return call(self.socket, Opcode.REMOVE_CLIENT, remove_client_pb2.Operation(removal=token))


def share(der: bytes, *, root: bool = False) -> share_trust_bundle_pb2.Operation:
    return share_trust_bundle_pb2.Operation(certificate=der, root=root)


def trust_status(path: Path) -> trust_status_pb2.Result:
    response = call(path, Opcode.TRUST_STATUS, trust_status_pb2.Operation())
    assert response.header.status == Status.SUCCESS
    return trust_status_pb2.Result.FromString(response.body)


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
