"""Containers as clients: their proofs, and which container a calling process runs in.

A container client's definition carries a `container` object (its id, name, image, and whether
processes that join it later, `podman exec`, share its identity). Its proof names the
container's first process (pid, start time, uid, cgroup, namespaces) and the processes it held
when observed. The identity provider checks all of it against /proc (identity/attestation.py for
the first process), and registers the first process's incarnation in the registry: grants,
removal, sweeps of exited processes and revocation work for containers as for processes.

A caller is found in its container through `/proc/<pid>/cgroup` (trust/cgroups.py), then must
share the proven first process's pid and mount namespaces, that first process must still be
the proven incarnation (a restarted container is new until proven again), and unless the rule
allows joiners it must descend from it. A caller in a container is resolved as that container
or not at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tessera.identity.attestation import attest
from tessera.identity.registry import Registry, Resolved
from tessera.trust.cgroups import CgroupConflictError, container_of
from tessera.trust.payloads import ClientDefinition, Proof
from tessera.trust.peer import Incarnation, ancestry, incarnation_of, is_alive
from tessera.trust.procfs import process_namespaces
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

CALLER_NAMESPACES = ("pid", "mnt")  # a caller must share these with the container


@dataclass(frozen=True)
class ProvenContainer:
    """A container the orchestrator proved: its first process and namespaces."""

    client_id: str
    first: Incarnation
    namespaces: dict[str, str]
    exec_joins: bool


def _failed(message: str) -> StatusError:
    return StatusError(Status.IDENTITY_ATTESTATION_FAILED, message)


def _not_proven(message: str) -> StatusError:
    log.info("token refused: %s", message)  # the wire carries only the status
    return StatusError(Status.IDENTITY_CLIENT_NOT_PROVEN, message)


class ContainerAttestor:
    """Proves container clients and resolves callers running in containers."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._containers: dict[str, ProvenContainer] = {}

    def prove(self, proof: Proof, definition: ClientDefinition) -> str:
        """Check a container proof against /proc and register it; its SPIFFE ID."""
        described = definition.container
        if described is None:
            raise _failed("the definition describes no container")
        container_id = described.id
        if proof.container != container_id:
            raise _failed("the proof names another container than the definition")
        attest(proof)  # pid, start time, uid, cgroup, namespaces of the first process
        pid = proof.pid
        if _container(pid) != container_id:
            raise _failed("the proven process does not run in that container")
        namespaces = proof.namespaces
        if not all(n in namespaces for n in CALLER_NAMESPACES):
            raise _failed("the proof names no pid and mount namespaces")
        # attest() skips namespaces it cannot read; callers are checked against these two.
        actual = process_namespaces(pid)
        if not all(n in actual for n in CALLER_NAMESPACES):
            raise _failed("cannot read the container's namespaces (needs root or CAP_SYS_PTRACE)")
        if any(actual[n] != namespaces[n] for n in CALLER_NAMESPACES):
            raise _failed("the proven process is in other namespaces")
        _check_members(proof.processes or (), container_id, namespaces)
        first = proof.incarnation
        spiffe_id = self._registry.prove(proof.client_id, first, proof.uid)
        proven = ProvenContainer(
            proof.client_id,
            first,
            {n: namespaces[n] for n in CALLER_NAMESPACES},
            described.exec_joins,
        )
        with self._lock:
            # Forget containers whose first process exited (the registry's sweep revokes them).
            self._containers = {k: v for k, v in self._containers.items() if is_alive(v.first)}
            self._containers[container_id] = proven
        return spiffe_id

    def resolve(self, pid: int) -> Resolved | None:
        """Who a caller in a container is; None if it runs in no container.

        IDENTITY_CLIENT_NOT_PROVEN when it runs in a container that has no identity (now).
        """
        before = incarnation_of(pid)
        container_id = _container(pid)
        if container_id is None or before is None:
            return None
        short = container_id[:12]
        with self._lock:
            proven = self._containers.get(container_id)
        if proven is None:
            raise _not_proven(f"container {short} has no identity (no rule matches it, or not yet)")
        if not is_alive(proven.first):
            raise _not_proven(f"container {short} restarted and is not proven again yet")
        actual = process_namespaces(pid)
        if any(actual.get(n) != proven.namespaces[n] for n in CALLER_NAMESPACES):
            raise _not_proven(f"the caller is not in the namespaces of container {short}")
        if not proven.exec_joins and proven.first not in ancestry(pid):
            raise _not_proven(f"the caller joined container {short} later (exec), not allowed")
        resolved = self._registry.resolve_incarnation(proven.first)
        if resolved is None or resolved.client_id != proven.client_id:
            raise _not_proven(f"container {short} was withdrawn")
        # Everything above was read about one process: it must not have been replaced meanwhile.
        if incarnation_of(pid) != before or _container(pid) != container_id:
            raise _not_proven("the calling process exited during attestation")
        return resolved


def _container(pid: int) -> str | None:
    try:
        return container_of(pid)
    except CgroupConflictError as error:
        raise _failed(str(error)) from None


def _check_members(
    listed: Iterable[Incarnation], container_id: str, namespaces: Mapping[str, str]
) -> None:
    """Each process the proof lists, still running, is in that container and its namespaces.

    One that exited since it was observed is skipped: it proves nothing either way. (The list's
    shape and length were checked when the proof was read: trust/payloads.py.)"""
    for member in listed:
        if not is_alive(member):
            continue
        actual = process_namespaces(member.pid)
        elsewhere = _container(member.pid) != container_id or any(
            actual.get(n) != namespaces[n] for n in CALLER_NAMESPACES
        )
        if elsewhere and is_alive(member):  # (not one that exited while being read)
            raise _failed(f"process {member.pid} is not in that container")
