"""A trust store shared by the processes of one service run (trust/shared.py).

Two `TrustStore`s on one directory stand for two worker processes (each opens its own files and
lock, as another process would); the race and the late starter run in real processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.errors import TrustError
from tessera.trust.peer import Incarnation, incarnation_of
from tessera.trust.revocation import revocation_claims
from tessera.trust.shared import GENERATION_NAME, LOCK_NAME, STATE_NAME, SharedTrustState
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.status import Status, StatusError
from tests.unit.trust.helpers import (
    START,
    FakeClock,
    child_process,
    dead_incarnation,
    peer_for,
    self_peer,
)

AUD = "tessera"
SUBJECT = "spiffe://example.org/app"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def live(tmp_path: Path) -> Path:
    directory = tmp_path / "live"
    directory.mkdir(mode=0o700)
    return directory


def _store(live: Path, clock: FakeClock | None = None) -> TrustStore:
    if clock is None:
        return TrustStore(TrustPolicy(uid=os.getuid()), shared=SharedTrustState(live))
    return TrustStore(TrustPolicy(uid=os.getuid()), clock=clock, shared=SharedTrustState(live))


@pytest.fixture
def pair(live: Path, clock: FakeClock) -> tuple[TrustStore, TrustStore]:
    """Two workers of one run."""
    return _store(live, clock), _store(live, clock)


def _token(intermediate: Intermediate, grant: str = "g1") -> str:
    return intermediate.issue_token(
        subject=SUBJECT, audience=AUD, lifetime=timedelta(minutes=5), token_id=f"{grant}.t"
    )


def _refusal(store: TrustStore, token: str) -> Status:
    with pytest.raises(TrustError) as caught:
        store.verify_token(token, audience=AUD)
    return caught.value.status


def test_shared_through_one_in_force_in_the_other(
    pair: tuple[TrustStore, TrustStore], authority: RootAuthority, intermediate: Intermediate
) -> None:
    one, other = pair
    assert not other.has_root and other.generation == 0
    assert _refusal(other, _token(intermediate)) is Status.TRUST_NO_ROOT
    peer = self_peer()
    one.accept_root(authority.der, peer)
    assert other.has_root and other.root_holder == peer.incarnation
    assert other.root_certificate == authority.certificate
    assert other.current_kid is None
    one.accept_intermediate(intermediate.der, peer)
    assert other.current_kid == one.current_kid is not None
    assert other.generation == one.generation == 2  # one counter for the run
    assert other.verify_token(_token(intermediate), audience=AUD).subject == SUBJECT


def test_a_rotation_through_one_refuses_old_tokens_in_the_other_at_once(
    pair: tuple[TrustStore, TrustStore], authority: RootAuthority, intermediate: Intermediate
) -> None:
    one, other = pair
    peer = self_peer()
    one.accept_root(authority.der, peer)
    one.accept_intermediate(intermediate.der, peer)
    old = _token(intermediate)
    assert other.verify_token(old, audience=AUD).subject == SUBJECT
    newer = authority.issue_intermediate(timedelta(hours=1))
    other.accept_intermediate(newer.der, peer)  # this time through the other worker
    assert _refusal(one, old) is Status.TRUST_UNKNOWN_SIGNER
    assert _refusal(other, old) is Status.TRUST_UNKNOWN_SIGNER
    assert one.verify_token(_token(newer), audience=AUD).subject == SUBJECT


def test_a_revocation_through_one_is_in_force_in_the_other(
    pair: tuple[TrustStore, TrustStore], authority: RootAuthority, intermediate: Intermediate
) -> None:
    one, other = pair
    peer = self_peer()
    one.accept_root(authority.der, peer)
    one.accept_intermediate(intermediate.der, peer)
    gone, kept = _token(intermediate, "gone"), _token(intermediate, "kept")
    assert other.verify_token(gone, audience=AUD)
    until = (START + timedelta(minutes=10)).timestamp()
    listing = intermediate.sign_jws(revocation_claims(3, {"gone": until}))
    one.accept_revocations(listing, peer)
    assert _refusal(other, gone) is Status.TRUST_STALE_PAYLOAD
    assert other.verify_token(kept, audience=AUD)
    assert other.revocation_serial == 3
    generation = other.generation
    one.accept_revocations(listing, peer)  # the same list again changes nothing
    assert other.generation == generation
    older = intermediate.sign_jws(revocation_claims(2, {}))
    other.accept_revocations(older, peer)  # crossed on the wire: the newer one stays
    assert _refusal(one, gone) is Status.TRUST_STALE_PAYLOAD


def test_a_replaced_root_is_in_force_everywhere(
    pair: tuple[TrustStore, TrustStore], authority: RootAuthority, clock: FakeClock
) -> None:
    one, other = pair
    gone = peer_for(dead_incarnation())
    one.accept_root(authority.der, gone)
    one.accept_intermediate(authority.issue_intermediate(timedelta(hours=1)).der, gone)
    successor = RootAuthority.generate("restarted", clock=clock)
    peer = self_peer()
    other.accept_root(successor.der, peer)
    assert one.root_certificate == successor.certificate
    assert one.root_holder == peer.incarnation
    assert one.current_kid is None  # the old intermediate went with its root
    # Only the new holder may share intermediates now, through either worker.
    fresh = successor.issue_intermediate(timedelta(hours=1))
    with pytest.raises(TrustError) as caught:
        one.accept_intermediate(fresh.der, gone)
    assert caught.value.status is Status.TRUST_PEER_NOT_ALLOWED
    one.accept_intermediate(fresh.der, peer)
    assert other.verify_token(_token(fresh), audience=AUD)


def test_the_root_once_rule_holds_across_workers(
    pair: tuple[TrustStore, TrustStore], authority: RootAuthority, clock: FakeClock
) -> None:
    one, other = pair
    peer = self_peer()
    one.accept_root(authority.der, peer)
    with pytest.raises(TrustError) as caught:
        other.accept_root(RootAuthority.generate("again", clock=clock).der, peer)
    assert caught.value.status is Status.TRUST_ROOT_ALREADY_SHARED
    with child_process() as child:
        rival = incarnation_of(child.pid)
        assert rival is not None
        with pytest.raises(TrustError) as caught:
            other.accept_root(RootAuthority.generate("rival", clock=clock).der, peer_for(rival))
        assert caught.value.status is Status.TRUST_ROOT_HOLDER_ALIVE
        with pytest.raises(TrustError) as caught:
            other.accept_intermediate(
                authority.issue_intermediate(timedelta(hours=1)).der, peer_for(rival)
            )
        assert caught.value.status is Status.TRUST_PEER_NOT_ALLOWED
    assert one.root_certificate == other.root_certificate == authority.certificate
    assert one.generation == other.generation == 1


def test_the_state_files_are_private_and_hold_public_material_only(
    live: Path, authority: RootAuthority, intermediate: Intermediate
) -> None:
    store = _store(live, FakeClock())
    peer = self_peer()
    store.accept_root(authority.der, peer)
    store.accept_intermediate(intermediate.der, peer)
    for name in (STATE_NAME, GENERATION_NAME, LOCK_NAME):
        info = (live / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o600, name
        assert info.st_uid == os.getuid()
    assert sorted(p.name for p in live.iterdir()) == sorted(
        [STATE_NAME, GENERATION_NAME, LOCK_NAME]
    )  # no temporary file left behind
    document = json.loads((live / STATE_NAME).read_bytes())
    assert set(document) == {
        "format",
        "generation",
        "root",
        "holder",
        "intermediate",
        "revocations",
    }
    assert document["generation"] == store.generation == 2
    assert document["holder"] == {
        "pid": peer.incarnation.pid if peer.incarnation else None,
        "start_time": peer.incarnation.start_time if peer.incarnation else None,
    }


@pytest.mark.parametrize("name", [STATE_NAME, GENERATION_NAME])
def test_a_state_file_others_could_have_written_is_not_trusted(
    live: Path, authority: RootAuthority, intermediate: Intermediate, name: str
) -> None:
    clock = FakeClock()
    writer = _store(live, clock)
    peer = self_peer()
    writer.accept_root(authority.der, peer)
    writer.accept_intermediate(intermediate.der, peer)
    (live / name).chmod(0o644)
    late = _store(live, clock)  # a worker started now
    assert not late.has_root
    assert _refusal(late, _token(intermediate)) is Status.TRUST_NO_ROOT
    (live / name).chmod(0o600)
    assert late.verify_token(_token(intermediate), audience=AUD)  # it tries again each time


def test_a_damaged_state_fails_closed(
    live: Path, authority: RootAuthority, intermediate: Intermediate
) -> None:
    clock = FakeClock()
    writer = _store(live, clock)
    peer = self_peer()
    writer.accept_root(authority.der, peer)
    writer.accept_intermediate(intermediate.der, peer)
    (live / STATE_NAME).write_bytes(b'{"format": 1, "root": "!!"}')
    late = _store(live, clock)
    assert _refusal(late, _token(intermediate)) is Status.TRUST_NO_ROOT
    with pytest.raises(StatusError) as caught:
        writer.accept_intermediate(authority.issue_intermediate(timedelta(hours=1)).der, peer)
    assert caught.value.status is Status.PSA_ERROR_STORAGE_FAILURE


def test_an_in_memory_store_writes_nothing(
    tmp_path: Path, authority: RootAuthority, intermediate: Intermediate
) -> None:
    store = TrustStore(TrustPolicy(), clock=FakeClock())
    peer = self_peer()
    store.accept_root(authority.der, peer)
    store.accept_intermediate(intermediate.der, peer)
    assert store.shared is None and store.generation == 2
    assert list(tmp_path.iterdir()) == []


# -- real processes --------------------------------------------------------------------------------


def _race_one(
    live: str, der: bytes, holder: tuple[int, int], *, barrier: Any, results: Any, index: int
) -> None:
    """In a fresh process: wait for the others, then offer a root from `holder`."""
    store = TrustStore(TrustPolicy(uid=os.getuid()), shared=SharedTrustState(Path(live)))
    barrier.wait()
    try:
        store.accept_root(der, peer_for(Incarnation(*holder)))
    except TrustError as error:
        results.put((index, error.status.name))
    else:
        results.put((index, "SUCCESS"))


@pytest.fixture
def senders() -> Iterator[list[Incarnation]]:
    """Four live processes, standing for four identity providers sharing their roots."""
    children = [subprocess.Popen(["sleep", "30"]) for _ in range(4)]
    try:
        incarnations = []
        for child in children:
            incarnation = incarnation_of(child.pid)
            assert incarnation is not None
            incarnations.append(incarnation)
        yield incarnations
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_roots_racing_from_several_processes_exactly_one_is_accepted(
    live: Path, senders: list[Incarnation]
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(senders))
    results = context.Queue()
    workers = [
        context.Process(
            target=_race_one,
            args=(str(live), RootAuthority.generate(f"root {i}").der, (s.pid, s.start_time)),
            kwargs={"barrier": barrier, "results": results, "index": i},
        )
        for i, s in enumerate(senders)
    ]
    for worker in workers:
        worker.start()
    answers = dict(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    outcomes = [answers[i] for i in range(len(senders))]
    assert sorted(outcomes) == ["SUCCESS"] + ["TRUST_ROOT_HOLDER_ALIVE"] * (len(senders) - 1)
    winner = outcomes.index("SUCCESS")
    store = _store(live)
    assert store.root_holder == senders[winner]
    assert store.generation == 1


_LATE_WORKER = """
import sys
from pathlib import Path
from tessera.service.builder import build_trust_store
from tessera.service.config import parse_config

