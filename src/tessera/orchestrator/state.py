"""The orchestrator's record of what it runs, on disk, so a restart re-attaches.

Nothing secret: application names, client ids, pids, start times and digests of how each
application was started. Written atomically (temporary file, fsync, rename) on every change.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tessera.trust.peer import Incarnation


@dataclass(frozen=True)
class RecordedInstance:
    """One running process as last recorded."""

    app: str
    client_id: str
    incarnation: Incarnation
    fingerprint: str = ""  # how it was started (AppSpec.fingerprint); "" if not recorded


def load_state(path: Path) -> list[RecordedInstance]:
    """What a previous incarnation recorded (nothing if the file is missing or unreadable)."""
    try:
        document = json.loads(path.read_text())
        return [
            RecordedInstance(
                entry["app"],
                entry["client_id"],
                Incarnation(entry["pid"], entry["start_time"]),
                str(entry.get("fingerprint", "")),
            )
            for entry in document.get("instances", [])
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def save_state(path: Path, instances: list[RecordedInstance]) -> None:
    """Replace the record atomically."""
    document = {
        "instances": [
            {
                "app": i.app,
                "client_id": i.client_id,
                "pid": i.incarnation.pid,
                "start_time": i.incarnation.start_time,
                "fingerprint": i.fingerprint,
            }
            for i in instances
        ]
    }
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".orchestrator-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(document, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
