"""The identity provider's own checks of a proof against the running system (/proc).

The orchestrator signs what it observed; the identity provider does not take it on trust alone:
the proven pid must exist with the proven start time and uid, and where readable, the same
executable digest, cgroup and namespaces.
"""

from __future__ import annotations

from typing import Any

from tessera.trust.peer import incarnation_of
from tessera.trust.procfs import (
    executable_digest,
    process_cgroup,
    process_namespaces,
    real_uid,
)
from tessera.wire.status import Status, StatusError


def _failed(message: str) -> StatusError:
    return StatusError(Status.IDENTITY_ATTESTATION_FAILED, message)


def attest(proof: dict[str, Any]) -> None:
    """Check a proof's claims against /proc; IDENTITY_ATTESTATION_FAILED if anything differs."""
    pid, start_time = proof.get("pid"), proof.get("start_time")
    if not isinstance(pid, int) or not isinstance(start_time, int):
        raise _failed("the proof names no pid and start time")
    incarnation = incarnation_of(pid)
    if incarnation is None or incarnation.start_time != start_time:
        raise _failed("the proven process is not running (or its pid was reused)")
    if real_uid(pid) != proof.get("uid"):
        raise _failed("the proven process runs as another user")
    claimed_digest = proof.get("exe_digest")
    if claimed_digest is not None:
        try:
            actual = executable_digest(f"/proc/{pid}/exe")
        except OSError:
            actual = None  # not ours to read (another user's process): the uid check stands
        if actual is not None and actual != claimed_digest:
            raise _failed("the proven process runs another executable")
    claimed_cgroup = proof.get("cgroup")
    if claimed_cgroup is not None and process_cgroup(pid) not in (None, claimed_cgroup):
        raise _failed("the proven process is in another cgroup")
    claimed_ns = proof.get("namespaces") or {}
    if isinstance(claimed_ns, dict):
        actual_ns = process_namespaces(pid)
        for name, value in claimed_ns.items():
            if name in actual_ns and actual_ns[name] != value:
                raise _failed(f"the proven process is in another {name} namespace")
    # re-check the start time: the process must not have died and been replaced meanwhile
    again = incarnation_of(pid)
    if again is None or again.start_time != start_time:
        raise _failed("the proven process exited during attestation")
