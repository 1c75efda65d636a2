"""The claims the orchestrator signs: client definitions, proofs and removals.

See docs/identity.md for their fields. The orchestrator observes /proc itself; the identity
provider checks the same facts again before believing a proof.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any

from tessera.trust.peer import Incarnation, incarnation_of
from tessera.trust.procfs import (
    executable_digest,
    process_cgroup,
    process_namespaces,
    real_uid,
)
from tessera.wire.payload_kinds import DEFINITION, PROOF, REMOVAL


class ProcessGoneError(RuntimeError):
    """The process to prove is not running."""


def host_id() -> str:
    """This host's identity: the machine id when there is one, else the host name."""
    for candidate in (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id")):
        try:
            value = candidate.read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return socket.gethostname()


def resolve_executable(command: list[str]) -> Path:
    """The file the first word of a command runs."""
    found = shutil.which(command[0])
    if found is None:
        raise FileNotFoundError(f"no executable {command[0]!r} on PATH")
    return Path(found).resolve()


def definition_claims(
    client_id: str, *, name: str, command: list[str], user: str, uid: int
) -> dict[str, Any]:
    """A client definition: what the application is, independent of any running process."""
    return {
        "kind": DEFINITION,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "name": name,
        "digest": executable_digest(resolve_executable(command)),
        "host": host_id(),
        "user": user,
        "uid": uid,
        "command": command,
    }


def proof_claims(client_id: str, pid: int) -> dict[str, Any]:
    """A proof: what /proc says about a running process of that client."""
    incarnation = incarnation_of(pid)
    uid = real_uid(pid)
    if incarnation is None or uid is None:
        raise ProcessGoneError(f"process {pid} is not running")
    gid = Path(f"/proc/{pid}").stat().st_gid
    claims: dict[str, Any] = {
        "kind": PROOF,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "pid": pid,
        "start_time": incarnation.start_time,
        "uid": uid,
        "gid": gid,
        "cgroup": process_cgroup(pid),
        "namespaces": process_namespaces(pid),
    }
    # Another user's executable may be unreadable: the identity provider still checks the uid
    # and start time.
    with contextlib.suppress(OSError):
        claims["exe_digest"] = executable_digest(f"/proc/{pid}/exe")
    return claims


def removal_claims(client_id: str, incarnation: Incarnation | None = None) -> dict[str, Any]:
    """A removal: one process of the client, or (no incarnation) the whole client."""
    claims: dict[str, Any] = {
        "kind": REMOVAL,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
    }
    if incarnation is not None:
        claims["pid"] = incarnation.pid
        claims["start_time"] = incarnation.start_time
    return claims
