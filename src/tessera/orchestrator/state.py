"""The orchestrator's record of what it runs, on disk, so a restart re-attaches.

`instances`: the running processes (application names, client ids, pids, start times and
digests of how each was started). `one_off`: the applications launched with `run`, as the
launch gave them (command, working directory, environment, restart policy) with whether they
should run and how their last run ended, so that a restarted orchestrator takes them back
instead of dropping them. The environment is as secret as a manifest's: the file is private
(0600 in a 0700 directory, checked at start). Written atomically (temporary file, fsync,
rename) on every change.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.trust.peer import Incarnation


@dataclass(frozen=True)
class RecordedInstance:
    """One running process as last recorded."""

    app: str
    client_id: str
    incarnation: Incarnation
    fingerprint: str = ""  # how it was started (AppSpec.fingerprint); "" if not recorded


@dataclass(frozen=True)
class RecordedLaunch:
    """A one-off application as launched, and what a restarted orchestrator does with it."""

    name: str
    command: tuple[str, ...]
    working_dir: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    restart: str = "never"
    wanted: bool = True  # run it (it ran when last recorded, and was not stopped)
    exit_status: int | None = None  # how its last run ended, if seen

    def entry(self) -> dict[str, Any]:
        """The launch as a manifest entry (for parse_app)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "command": list(self.command),
            "env": dict(self.env),
            "restart": self.restart,
        }
        if self.working_dir:
            entry["working_dir"] = self.working_dir
        return entry


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def load_launches(path: Path) -> list[RecordedLaunch]:
    """The one-off applications recorded (none if the file is missing or unreadable; an entry
    that does not parse is skipped)."""
    launches: list[RecordedLaunch] = []
    entries = _read(path).get("one_off", [])
    if not isinstance(entries, list):
        return launches  # damaged: as unreadable
    for entry in entries:
        try:
            exit_status = entry.get("exit_status")
            launches.append(
                RecordedLaunch(
                    str(entry["name"]),
                    tuple(str(part) for part in entry["command"]),
                    str(entry["working_dir"]) if entry.get("working_dir") else None,
                    tuple((str(k), str(v)) for k, v in dict(entry.get("env", {})).items()),
                    str(entry.get("restart", "never")),
                    bool(entry.get("wanted", False)),
                    exit_status if isinstance(exit_status, int) else None,
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return launches


def load_state(path: Path) -> list[RecordedInstance]:
    """What a previous incarnation recorded (nothing if the file is missing or unreadable)."""
    document = _read(path)
    try:
        return [
            RecordedInstance(
                entry["app"],
                entry["client_id"],
                Incarnation(entry["pid"], entry["start_time"]),
                str(entry.get("fingerprint", "")),
            )
            for entry in document.get("instances", [])
        ]
    except (ValueError, KeyError, TypeError):
        return []


def save_state(
    path: Path, instances: list[RecordedInstance], launches: Sequence[RecordedLaunch] = ()
) -> None:
    """Replace the record atomically."""
    document: dict[str, Any] = {
        "instances": [
            {
                "app": i.app,
                "client_id": i.client_id,
                "pid": i.incarnation.pid,
                "start_time": i.incarnation.start_time,
                "fingerprint": i.fingerprint,
            }
            for i in instances
        ],
        "one_off": [
            {
                "name": launch.name,
                "command": list(launch.command),
                "working_dir": launch.working_dir,
                "env": dict(launch.env),
                "restart": launch.restart,
                "wanted": launch.wanted,
                "exit_status": launch.exit_status,
            }
            for launch in launches
        ],
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
