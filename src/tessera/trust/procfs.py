"""What /proc says about a process, beyond its incarnation: uid, executable, cgroup, namespaces.

Shared by the orchestrator (which observes and signs) and the identity provider (which checks).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

NAMESPACES = ("pid", "mnt", "net", "user", "uts", "ipc", "cgroup")
_CHUNK = 1 << 20
_DIGEST_CACHE_SIZE = 256
_lock = threading.Lock()
_digests: dict[tuple[int, int, int, int], str] = {}


def real_uid(pid: int) -> int | None:
    """The process's real uid from /proc/<pid>/status (None if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return None


def executable_digest(path: str | os.PathLike[str]) -> str:
    """`sha256:<hex>` of a file's contents (remembered per file version: interpreters are big)."""
    with open(path, "rb") as file:
        info = os.fstat(file.fileno())
        version = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        with _lock:
            known = _digests.get(version)
        if known is not None:
            return known
        digest = hashlib.sha256()
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    result = f"sha256:{digest.hexdigest()}"
    with _lock:
        if len(_digests) >= _DIGEST_CACHE_SIZE:
            _digests.clear()
        _digests[version] = result
    return result


def process_cgroup(pid: int) -> str | None:
    """The process's cgroup (v2 unified path, or the raw file for v1)."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text().strip()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return text


def process_namespaces(pid: int) -> dict[str, str]:
    """Namespace ids (e.g. "pid:[4026531836]") of the process, where readable."""
    found: dict[str, str] = {}
    for name in NAMESPACES:
        try:
            found[name] = os.readlink(f"/proc/{pid}/ns/{name}")
        except OSError:
            continue
    return found
