"""What the orchestrator observes for the payloads it signs: client definitions and proofs.

The payloads themselves (fields, claims on the wire) are trust/payloads.py's; a removal needs
no observation (`Removal(client_id, incarnation)`). The orchestrator observes /proc itself; the
identity provider checks the same facts again before believing a proof.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from tessera.trust.payloads import ClientDefinition, Proof
from tessera.trust.peer import Incarnation, incarnation_of
from tessera.trust.procfs import (
    executable_digest,
    process_cgroup,
    process_namespaces,
    real_uid,
)

MAX_INTERPRETER_DEPTH = 4  # interpreters that are scripts themselves: the kernel's limit
SHEBANG_MAX = 256  # the longest `#!` line the kernel reads
_ENV_OPTIONS_WITH_VALUE = frozenset({"-u", "--unset", "-C", "--chdir"})


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


def resolve_executable(
    command: list[str], *, search_path: str | None = None, cwd: Path | None = None
) -> Path:
    """The file the first word of a command names, found as starting the process finds it:
    on `search_path` (the application's PATH) if it is a bare name, else relative to `cwd`."""
    word = command[0]
    if os.sep in word and cwd is not None:
        word = os.fspath(cwd / word)  # an absolute word stays as it is
    found = shutil.which(word, path=search_path)
    if found is None:
        raise FileNotFoundError(f"no executable {command[0]!r} on PATH")
    return Path(found).resolve()


def program_of(path: Path, *, search_path: str | None = None) -> Path:
    """The program the kernel runs when `path` is executed, which /proc/<pid>/exe shows.

    A `#!` script runs its interpreter (followed, as the kernel does, through interpreters that
    are scripts themselves); `#!/usr/bin/env NAME` runs NAME from the PATH, as `env` replaces
    itself with it straight away.
    """
    for _ in range(MAX_INTERPRETER_DEPTH):
        words = _shebang(path)
        if words is None:
            return path
        interpreter = Path(words[0])
        if interpreter.name == "env" and len(words) > 1:
            named = _env_program(words[1].split())
            found = shutil.which(named, path=search_path) if named else None
            if found is not None:
                interpreter = Path(found)
        path = interpreter.resolve()
    return path


def _env_program(arguments: list[str]) -> str | None:
    """The program `env ARGUMENTS` runs: the first word that is no option nor assignment."""
    skip = False
    for word in arguments:
        if skip:
            skip = False
        elif word in _ENV_OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-") and "=" not in word:
            return word
    return None


def _shebang(path: Path) -> list[str] | None:
    """The interpreter and its optional argument from a `#!` line (None: not a script)."""
    try:
        with path.open("rb") as file:
            line = file.readline(SHEBANG_MAX)
    except OSError:
        return None
    if not line.startswith(b"#!"):
        return None
    words = line[2:].decode(errors="replace").strip().split(maxsplit=1)
    return words or None


def client_definition(
    client_id: str,
    *,
    name: str,
    command: list[str],
    user: str,
    uid: int,
    search_path: str | None = None,
    cwd: Path | None = None,
) -> ClientDefinition:
    """A client definition: what the application is, independent of any running process.

    `digest` is the program its processes run (what a proof's `exe_digest` shows); a script's
    own digest is `script_digest`.
    """
    named = resolve_executable(command, search_path=search_path, cwd=cwd)
    program = program_of(named, search_path=search_path)
    return ClientDefinition(
        client_id=client_id,
        name=name,
        digest=executable_digest(program),
        host=host_id(),
        user=user,
        uid=uid,
        command=tuple(command),
        script_digest=executable_digest(named) if program != named else None,
    )


def client_proof(client_id: str, process: Incarnation) -> Proof:
    """A proof: what /proc says about a running process of that client.

    The process is named by its incarnation (pid and start time) as recorded when it was
    started: if that pid now names another process (the application exited and the pid was
    reused), there is nothing to prove.
    """
    pid = process.pid
    incarnation = incarnation_of(pid)
    uid = real_uid(pid)
    if incarnation is None or uid is None or incarnation != process or not process.start_time:
        raise ProcessGoneError(f"process {pid} is not running (or its pid was reused)")
    gid = Path(f"/proc/{pid}").stat().st_gid
    cgroup, namespaces = process_cgroup(pid), process_namespaces(pid)
    # The identity provider requires the digest: the orchestrator can always read it (its own
    # user's processes, or any as root, which it must be to start other users' applications).
    try:
        exe_digest = executable_digest(f"/proc/{pid}/exe")
    except OSError as error:
        raise ProcessGoneError(f"cannot read the executable of process {pid}: {error}") from None
    again = incarnation_of(pid)
    if again != process:
        raise ProcessGoneError(f"process {pid} exited while it was being observed")
    return Proof(
        client_id=client_id,
        pid=pid,
        start_time=incarnation.start_time,
        uid=uid,
        gid=gid,
        cgroup=cgroup,
        namespaces=namespaces,
        exe_digest=exe_digest,
    )
