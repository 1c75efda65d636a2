"""Private scratch directories for the fuzz processes, cleaned up even after libFuzzer's exit.

libFuzzer ends a run without Python's shutdown, so `atexit` never runs under atheris: each
process works in a directory named after its pid, and the directories of processes that are gone
are removed by the next one to start.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from pathlib import Path


def private_root(where: Path | None = None) -> Path:
    """`<where or the temp dir>/tessera-fuzz-<uid>`: created 0700, refused unless ours and private
    (it holds a script that gets executed, and key stores)."""
    path = (where or Path(tempfile.gettempdir())) / f"tessera-fuzz-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise SystemExit(f"{path} is not a private directory of this user")
    return path


def process_dir(kind: str, where: Path | None = None) -> Path:
    """A fresh directory for this process (`kind-pidN`), after removing those of dead ones."""
    root = private_root(where)
    for old in root.glob("*-pid*"):
        pid = old.name.rpartition("-pid")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    mine = root / f"{kind}-pid{os.getpid()}"
    shutil.rmtree(mine, ignore_errors=True)  # a dead process's, with our recycled pid
    mine.mkdir(mode=0o700)
    atexit.register(shutil.rmtree, mine, ignore_errors=True)  # pytest does exit normally
    return mine
