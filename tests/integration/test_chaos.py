"""Chaos: kill -9 the daemons of `tessera up`, in a loop, under a workload of several tenants.

Three tenants started by the orchestrator (tests/integration/chaos_app.py: two on the blocking
client, one on the async client, all with the library's defaults) sign, verify, generate, import
and destroy keys in a loop and record every failure that reaches them. Each round kills with
SIGKILL, in turn: the security service; the identity provider, and its successor as soon as it
answers (back-to-back restarts); the orchestrator; the service and the identity provider at
once; `tessera up` itself. After each daemon's kill the supervisor restarts it, and the test
waits until every tenant has made progress. A daemon is killed again only once the supervisor
deems it stable (`STABLE_AFTER`), except in the back-to-back step: a daemon killed again sooner
makes the supervisor back off, up to 5 s a restart, and such an outage is meant to outlast the
clients' default restart wait (10 s).

Killing `tessera up` stops everything (its daemons get SIGTERM from the kernel, and the
orchestrator stops its applications), so the test starts it again as systemd would, and the
tenants are started again: that kill is visible to applications by design (they are stopped),
and the test checks that it costs nothing else: no failure, no key lost.

At the end each tenant compares the keys it believes it has with ListKeys. Expected: no failure
reached any tenant, no key lost, none left over, and no tenant started again except after a
kill of `tessera up`.

Rounds: `TESSERA_CHAOS_ROUNDS` (default 1, about 40 s); a long run, e.g.
`TESSERA_CHAOS_ROUNDS=50`, is described in docs/development.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tessera
from tessera.daemon.lifecycle import STABLE_AFTER
from tests.integration.test_system import component_pid, read_results

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SOURCES = Path(tessera.__file__).resolve().parents[1]  # the tenants run the tested library
ROUNDS = int(os.environ.get("TESSERA_CHAOS_ROUNDS", "1"))
TENANTS = {"tenant-a": "", "tenant-b": "", "tenant-c": "--async"}
PROGRESS = 8  # operations every tenant completes after a kill before the next one
HEAL_TIMEOUT = 60.0  # seconds: far beyond the client's 10 s restart wait; a hang fails here
SERVICE, IDENTITY, ORCHESTRATOR = "parsec.sock", "identity.sock", "orchestrator.sock"


@dataclass
class Chaos:
    """The running system and what the test did to it."""

    state: Path
    up: subprocess.Popen[str]
    kills: int = 0
    up_kills: int = 0
    passed: bool = False  # the state directory is kept for a look at a failure
    killed_at: float = 0.0
    heal_times: dict[str, float] = field(default_factory=dict)  # slowest, per kind of kill

    def results(self, tenant: str) -> Path:
        return self.state / "tenants" / f"{tenant}.json"

    def tenants(self) -> dict[str, dict[str, Any]]:
        return {name: read_results(self.results(name)) for name in TENANTS}

    def done(self) -> dict[str, int]:
        return {name: outcome.get("done", 0) for name, outcome in self.tenants().items()}

    def kill(self, *sockets: str, settled: bool = True) -> None:
        """SIGKILL the daemons serving `sockets` (once the supervisor deems them stable, if
        `settled`), then wait until each is served again."""
        victims = {name: component_pid(self.state, name) for name in sockets}
        if settled:
            time.sleep(max(STABLE_AFTER + 0.5 - min(map(_age, victims.values())), 0))
        self.killed_at = time.monotonic()
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
            self.kills += 1
        for name, pid in victims.items():
            self.wait(_served_by_another(self.state, name, pid))

    def kill_up(self) -> None:
        """SIGKILL `tessera up`, wait until its daemons and the tenants have stopped, and start
        it again on the same state directory."""
        stopping = [component_pid(self.state, n) for n in (SERVICE, IDENTITY, ORCHESTRATOR)]
        stopping += [o["pid"] for o in self.tenants().values()]
        self.killed_at = time.monotonic()
        self.up.send_signal(signal.SIGKILL)
        self.up.wait()
        self.kills += 1
        self.up_kills += 1
        self.wait(lambda: not any(map(_running, stopping)), "stop of the old system", up=False)
        self.up = start_up(self.state)

    def wait(self, condition: Callable[[], bool], what: str = "a restart", up: bool = True) -> None:
        """Wait for `condition`; fail after HEAL_TIMEOUT, or at once if `tessera up` (`up`)
        died."""
        deadline = time.monotonic() + HEAL_TIMEOUT
        while not condition():
            if time.monotonic() > deadline or (up and self.up.poll() is not None):
                raise AssertionError(f"no {what} within {HEAL_TIMEOUT:.0f} s: {self.diagnosis()}")
            time.sleep(0.05)

    def progress(self, what: str, before: dict[str, int]) -> None:
        """Wait until every tenant did PROGRESS more operations; record the time since the
        last kill."""
        self.wait(lambda: all(self.done()[n] >= before[n] + PROGRESS for n in TENANTS), "progress")
        healed = time.monotonic() - self.killed_at
        self.heal_times[what] = max(healed, self.heal_times.get(what, 0.0))

    def diagnosis(self) -> str:
        failures = {n: o.get("failures", [])[-3:] for n, o in self.tenants().items()}
        log = (self.state / "up.out").read_text()[-2000:]
        return f"done {self.done()}, last failures {failures}; state in {self.state}; up: {log}"


def _age(pid: int) -> float:
    """Seconds since process `pid` started (from /proc)."""
    started = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - started / os.sysconf("SC_CLK_TCK")


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status not in ("Z", "X")


def _served_by_another(state: Path, socket_name: str, old: int) -> Callable[[], bool]:
    """A condition: a process other than `old` answers on the socket."""

    def check() -> bool:
        try:
            return component_pid(state, socket_name) != old
        except OSError:
            return False

    return check


def _manifest(state: Path) -> Path:
    apps = []
    for name, flag in TENANTS.items():
        results = state / "tenants" / f"{name}.json"
        extra = f', "{flag}"' if flag else ""
        apps.append(
            f"""
