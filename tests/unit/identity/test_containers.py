"""The identity provider's container checks, with real processes that run in no container."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from tessera.identity.containers import ContainerAttestor
from tessera.identity.registry import Registry
from tessera.trust.payloads import ClientDefinition, ContainerDescription, Proof
from tessera.trust.peer import incarnation_of
from tessera.trust.procfs import process_cgroup, process_namespaces, real_uid
from tessera.wire.status import Status, StatusError

CONTAINER = "e" * 64
CLIENT = f"container:{CONTAINER}"


def setup() -> tuple[ContainerAttestor, Registry]:
    registry = Registry()
    definition = ClientDefinition(CLIENT, "web", container=ContainerDescription(CONTAINER))
    registry.define(CLIENT, definition, "spiffe://tessera.local/web")
    return ContainerAttestor(registry), registry


def proof(**changes: Any) -> Proof:
    me = incarnation_of(os.getpid())
    uid = real_uid(os.getpid())
    assert me is not None and uid is not None
    observed = Proof(
        client_id=CLIENT,
        container=CONTAINER,
        pid=me.pid,
        start_time=me.start_time,
        uid=uid,
        gid=os.getgid(),
        cgroup=process_cgroup(me.pid),
        namespaces=process_namespaces(me.pid),
        processes=(me,),
    )
    return dataclasses.replace(observed, **changes)


def refused(attestor: ContainerAttestor, claims: Proof, status: Status) -> str:
    definition = ClientDefinition(CLIENT, "web", container=ContainerDescription(CONTAINER))
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
    # the pid now names another incarnation than the proven one
    claims = dataclasses.replace(claims, start_time=claims.start_time + 1)
    assert "reused" in refused(attestor, claims, Status.IDENTITY_ATTESTATION_FAILED)


def test_a_proof_for_another_container_than_defined_is_refused() -> None:
    attestor, _ = setup()
    claims = proof(container="f" * 64)
    assert "another container" in refused(attestor, claims, Status.IDENTITY_ATTESTATION_FAILED)


def test_callers_outside_containers_are_left_to_the_process_registry() -> None:
    attestor, _ = setup()
    assert attestor.resolve(os.getpid()) is None
