"""The identity protocol's signed payloads: the claims on the wire, read back, and refused.

The JSON pinned here is what the orchestrator has always signed (docs/identity.md,
docs/containers.md), key for key and in order, so older and newer components interoperate.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tessera.trust.payloads import (
    MAX_PROCESSES,
    ClientDefinition,
    ContainerDescription,
    Payload,
    Proof,
    Removal,
)
from tessera.trust.peer import Incarnation
from tessera.wire.status import Status, StatusError

DIGEST = "sha256:" + "ab" * 32
CONTAINER = "c" * 64

PROCESS_DEFINITION = ClientDefinition(
    client_id="app/0",
    name="app",
    digest=DIGEST,
    host="host-1",
    user="alice",
    uid=1000,
    command=("python3", "-m", "app"),
    script_digest="sha256:" + "cd" * 32,
    jti="j1",
)
CONTAINER_DEFINITION = ClientDefinition(
    client_id=f"container:{CONTAINER}",
    name="web",
    digest=DIGEST,
    host="host-1",
    container=ContainerDescription(
        id=CONTAINER,
        name="web-1",
        image="localhost/web:1",
        exec_joins=True,
        rule={"index": 0, "app": "web", "exec": True},
    ),
    jti="j2",
)
PROCESS_PROOF = Proof(
    client_id="app/0",
    pid=4242,
    start_time=987654,
    uid=1000,
    gid=1000,
    cgroup=None,  # unreadable: sent as null, as ever
    namespaces={"pid": "pid:[4026531836]", "mnt": "mnt:[4026531841]"},
    exe_digest=DIGEST,
    jti="j3",
)
CONTAINER_PROOF = Proof(
    client_id=f"container:{CONTAINER}",
    container=CONTAINER,
    pid=5151,
    start_time=123,
    uid=0,
    gid=0,
    cgroup="0::/machine.slice/libpod-x.scope",
    namespaces={"pid": "pid:[1]", "mnt": "mnt:[2]"},
    processes=(Incarnation(5151, 123), Incarnation(5160, 130)),
    jti="j4",
)
ONE_PROCESS_REMOVAL = Removal("app/0", Incarnation(4242, 987654), jti="j5")
WHOLE_CLIENT_REMOVAL = Removal("app/0", jti="j6")

# The claims as the orchestrator built them by hand before these types existed.
WIRE = {
    "process definition": (
        PROCESS_DEFINITION,
        '{"kind": "tessera/client-definition", "jti": "j1", "client_id": "app/0", "name": "app", '
        f'"digest": "{DIGEST}", "host": "host-1", "user": "alice", "uid": 1000, '
        '"command": ["python3", "-m", "app"], "script_digest": "sha256:' + "cd" * 32 + '"}',
    ),
    "container definition": (
        CONTAINER_DEFINITION,
        '{"kind": "tessera/client-definition", "jti": "j2", '
        f'"client_id": "container:{CONTAINER}", "name": "web", "digest": "{DIGEST}", '
        f'"host": "host-1", "container": {{"id": "{CONTAINER}", "name": "web-1", '
        '"image": "localhost/web:1", "exec": true, '
        '"rule": {"index": 0, "app": "web", "exec": true}}}',
    ),
    "process proof": (
        PROCESS_PROOF,
        '{"kind": "tessera/client-proof", "jti": "j3", "client_id": "app/0", "pid": 4242, '
        '"start_time": 987654, "uid": 1000, "gid": 1000, "cgroup": null, '
        '"namespaces": {"pid": "pid:[4026531836]", "mnt": "mnt:[4026531841]"}, '
        f'"exe_digest": "{DIGEST}"}}',
    ),
    "container proof": (
        CONTAINER_PROOF,
        '{"kind": "tessera/client-proof", "jti": "j4", '
        f'"client_id": "container:{CONTAINER}", "container": "{CONTAINER}", "pid": 5151, '
        '"start_time": 123, "uid": 0, "gid": 0, "cgroup": "0::/machine.slice/libpod-x.scope", '
        '"namespaces": {"pid": "pid:[1]", "mnt": "mnt:[2]"}, '
        '"processes": [[5151, 123], [5160, 130]]}',
    ),
    "removal of one process": (
        ONE_PROCESS_REMOVAL,
        '{"kind": "tessera/client-removal", "jti": "j5", "client_id": "app/0", "pid": 4242, '
        '"start_time": 987654}',
    ),
    "removal of a client": (
        WHOLE_CLIENT_REMOVAL,
        '{"kind": "tessera/client-removal", "jti": "j6", "client_id": "app/0"}',
    ),
}


@pytest.mark.parametrize(("payload", "wire"), WIRE.values(), ids=list(WIRE))
def test_the_claims_on_the_wire_are_those_of_before(payload: Payload, wire: str) -> None:
    assert json.dumps(payload.to_claims()) == wire


@pytest.mark.parametrize(("payload", "wire"), WIRE.values(), ids=list(WIRE))
def test_claims_read_back_as_the_payload_they_came_from(payload: Payload, wire: str) -> None:
    claims = json.loads(wire) | {"iat": 1_900_000_000, "added_later": {"x": 1}}  # ignored
    assert type(payload).from_claims(claims) == payload


def test_a_fresh_payload_gets_a_fresh_jti() -> None:
    first, second = Removal("app/0"), Removal("app/0")
    assert first.jti and second.jti and first.jti != second.jti


def test_the_mapping_rules_see_the_definition_s_fields() -> None:
    assert PROCESS_DEFINITION.fields() == {
        "name": "app",
        "digest": DIGEST,
        "host": "host-1",
        "user": "alice",
        "uid": 1000,
        "command": ["python3", "-m", "app"],
        "script_digest": "sha256:" + "cd" * 32,
    }
    assert ClientDefinition("c", "bare").fields() == {"name": "bare"}


def _refused(payload_type: type[Payload], claims: dict[str, Any], status: Status) -> None:
    with pytest.raises(StatusError) as caught:
        payload_type.from_claims(claims)
    assert caught.value.status is status, caught.value


def _without(payload: Payload, key: str) -> dict[str, Any]:
    claims = payload.to_claims()
    del claims[key]
    return claims


ENVELOPE = [
    ("kind", "tessera/client-proof"),  # another kind
    ("kind", None),
    ("jti", ""),
    ("jti", 7),
    ("client_id", ""),
    ("client_id", ["app/0"]),
]


@pytest.mark.parametrize("payload", [PROCESS_DEFINITION, WHOLE_CLIENT_REMOVAL])
@pytest.mark.parametrize(("key", "value"), ENVELOPE)
def test_a_bad_envelope_is_a_bad_signature(payload: Payload, key: str, value: Any) -> None:
    _refused(type(payload), payload.to_claims() | {key: value}, Status.TRUST_BAD_SIGNATURE)


@pytest.mark.parametrize("key", ["kind", "jti", "client_id"])
def test_a_proof_without_its_envelope_is_a_bad_signature(key: str) -> None:
    _refused(Proof, _without(PROCESS_PROOF, key), Status.TRUST_BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", ""),
        ("name", None),
        ("name", 3),
        ("digest", 5),
        ("host", ["h"]),
        ("user", 1000),
        ("uid", "1000"),
        ("uid", True),
        ("uid", 1.5),
        ("command", "python3 -m app"),
        ("command", ["python3", 3]),
        ("script_digest", False),
        ("container", "web"),
        ("container", {}),
        ("container", {"id": 5}),
        ("container", {"id": CONTAINER, "exec": "yes"}),
        ("container", {"id": CONTAINER, "rule": []}),
    ],
)
def test_a_malformed_definition_is_a_bad_signature(key: str, value: Any) -> None:
    claims = PROCESS_DEFINITION.to_claims() | {key: value}
    _refused(ClientDefinition, claims, Status.TRUST_BAD_SIGNATURE)


def test_a_definition_needs_only_a_name() -> None:
    claims = {"kind": "tessera/client-definition", "jti": "j", "client_id": "c", "name": "n"}
    assert ClientDefinition.from_claims(claims) == ClientDefinition("c", "n", jti="j")
    _refused(ClientDefinition, _without(PROCESS_DEFINITION, "name"), Status.TRUST_BAD_SIGNATURE)


@pytest.mark.parametrize("key", ["pid", "start_time", "uid", "gid"])
def test_a_proof_without_a_fact_fails_attestation(key: str) -> None:
    _refused(Proof, _without(PROCESS_PROOF, key), Status.IDENTITY_ATTESTATION_FAILED)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("pid", "4242"),
        ("pid", True),
        ("start_time", 1.0),
        ("uid", None),
        ("gid", "0"),
        ("cgroup", 0),
        ("namespaces", ["pid:[1]"]),
        ("namespaces", {"pid": 1}),
        ("exe_digest", 1),
        ("container", {"id": CONTAINER}),
        ("processes", "x"),
        ("processes", [[1]]),
        ("processes", [["1", 2]]),
        ("processes", [[True, 2]]),
        ("processes", [[0, 0]] * (MAX_PROCESSES + 1)),
    ],
)
def test_a_proof_that_misstates_its_facts_fails_attestation(key: str, value: Any) -> None:
    claims = CONTAINER_PROOF.to_claims() | {key: value}
    _refused(Proof, claims, Status.IDENTITY_ATTESTATION_FAILED)


def test_a_proof_may_leave_out_what_it_could_not_read() -> None:
    claims = PROCESS_PROOF.to_claims() | {"exe_digest": None}
    del claims["namespaces"], claims["cgroup"]
    read = Proof.from_claims(claims)
    assert (read.exe_digest, read.cgroup, read.namespaces) == (None, None, {})
    assert read.incarnation == Incarnation(4242, 987654)


@pytest.mark.parametrize(
    "changes",
    [{"pid": 1}, {"start_time": 1}, {"pid": "1", "start_time": 1}, {"pid": 1, "start_time": True}],
)
def test_a_removal_names_a_whole_process_or_none(changes: dict[str, Any]) -> None:
    claims = WHOLE_CLIENT_REMOVAL.to_claims() | changes
    _refused(Removal, claims, Status.TRUST_BAD_SIGNATURE)
