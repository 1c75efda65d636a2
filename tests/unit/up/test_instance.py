"""One `tessera up` per state directory: the lock, its holder, and a lock file that is a link."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tessera.up.instance import LOCK_NAME, AlreadyRunningError, InstanceLock, is_held


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire()
    try:
        assert is_held(tmp_path)
        with pytest.raises(AlreadyRunningError) as refused:
            InstanceLock(tmp_path).acquire()
        assert refused.value.pid == os.getpid()
    finally:
        first.release()
    assert not is_held(tmp_path)


def test_a_lock_file_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "precious"
    elsewhere.write_text("not a lock\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / LOCK_NAME).symlink_to(elsewhere)
    with pytest.raises(OSError):
        InstanceLock(state).acquire()
    assert not is_held(state)
    assert elsewhere.read_text() == "not a lock\n"  # neither truncated nor given a pid
