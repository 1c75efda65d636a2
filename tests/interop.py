"""Test support: Parsec's own prebuilt programs (../shared/interop/), the compatibility oracle.

They are not part of the project (a user's fresh clone has none): tests that need them skip,
saying why, where they are absent, and run everywhere else. `TESSERA_INTEROP_DIR` points
elsewhere when the folder lives somewhere other than beside the clone.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import RunningService, stop_service, wait_for_socket

_REPO = Path(__file__).resolve().parents[1]

# Parsec 1.1.0 set up as ../shared/interop/parsec-service sets it up (Mbed Crypto provider,
# direct authentication, admin "root", deprecated primitives allowed), except that the SQLite
# key-info store is named with `sqlite_db_path`, the setting Parsec reads for SQLite stores: the
# script's `store_path` is read only for on-disk stores, so every Parsec started by the script
# shares one machine-wide store under /var/lib/parsec. Here each Parsec keeps its own store in
# its state directory (also its working directory, where Mbed Crypto writes key files).
PARSEC_CONFIG = """\
[core_settings]
allow_root = true
allow_deprecated = true
log_level = "warn"
log_error_details = true

[listener]
listener_type = "DomainSocket"
timeout = 3000
socket_path = "{socket}"

[authenticator]
auth_type = "Direct"
admins = [ {{ name = "root" }} ]

[[key_manager]]
name = "sqlite-manager"
manager_type = "SQLite"
sqlite_db_path = "{state}/kim-mappings.sqlite3"

[[provider]]
provider_type = "MbedCrypto"
key_info_manager = "sqlite-manager"
"""


def script_config(socket_path: Path, state_dir: Path, idle_ms: int = 10) -> str:
    """The config.toml that ../shared/interop/parsec-service writes, read from the script
    itself (its here-document), with its variables filled in."""
    script = require("parsec-service").read_text()
    match = re.search(r"<<CFG\n(.*?)\nCFG\n", script, re.DOTALL)
    if match is None:
        pytest.fail("the interop script no longer writes its config.toml in a <<CFG block")
    values = {"SOCK": str(socket_path), "STATE": str(state_dir), "IDLE": str(idle_ms)}
    return re.sub(r"\$(\w+)", lambda m: values[m.group(1)], match.group(1)) + "\n"


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


def start_parsec(socket_path: Path, state_dir: Path) -> RunningService:
    """Start Parsec 1.1.0's own service with its state (and key store) in `state_dir`."""
    binary = require("parsec")
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "config.toml"
    config.write_text(PARSEC_CONFIG.format(socket=socket_path, state=state_dir))
    log_path = state_dir / "parsec.log"
    args = [os.fspath(binary), "--config", os.fspath(config)]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(args, cwd=state_dir, stdout=log_file, stderr=subprocess.STDOUT)
    wait_for_socket(socket_path, process, log_path)
    return RunningService(socket_path, state_dir, process, log_path, args)


@contextlib.contextmanager
def running_parsec(socket_path: Path, state_dir: Path) -> Iterator[RunningService]:
    """`start_parsec` as a context manager that always stops Parsec."""
    service = start_parsec(socket_path, state_dir)
    try:
        yield service
    finally:
        stop_service(service)
