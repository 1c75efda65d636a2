"""Which program a client definition's digest names, and the orchestrator's record of it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tessera.orchestrator.claims import client_definition, program_of, resolve_executable
from tessera.orchestrator.config import AppSpec
from tessera.orchestrator.state import RecordedInstance, load_state, save_state
from tessera.trust.peer import Incarnation
from tessera.trust.procfs import executable_digest

PYTHON = Path(sys.executable).resolve()


def script(path: Path, first_line: str) -> Path:
    path.write_text(f"{first_line}\nprint('hello')\n")
    path.chmod(0o755)
    return path


def test_a_binary_is_its_own_program() -> None:
    assert program_of(PYTHON) == PYTHON


def test_a_script_runs_its_interpreter(tmp_path: Path) -> None:
    direct = script(tmp_path / "direct", f"#!{sys.executable} -u")
    assert program_of(direct) == PYTHON
    # an interpreter that is itself a script is followed, as the kernel does
    nested = script(tmp_path / "nested", f"#!{direct}")
    assert program_of(nested) == PYTHON


def test_env_finds_the_interpreter_on_the_applications_path(tmp_path: Path) -> None:
    env = shutil.which("env")
    if env is None:
        pytest.skip("no env(1) here")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tessera-test-python").symlink_to(PYTHON)
    for arguments in ("tessera-test-python", "-S -u HOME A=1 tessera-test-python -u"):
        via_env = script(tmp_path / "app", f"#!{env} {arguments}")
        assert program_of(via_env, search_path=str(bin_dir)) == PYTHON
    # not on that PATH: env itself is what runs
    assert program_of(via_env, search_path=str(tmp_path / "empty")) == Path(env).resolve()


def test_definition_digest_is_the_program_and_the_script_is_recorded(tmp_path: Path) -> None:
    app = script(tmp_path / "app", f"#!{sys.executable}")
    definition = client_definition("app/0", name="app", command=[str(app)], user="u", uid=0)
    assert definition.digest == executable_digest(PYTHON)
    assert definition.script_digest == executable_digest(app)
    plain = client_definition("app/0", name="app", command=[sys.executable], user="u", uid=0)
    assert plain.digest == executable_digest(PYTHON)
    assert "script_digest" not in plain.to_claims()


def test_a_relative_command_is_found_in_the_working_directory(tmp_path: Path) -> None:
    script(tmp_path / "app", f"#!{sys.executable}")
    found = resolve_executable([f".{os.sep}app"], cwd=tmp_path)
    assert found == (tmp_path / "app").resolve()
    with pytest.raises(FileNotFoundError):
        resolve_executable(["tessera-no-such-program"], search_path=str(tmp_path))


def test_fingerprint_changes_with_how_an_app_starts() -> None:
    base = AppSpec(name="a", command=("python3", "-m", "a"))
    assert base.fingerprint == AppSpec(name="a", command=("python3", "-m", "a")).fingerprint
    assert base.fingerprint == AppSpec(name="a", command=base.command, restart="always").fingerprint
    changed = (
        AppSpec(name="a", command=("python3", "-m", "b")),
        AppSpec(name="a", command=base.command, env=(("K", "v"),)),
        AppSpec(name="a", command=base.command, working_dir=Path("/srv")),
    )
    assert len({base.fingerprint, *(c.fingerprint for c in changed)}) == 4


def test_state_records_fingerprints_and_reads_older_files(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.json"
    spec = AppSpec(name="a", command=("a",), env=(("API_TOKEN", "hunter2"),))
    recorded = [RecordedInstance("a", "a/0", Incarnation(10, 20), spec.fingerprint)]
    save_state(path, recorded)
    assert load_state(path) == recorded
    assert "hunter2" not in path.read_text()  # the environment only as part of a digest
    path.write_text('{"instances": [{"app": "a", "client_id": "a/0", "pid": 1, "start_time": 2}]}')
    assert load_state(path) == [RecordedInstance("a", "a/0", Incarnation(1, 2), "")]


def test_no_proof_for_a_pid_that_names_another_process() -> None:
    import os

    import pytest

    from tessera.orchestrator.claims import ProcessGoneError, client_proof
    from tessera.trust.peer import Incarnation, incarnation_of

    me = incarnation_of(os.getpid())
    assert me is not None
    assert client_proof("c", me).start_time == me.start_time
    for other in (Incarnation(me.pid, me.start_time + 1), Incarnation(me.pid, 0)):
        with pytest.raises(ProcessGoneError):
            client_proof("c", other)
