"""The one rule every daemon applies to its state: nothing other users could read or change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tessera.config import ConfigError
from tessera.daemon.private_state import (
    check_private_file_at,
    check_unwritable_by_others,
    ensure_private_directory,
)


def test_a_missing_directory_is_created_private(tmp_path: Path) -> None:
    state = tmp_path / "a" / "state"
    ensure_private_directory(state, "state directory")
    assert state.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o755, 0o750, 0o711, 0o720])
def test_an_open_directory_is_refused(tmp_path: Path, mode: int) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    with pytest.raises(ConfigError, match=rf"has mode {mode:04o}.*\(chmod 700 {state}\)"):
        ensure_private_directory(state, "state directory")


@pytest.mark.parametrize(("mode", "allowed"), [(0o750, True), (0o710, True), (0o770, False)])
def test_a_named_group_may_read_but_never_write(tmp_path: Path, mode: int, allowed: bool) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    if allowed:
        ensure_private_directory(state, "state directory", group_may_read=True)
    else:
        with pytest.raises(ConfigError, match="chmod 750"):
            ensure_private_directory(state, "state directory", group_may_read=True)


@pytest.mark.parametrize(("mode", "allowed"), [(0o755, True), (0o775, False), (0o757, False)])
def test_a_socket_directory_only_needs_to_be_unwritable(
    tmp_path: Path, mode: int, allowed: bool
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(mode)
    if allowed:
        check_unwritable_by_others(run, "socket directory", run.stat())
    else:
        with pytest.raises(ConfigError, match="nobody but its owner may write"):
            check_unwritable_by_others(run, "socket directory", run.stat())


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(ConfigError, match=r"cannot create the state directory .*: File exists"):
        ensure_private_directory(tmp_path / "state", "state directory")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o606, 0o620])
def test_files_are_ours_alone(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "kek"
    check_private_file_at(path, "key")  # missing: nothing to check
    path.write_bytes(b"x")
    path.chmod(0o600)
    check_private_file_at(path, "key")
    path.chmod(mode)
    with pytest.raises(ConfigError, match=rf"the key {path} has mode {mode:04o}.*chmod 600"):
        check_private_file_at(path, "key")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files away needs root")
def test_anothers_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, -1)
    with pytest.raises(ConfigError, match="belongs to uid 65534"):
        ensure_private_directory(state, "state directory")
