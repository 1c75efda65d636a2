"""The client definition and proof of a container (docs/containers.md lists their fields).

The definition is what the engine says about the container (it is the orchestrator here: image
digest, name, the rule that made its application). The proof is what the host's /proc says about
its processes, never what the container says: the engine names the first process (its pid),
and everything about it and the other processes is read from /proc and checked to be in that
container's cgroup.
"""

from __future__ import annotations

from pathlib import Path

from tessera.containers.config import ContainerRule
from tessera.containers.engine import ContainerInfo
from tessera.orchestrator.claims import ProcessGoneError, host_id
from tessera.trust.cgroups import CgroupConflictError, container_of, container_pids
from tessera.trust.payloads import ClientDefinition, ContainerDescription, Proof
from tessera.trust.peer import Incarnation, incarnation_of
from tessera.trust.procfs import process_cgroup, process_namespaces, real_uid

CLIENT_PREFIX = "container:"


def client_id_of(container_id: str) -> str:
    """The identity provider's name for a container client: one per container."""
    return f"{CLIENT_PREFIX}{container_id}"


def container_definition(
    container: ContainerInfo, *, app: str, rule_index: int, rule: ContainerRule
) -> ClientDefinition:
    """A container's client definition: its application, image digest, host, and why."""
    return ClientDefinition(
        client_id=client_id_of(container.id),
        name=app,
        digest=container.digest,
        host=host_id(),
        container=ContainerDescription(
            id=container.id,
            name=container.name,
            image=container.image,
            exec_joins=rule.exec_joins,
            rule={"index": rule_index, **rule.describe()},
        ),
    )


def _in_container(pid: int, container_id: str) -> bool:
    try:
        return container_of(pid) == container_id
    except CgroupConflictError:
        return False


def container_proof(container_id: str, first: Incarnation) -> Proof:
    """A container's proof, from /proc: its first process (which must be the incarnation the
    engine named, in that container's cgroup) and the processes in it now."""
    pid = first.pid
    uid = real_uid(pid)
    if incarnation_of(pid) != first or uid is None or not _in_container(pid, container_id):
        raise ProcessGoneError(f"container {container_id[:12]} is not running its process {pid}")
    try:
        gid = Path(f"/proc/{pid}").stat().st_gid
    except OSError:
        raise ProcessGoneError(f"process {pid} exited while it was being observed") from None
    members = []
    for member in container_pids(container_id):
        incarnation = incarnation_of(member)
        if incarnation is not None:
            members.append(incarnation)
    proof = Proof(
        client_id=client_id_of(container_id),
        container=container_id,
        pid=pid,
        start_time=first.start_time,
        uid=uid,
        gid=gid,
        cgroup=process_cgroup(pid),
        namespaces=process_namespaces(pid),
        processes=tuple(members),
    )
    if incarnation_of(pid) != first:
        raise ProcessGoneError(f"process {pid} exited while it was being observed")
    return proof
