"""Test support: Parsec's own prebuilt programs (../shared/interop/), the compatibility oracle.

They are not part of the project (a user's fresh clone has none): tests that need them skip,
saying why, where they are absent, and run everywhere else. `TESSERA_INTEROP_DIR` points
elsewhere when the folder lives somewhere other than beside the clone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunningService, wait_for_socket

_REPO = Path(__file__).resolve().parents[1]


def interop_dir() -> Path:
    """Where Parsec's prebuilt service and e2e suite are expected."""
    configured = os.environ.get("TESSERA_INTEROP_DIR")
    return Path(configured) if configured else _REPO.parent / "shared" / "interop"


def require(program: str) -> Path:
    """The path of one of Parsec's programs, or skip the test saying what is missing."""
    path = interop_dir() / program
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is absent: Parsec's prebuilt {program} is not on this machine")
    return path


def start_parsec(socket_path: Path, state_dir: Path, idle_ms: int = 0) -> RunningService:
    """Start Parsec 1.1.0's own service (Mbed Crypto provider, direct auth, admin "root").

    Its working directory (and so its key files) is `state_dir`.
    """
    script = require("parsec-service")
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "parsec.log"
    args = [os.fspath(script), os.fspath(socket_path), os.fspath(state_dir), str(idle_ms)]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
    wait_for_socket(socket_path, process, log_path)
    return RunningService(socket_path, state_dir, process, log_path, args)


@contextlib.contextmanager
def running_parsec(socket_path: Path, state_dir: Path) -> Iterator[RunningService]:
    """`start_parsec` as a context manager that always stops Parsec (SIGTERM, then kill)."""
    service = start_parsec(socket_path, state_dir)
    try:
        yield service
    finally:
        if service.alive():
            service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(20)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
