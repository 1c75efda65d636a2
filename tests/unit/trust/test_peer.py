"""Process incarnations: /proc stat parsing, pid reuse, zombies, ancestry, peer credentials."""

from __future__ import annotations

import os
import sys

import pytest

from tessera.trust.peer import (
    Incarnation,
    ancestry,
    incarnation_of,
    is_alive,
    parent_pid,
    parse_stat,
    peer_from_credentials,
    read_stat,
)
from tests.unit.trust.helpers import child_process, dead_incarnation, wait_for


def stat_line(pid: int, comm: str, *, state: str = "S", ppid: int = 1, start: int = 4242) -> str:
    # Fields 3 (state) .. 52; field 22 is the start time.
    fields = [state, str(ppid)] + [str(n) for n in range(5, 22)] + [str(start)]
    fields += [str(n) for n in range(23, 53)]
    return f"{pid} ({comm}) {' '.join(fields)}\n"


@pytest.mark.parametrize(
    "comm",
    ["bash", "a b c", "x) S 99 (y", ")", "((", ") R 7 8 9 10", ""],
)
def test_parse_stat_counts_fields_after_the_last_paren(comm: str) -> None:
    stat = parse_stat(stat_line(1234, comm, state="R", ppid=77, start=987654321))
    assert stat.pid == 1234
    assert stat.state == "R"
    assert stat.ppid == 77
    assert stat.start_time == 987654321
    assert stat.incarnation == Incarnation(1234, 987654321)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1234 bash S 1 2 3",
        "1234 (bash S 1",
        "1234 (bash) S 1 2 3",  # too short
        stat_line(1234, "bash").replace("4242", "x4242"),
        stat_line(1234, "bash").replace("1234", "pid", 1),
    ],
)
def test_parse_stat_refuses_malformed_lines(text: str) -> None:
    with pytest.raises(ValueError):
        parse_stat(text)


def test_zombie_states_count_as_exited() -> None:
    assert parse_stat(stat_line(5, "z", state="Z")).exited
    assert parse_stat(stat_line(5, "z", state="X")).exited
    assert not parse_stat(stat_line(5, "z", state="S")).exited


def test_own_incarnation_is_stable_and_alive() -> None:
    own = incarnation_of(os.getpid())
    assert own is not None and own.pid == os.getpid() and own.start_time > 0
    assert incarnation_of(os.getpid()) == own
    assert is_alive(own)


def test_same_pid_with_another_start_time_is_not_alive() -> None:
    own = incarnation_of(os.getpid())
    assert own is not None
    assert not is_alive(Incarnation(own.pid, own.start_time + 1))


@pytest.mark.parametrize("pid", [0, -1, 2**22 + 12345, True])
def test_no_incarnation_for_impossible_pids(pid: int) -> None:
    assert incarnation_of(pid) is None
    assert parent_pid(pid) is None
    assert ancestry(pid) == []


def test_a_dead_child_is_not_alive() -> None:
    incarnation = dead_incarnation()
    assert not is_alive(incarnation)
    assert incarnation_of(incarnation.pid) is None


def test_an_unreaped_zombie_counts_as_gone() -> None:
    with child_process() as child:
        incarnation = incarnation_of(child.pid)
        assert incarnation is not None and is_alive(incarnation)
        child.kill()

        def is_zombie() -> bool:
            stat = read_stat(child.pid)
            return stat is not None and stat.exited

        wait_for(is_zombie)
        assert not is_alive(incarnation)
        assert incarnation_of(child.pid) is None
        assert parent_pid(child.pid) is None


def test_a_process_named_with_parens_and_spaces() -> None:
    with child_process(argv0="a) b (c") as child:
        stat = read_stat(child.pid)
        assert stat is not None
        assert stat.ppid == os.getpid()
        assert parent_pid(child.pid) == os.getpid()
        with open(f"/proc/{child.pid}/comm", encoding="utf-8") as file:
            assert file.read().strip() == "a) b (c"
        chain = ancestry(child.pid)
        assert chain[0] == incarnation_of(child.pid)
        assert chain[1] == incarnation_of(os.getpid())


def test_ancestry_runs_up_to_pid_1() -> None:
    chain = ancestry(os.getpid())
    assert chain[0] == incarnation_of(os.getpid())
    assert chain[1].pid == os.getppid()
    assert chain[-1].pid == 1 or parent_pid(chain[-1].pid) is None
    assert len({i.pid for i in chain}) == len(chain)
    assert ancestry(os.getpid(), limit=1) == chain[:1]
    assert ancestry(os.getpid(), limit=0) == []


def test_parent_of_init_is_none() -> None:
    assert parent_pid(1) is None


def test_peer_from_credentials_for_this_process() -> None:
    peer = peer_from_credentials(os.getpid(), os.getuid(), os.getgid())
    assert peer.incarnation == incarnation_of(os.getpid())
    assert peer.exe == os.path.realpath(sys.executable)
    assert (peer.uid, peer.gid) == (os.getuid(), os.getgid())


def test_peer_from_credentials_for_a_gone_process() -> None:
    gone = dead_incarnation()
    peer = peer_from_credentials(gone.pid, 1000, 1000)
    assert peer.incarnation is None and peer.exe is None
    assert (peer.pid, peer.uid, peer.gid) == (gone.pid, 1000, 1000)
