"""Which container a process runs in, from the kernel's `/proc/<pid>/cgroup`.

The container engines name a container's cgroup after its id: podman `libpod-<id>` (cgroupfs
`/libpod_parent/libpod-<id>`, systemd `machine.slice/libpod-<id>.scope`), Docker `/docker/<id>`
or `docker-<id>.scope`. The engines' monitors (`libpod-conmon-<id>.scope`, `/libpod_parent/conmon`)
do not match: they are not the container.

Only `/proc/<pid>/cgroup` is read, never mountinfo nor a cgroup filesystem the process may have
mounted: the kernel writes that file from the process's real membership, and it is read in the
reader's own namespaces. A process can leave its cgroup only by writing to a cgroup filesystem,
which an unprivileged container cannot.
"""

from __future__ import annotations

import re
from pathlib import Path

_ID = re.compile(r"(?:libpod-|docker-|/docker/)([0-9a-f]{64})(?:\.scope)?(?=/|$)")


class CgroupConflictError(ValueError):
    """The process's hierarchies name different containers (someone moved it in one)."""


def container_id_in(text: str) -> str | None:
    """The container id a `/proc/<pid>/cgroup` text names; None for none.

    Every hierarchy that names a container must name the same one (the innermost, for nested
    engines); CgroupConflictError if they differ.
    """
    found: set[str] = set()
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        matches = _ID.findall(parts[2])
        if matches:
            found.add(matches[-1])
    if len(found) > 1:
        raise CgroupConflictError("the process's cgroup hierarchies name different containers")
    return found.pop() if found else None


def container_of(pid: int) -> str | None:
    """The id of the container process `pid` runs in; None if none (or the process is gone).

    CgroupConflictError if its hierarchies disagree.
    """
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    return container_id_in(text)


def container_pids(container_id: str, *, limit: int = 256) -> list[int]:
    """The pids of the processes in that container (at most `limit`), from a scan of /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if container_of(int(entry.name)) == container_id:
                found.append(int(entry.name))
        except CgroupConflictError:
            continue
        if len(found) >= limit:
            break
    return sorted(found)
