"""The identity provider's own checks of a proof against the running system (/proc).

The orchestrator signs what it observed; the identity provider does not take it on trust alone:
the proven pid must exist with the proven start time and uid, and where readable, the same
executable digest, cgroup and namespaces.
"""

from __future__ import annotations

from tessera.trust.payloads import Proof
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


def attest(proof: Proof) -> None:
    """Check a proof's facts against /proc; IDENTITY_ATTESTATION_FAILED if anything differs."""
    pid, start_time = proof.pid, proof.start_time
    incarnation = incarnation_of(pid)
    if incarnation is None or incarnation.start_time != start_time:
        raise _failed("the proven process is not running (or its pid was reused)")
    if real_uid(pid) != proof.uid:
        raise _failed("the proven process runs as another user")
    claimed_digest = proof.exe_digest
    if claimed_digest is not None:
        try:
            actual = executable_digest(f"/proc/{pid}/exe")
        except OSError:
            actual = None  # not ours to read (another user's process): the uid check stands
        if actual is not None and actual != claimed_digest:
            raise _failed("the proven process runs another executable")
    claimed_cgroup = proof.cgroup
    if claimed_cgroup is not None and process_cgroup(pid) not in (None, claimed_cgroup):
        raise _failed("the proven process is in another cgroup")
    actual_ns = process_namespaces(pid)
    for name, value in proof.namespaces.items():
        if name in actual_ns and actual_ns[name] != value:
            raise _failed(f"the proven process is in another {name} namespace")
    # re-check the start time: the process must not have died and been replaced meanwhile
    again = incarnation_of(pid)
    if again is None or again.start_time != start_time:
        raise _failed("the proven process exited during attestation")
