"""Every daemon refuses, in one line that says what to fix, state that other users could read or
change: its state directory, the key-encryption key, the key store, the socket directory, the
orchestrator's record. A client group the configuration names may read what it needs."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import start_service, stop_service

TIMEOUT = 20  # seconds: a daemon that does not refuse keeps running, and the test fails


def run_daemon(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tessera.cli.main", *args, "--allow-root"]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tessera {args[0]} started on unsafe state instead of refusing")


def refusal(*args: str) -> str:
    """The one line a daemon refuses to start with."""
    result = run_daemon(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ts-perm-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def service(base: Path, *extra: str) -> tuple[str, ...]:
    state = base / "svc"
    return ("service", "--state-dir", str(state), "--socket", str(state / "run" / "p.sock"), *extra)


def made_state(base: Path) -> Path:
    """A service state directory with a key-encryption key and a key store, made by a run."""
    state = base / "svc"
    stop_service(start_service(state, socket_path=state / "run" / "p.sock"))
    assert (state / "kek").is_file() and (state / "keys.sqlite3").is_file()
    return state


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o770, 0o701])
def test_service_refuses_an_open_state_directory(base: Path, mode: int) -> None:
    state = base / "svc"
    state.mkdir()
    state.chmod(mode)
    line = refusal(*service(base))
    assert f"state directory {state} has mode {mode:04o}" in line
    assert f"chmod 700 {state}" in line


@pytest.mark.parametrize(
    ("what", "path", "fix"),
    [
        ("key-encryption key", lambda s: s / "kek", "chmod 600"),
        ("key store", lambda s: s / "keys.sqlite3", "chmod 600"),
        ("socket directory", lambda s: s / "run", "chmod 750"),
    ],
)
def test_service_refuses_open_files_and_socket_directory(
    base: Path, what: str, path: Callable[[Path], Path], fix: str
) -> None:
    target = path(made_state(base))
    target.chmod(0o777 if target.is_dir() else 0o644)
    line = refusal(*service(base))
    assert f"the {what} {target} has mode" in line and f"{fix} {target}" in line


def test_a_socket_directory_others_may_only_read_is_closed(base: Path) -> None:
    """Parsec's own tools create it 0755: nobody else can have changed it, so it is closed to
    others (not refused), as Parsec's configurations must keep working."""
    run = made_state(base) / "run"
    run.chmod(0o755)
    stop_service(start_service(base / "svc", socket_path=run / "p.sock"))
    assert run.stat().st_mode & 0o777 == 0o750


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files away needs root (CI runs as root)")
@pytest.mark.parametrize("which", ["state", "kek", "keys.sqlite3", "run"])
def test_service_refuses_state_another_user_owns(base: Path, which: str) -> None:
    state = made_state(base)
    target = state if which == "state" else state / which
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(target, nobody, -1)
    line = refusal(*service(base))
    assert f"{target} belongs to uid {nobody}" in line


def test_a_configured_client_group_may_read_the_directories(base: Path) -> None:
    group = next(g for g in grp.getgrall() if g.gr_gid != 0)
    state = made_state(base)
    config = base / "service.toml"
    config.write_text(f'[listener]\nsocket_group = "{group.gr_name}"\n')
    for directory in (state, state / "run"):
        os.chown(directory, -1, group.gr_gid)
        directory.chmod(0o750)
    running = start_service(state, "--config", str(config), socket_path=state / "run" / "p.sock")
    assert stop_service(running) == 0
    state.chmod(0o770)  # but the group may never write
    line = refusal(*service(base, "--config", str(config)))
    assert f"state directory {state} has mode 0770" in line and f"chmod 750 {state}" in line


def test_identity_provider_refuses_an_open_state_directory(base: Path) -> None:
    state = base / "idp"
    state.mkdir()
    state.chmod(0o777)
    line = refusal(
        "identity",
        "--state-dir",
        str(state),
        "--socket",
        str(state / "run" / "i.sock"),
        "--service-socket",
        str(base / "none.sock"),
    )
    assert f"state directory {state} has mode 0777" in line


@pytest.mark.parametrize("which", ["directory", "record"])
def test_orchestrator_refuses_an_open_state_directory_or_record(base: Path, which: str) -> None:
    state = base / "orch"
    state.mkdir(mode=0o700)
    record = state / "orchestrator.json"
    record.write_text('{"instances": []}')
    target = state if which == "directory" else record
    target.chmod(0o777 if which == "directory" else 0o666)
    line = refusal(
        "orchestrator",
        "--state-dir",
        str(state),
        "--identity-socket",
        str(base / "none.sock"),
        "--service-socket",
        str(base / "none2.sock"),
    )
    assert f"{target} has mode" in line
