"""The identity provider's container checks, with real processes that run in no container."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tessera.identity import containers
from tessera.identity.containers import ContainerAttestor
from tessera.identity.registry import Registry
from tessera.trust.peer import incarnation_of
from tessera.trust.procfs import process_cgroup, process_namespaces, real_uid
from tessera.wire.status import Status, StatusError

CONTAINER = "e" * 64


def setup() -> tuple[ContainerAttestor, Registry]:
    registry = Registry()
    definition = {"name": "web", "container": {"id": CONTAINER, "exec": False}}
    registry.define(f"container:{CONTAINER}", definition, "spiffe://tessera.local/web")
    return ContainerAttestor(registry), registry


def proof(**changes: Any) -> dict[str, Any]:
    me = incarnation_of(os.getpid())
    assert me is not None
    claims = {
        "client_id": f"container:{CONTAINER}",
        "container": CONTAINER,
        "pid": me.pid,
        "start_time": me.start_time,
        "uid": real_uid(me.pid),
        "cgroup": process_cgroup(me.pid),
        "namespaces": process_namespaces(me.pid),
        "processes": [[me.pid, me.start_time]],
    }
    return claims | changes


def refused(attestor: ContainerAttestor, claims: dict[str, Any], status: Status) -> str:
    definition = {"container": {"id": CONTAINER}}
    with pytest.raises(StatusError) as caught:
        attestor.prove(claims, definition)
    assert caught.value.status is status
    return str(caught.value)


def test_a_host_process_is_not_proven_as_a_container() -> None:
    attestor, _ = setup()
    message = refused(attestor, proof(), Status.IDENTITY_ATTESTATION_FAILED)
    assert "does not run in that container" in message


def test_a_reused_pid_is_refused() -> None:
    attestor, _ = setup()
    claims = proof()
    claims["start_time"] += 1  # the pid now names another incarnation than the proven one
    assert "reused" in refused(attestor, claims, Status.IDENTITY_ATTESTATION_FAILED)


def test_a_proof_for_another_container_than_defined_is_refused() -> None:
    attestor, _ = setup()
    claims = proof(container="f" * 64)
    assert "another container" in refused(attestor, claims, Status.IDENTITY_ATTESTATION_FAILED)


@pytest.mark.parametrize("listed", ["x", [[1]], [["1", 2]], [[True, 2]], [[0, 0]] * 300])
def test_malformed_process_lists_are_refused(listed: Any) -> None:
    with pytest.raises(StatusError) as caught:
        containers._check_members(listed, CONTAINER, {"pid": "x", "mnt": "y"})
    assert caught.value.status is Status.IDENTITY_ATTESTATION_FAILED


def test_callers_outside_containers_are_left_to_the_process_registry() -> None:
    attestor, _ = setup()
    assert attestor.resolve(os.getpid()) is None