[[app]]
name = "{name}"
command = ["{sys.executable}", "-m", "tests.integration.chaos_app", "{results}"{extra}]
working_dir = "{REPO}"
restart = "never"
env = {{ PYTHONPATH = "{SOURCES}{os.pathsep}{REPO}" }}
"""
        )
    path = state / "manifest.toml"
    path.write_text("".join(apps))
    return path


def start_up(state: Path) -> subprocess.Popen[str]:
    """`tessera up` on `state` with the tenants' manifest (its output appended to up.out)."""
    with (state / "up.out").open("a") as output:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "tessera.cli.main", "up", "--allow-root"),
                *("--state-dir", str(state), "--manifest", str(state / "manifest.toml")),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )


@pytest.fixture
def chaos() -> Iterator[Chaos]:
    state = Path(tempfile.mkdtemp(prefix="ts-chaos-", dir="/tmp"))
    (state / "tenants").mkdir()
    _manifest(state)
    system = Chaos(state, start_up(state))
    try:
        system.wait(lambda: min(system.done().values()) > PROGRESS, "start of every tenant")
        yield system
    finally:
        up = system.up
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        if system.passed:
            shutil.rmtree(state, ignore_errors=True)


def _back_to_back(system: Chaos) -> None:
    system.kill(IDENTITY)
    system.kill(IDENTITY, settled=False)  # its successor, as soon as it answers


ROUND: list[tuple[str, Callable[[Chaos], None]]] = [
    ("service", lambda s: s.kill(SERVICE)),
    ("identity provider twice", _back_to_back),
    ("orchestrator", lambda s: s.kill(ORCHESTRATOR)),
    ("service and identity provider", lambda s: s.kill(SERVICE, IDENTITY)),
    ("tessera up", Chaos.kill_up),
]


def test_kill_minus_9_is_invisible_to_applications(chaos: Chaos) -> None:
    started = time.monotonic()
    for _ in range(ROUNDS):
        for what, act in ROUND:
            before = chaos.done()
            act(chaos)
            chaos.progress(what, before)
    for name in TENANTS:
        chaos.results(name).with_suffix(".stop").touch()
    chaos.wait(lambda: all("lost" in o for o in chaos.tenants().values()), "final check")
    outcome = chaos.tenants()
    operations = sum(o["done"] for o in outcome.values())
    failures = [f"{n}: {line}" for n, o in outcome.items() for line in o["failures"]]
    lost = {n: o["lost"] for n, o in outcome.items() if o["lost"]}
    left_over = {n: o["left_over"] for n, o in outcome.items() if o["left_over"]}
    slowest = max(o["slowest"] for o in outcome.values())
    heals = ", ".join(f"{what} {seconds:.1f} s" for what, seconds in chaos.heal_times.items())
    print(
        f"\nchaos: {ROUNDS} round(s), {chaos.kills} kills, {operations} operations by "
        f"{len(TENANTS)} tenants, {len(failures)} failures, {sum(map(len, lost.values()))} "
        f"keys lost, in {time.monotonic() - started:.1f} s; slowest operation {slowest:.1f} s; "
        f"slowest heal after a kill of: {heals}"
    )
    assert failures == [], "\n".join([f"state in {chaos.state}", *failures])
    assert lost == {}
    assert left_over == {}
    restarted = {n: o["starts"] - 1 for n, o in outcome.items()}
    assert restarted == dict.fromkeys(TENANTS, chaos.up_kills), "tenants started again"
    chaos.passed = True