config = parse_config({"core_settings": {"state_dir": sys.argv[1]}})
store = build_trust_store(config)
print(store.generation, store.current_kid, store.revocation_serial)
print(store.verify_token(sys.argv[2], audience="tessera").subject)
try:
    store.verify_token(sys.argv[3], audience="tessera")
except Exception as error:
    print(type(error).__name__, getattr(error, "status").name)
"""


def test_a_process_started_later_loads_the_runs_state(tmp_path: Path) -> None:
    from tessera.service.builder import build_trust_store
    from tessera.service.config import parse_config

    tmp_path.chmod(0o700)
    config = parse_config({"core_settings": {"state_dir": str(tmp_path)}})
    store = build_trust_store(config)  # as the first worker builds it
    authority = RootAuthority.generate("late")
    intermediate = authority.issue_intermediate(timedelta(hours=1))
    peer = self_peer()
    store.accept_root(authority.der, peer)
    store.accept_intermediate(intermediate.der, peer)
    listing = intermediate.sign_jws(revocation_claims(7, {"gone": START.timestamp() + 1e9}))
    store.accept_revocations(listing, peer)
    assert stat.S_IMODE(config.live_directory.stat().st_mode) == 0o700
    kept = intermediate.issue_token(
        subject=SUBJECT, audience="tessera", lifetime=timedelta(minutes=5)
    )
    gone = intermediate.issue_token(
        subject=SUBJECT, audience="tessera", lifetime=timedelta(minutes=5), token_id="gone.1"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    result = subprocess.run(
        [sys.executable, "-c", _LATE_WORKER, str(tmp_path), kept, gone],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines == [
        f"{store.generation} {store.current_kid} 7",
        SUBJECT,
        "TrustError TRUST_STALE_PAYLOAD",
    ]


def test_a_writer_that_died_before_its_bump_is_repaired_by_the_retry(
    pair: tuple[TrustStore, TrustStore],
    authority: RootAuthority,
    intermediate: Intermediate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, other = pair
    peer = self_peer()
    one.accept_root(authority.der, peer)
    one.accept_intermediate(intermediate.der, peer)
    old = _token(intermediate)
    assert other.verify_token(old, audience=AUD)
    assert one.shared is not None
    third = _store(one.shared.directory, FakeClock())  # a worker that takes no part
    assert third.verify_token(old, audience=AUD)

    class Died(BaseException):
        """The writer killed between its rename and its bump."""

    def die(generation: int) -> int:
        raise Died

    monkeypatch.setattr(one.shared, "_set_counter", die)
    newer = authority.issue_intermediate(timedelta(hours=1))
    with pytest.raises(Died):
        one.accept_intermediate(newer.der, peer)  # never answered: the sender retries
    monkeypatch.undo()
    assert other.verify_token(old, audience=AUD)  # the counter did not move: not seen yet
    other.accept_intermediate(newer.der, peer)  # the retry, through another worker
    assert _refusal(other, old) is Status.TRUST_UNKNOWN_SIGNER
    assert _refusal(one, old) is Status.TRUST_UNKNOWN_SIGNER
    assert _refusal(third, old) is Status.TRUST_UNKNOWN_SIGNER
    assert one.generation == other.generation == third.generation == 3
