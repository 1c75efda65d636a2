"""Containers end to end: real podman, real security service, identity provider and orchestrator.

The orchestrator follows podman's Docker-compatible API (`[containers]`); containers are started
with plain `podman run` by the test, never by Tessera. Inside, the test application
(tests/integration/orchestrated_app.py) uses the client library with its ordinary endpoint
discovery: the two daemons' sockets come in through one read-only bind mount of the directory
that holds only them, and the two endpoint variables.

Skipped, with the reason, where podman is absent or cannot run a container (podman_support.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import fetch_token_pb2
from tessera.wire.status import Status
from tests.integration.container_support import (
    World,
    ask,
    container_id,
    eventually,
    exec_fetch,
    grant,
    identity_of,
    recorded,
    run_container,
    spiffe,
)
from tests.integration.podman_support import REPO, NoPodmanError, Podman
from tests.support import (
    RunningService,
    call,
    start_identity,
    start_service,
    stop_service,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="ts-ctr-", dir="/tmp"))
    podman = Podman(base / "podman")
    podman.base.mkdir()
    try:
        podman.start()
    except NoPodmanError as error:
        podman.stop()
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(str(error))
    failed_before = request.session.testsfailed
    (base / "apps").mkdir()
    (base / "public").mkdir(mode=0o755)  # the service's and identity provider's sockets only
    daemons: list[RunningService] = []
    built: World | None = None
    try:
        service = start_service(
            base / "svc", "--auth", "jwt,direct", socket_path=base / "public" / "parsec.sock"
        )
        daemons.append(service)
        identity = start_identity(
            base / "idp",
            service.socket_path,
            "--heartbeat",
            "0.2",
            socket_path=base / "public" / "identity.sock",
        )
        daemons.append(identity)
        built = World(base, podman, service, identity)
        built.start_orchestrator()
        yield built
    finally:
        if built is not None:  # the daemons running now (tests restart some)
            daemons = [built.service, built.identity]
            daemons += [built.orchestrator] if built.orchestrator is not None else []
        for daemon in reversed(daemons):
            with contextlib.suppress(subprocess.TimeoutExpired):
                stop_service(daemon)
        podman.stop()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(base, ignore_errors=True)


# -- helpers ------------------------------------------------------------------------------------


def test_labels_make_applications_and_replicas_share_one(world: World) -> None:
    alice = run_container(world, "alice", {"tessera.app": "alice"})
    bob = run_container(world, "bob", {"tessera.app": "bob"})
    alice2 = run_container(world, "alice-2", {"tessera.app": "alice"})
    assert identity_of(world, alice)["spiffe_id"] == spiffe("alice")
    assert identity_of(world, bob)["spiffe_id"] == spiffe("bob")
    assert identity_of(world, alice2)["spiffe_id"] == spiffe("alice")
    # Same key name, same image: separate keys; the replica signs with its application's key.
    alice_key = ask(alice, {"op": "generate", "name": "shared"})
    bob_key = ask(bob, {"op": "generate", "name": "shared"})
    assert alice_key["ok"] and bob_key["ok"], (alice_key, bob_key)
    assert alice_key["public_key"] != bob_key["public_key"]
    signed = ask(alice2, {"op": "sign", "name": "shared"})
    assert signed["ok"] and signed["public_key"] == alice_key["public_key"], signed
    assert ask(bob, {"op": "sign", "name": "shared"})["public_key"] == bob_key["public_key"]


def test_a_container_matching_no_rule_gets_nothing(world: World) -> None:
    stranger = run_container(world, "stranger", {"role": "unknown"}, restart_wait=1)
    cid = container_id(world, "stranger")
    eventually(
        world,
        lambda: f"({cid[:12]}) matches no rule" in world.orchestrator.log(),  # type: ignore[union-attr]
        "the orchestrator to consider the stranger",
    )
    assert ask(stranger, {"op": "fetch"})["status"] == Status.IDENTITY_CLIENT_NOT_PROVEN
    answer = ask(stranger, {"op": "generate", "name": "shared"})
    assert not answer["ok"], answer
    assert cid not in recorded(world)


def test_a_process_joining_later_shares_the_identity_only_where_the_rule_says(
    world: World,
) -> None:
    identity_of(world, world.apps / "alice.sock")
    assert exec_fetch(world, "alice") == Status.IDENTITY_CLIENT_NOT_PROVEN
    carol = run_container(world, "carol", {"tessera.app": "carol", "tessera.exec": "yes"})
    assert identity_of(world, carol)["spiffe_id"] == spiffe("carol")
    assert exec_fetch(world, "carol") == Status.SUCCESS


def test_a_host_process_forging_a_container_cgroup_gets_nothing(world: World) -> None:
    """In its own mount namespace, a host process makes its /proc/self/cgroup name alice's
    container. The identity provider reads /proc in its own namespace: nothing is forged."""
    forged = world.base / "forged-cgroup"
    forged.write_text(f"0::/libpod_parent/libpod-{container_id(world, 'alice')}\n")
    code = (
        "import os, subprocess, sys; from pathlib import Path; from tests.support import call;"
        "from tessera.wire.opcodes import Opcode; from tessera.wire.proto import fetch_token_pb2;"
        f"subprocess.run(['mount', '--bind', '{forged}', f'/proc/{{os.getpid()}}/cgroup'],"
        " check=True);"
        "assert 'libpod-' in Path('/proc/self/cgroup').read_text();"
        f"print(call(Path('{world.identity.socket_path}'), Opcode.FETCH_TOKEN,"
        " fetch_token_pb2.Operation()).header.status)"
    )
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=dict(os.environ, PYTHONPATH=f"{REPO}/src:{REPO}"),
    )
    assert int(result.stdout.strip()) == Status.IDENTITY_CLIENT_NOT_PROVEN


def test_a_rebuilt_image_is_another_application_where_the_rule_says(world: World) -> None:
    first = run_container(world, "per-digest-1", {"tessera.per-digest": "yes"}, tag="1")
    world.podman.build("2")
    second = run_container(world, "per-digest-2", {"tessera.per-digest": "yes"}, tag="2")
    digests = [world.podman.images[tag].removeprefix("sha256:")[:12] for tag in ("1", "2")]
    assert identity_of(world, first)["spiffe_id"] == spiffe(f"digest-{digests[0]}")
    assert identity_of(world, second)["spiffe_id"] == spiffe(f"digest-{digests[1]}")


def test_a_container_restarted_under_the_same_name_is_not_the_old_one(world: World) -> None:
    """Stop/start: the same application, a new grant. Removed and run again under the same
    name, matching no rule now: nothing of the old identity."""
    bob = world.apps / "bob.sock"
    before = identity_of(world, bob)
    world.podman.run("stop", "--time", "0", "bob")
    world.podman.run("start", "bob")
    again = eventually(
        world,
        lambda: (
            (a := ask(bob, {"op": "fetch"}))["status"] == 0
            and grant(a["token"]) != grant(before["token"])
            and a
        ),
        "bob to be proven again after its restart",
    )
    assert again["spiffe_id"] == spiffe("bob")
    world.podman.run("rm", "--force", "--time", "0", "bob")
    impostor = run_container(world, "bob", {"tessera.app-not": "bob"})
    cid = container_id(world, "bob")
    eventually(
        world,
        lambda: f"({cid[:12]}) matches no rule" in world.orchestrator.log(),  # type: ignore[union-attr]
        "the orchestrator to consider the new bob",
    )
    assert ask(impostor, {"op": "fetch"})["status"] == Status.IDENTITY_CLIENT_NOT_PROVEN


def test_the_orchestrator_restarted_reattaches_without_duplicates(world: World) -> None:
    """kill -9 under a workload: tokens in use stay valid, no call fails."""
    alice = world.apps / "alice.sock"
    before = identity_of(world, alice)
    assert ask(alice, {"op": "workload_start", "name": "shared"})["ok"]
    running = {container_id(world, name) for name in ("alice", "alice-2")}
    gone = container_id(world, "per-digest-1")
    assert world.orchestrator is not None
    world.orchestrator.process.send_signal(signal.SIGKILL)
    world.orchestrator.process.wait()
    world.podman.run("rm", "--force", "--time", "0", "per-digest-1")  # stops while it is down
    world.start_orchestrator()
    eventually(world, lambda: gone not in recorded(world), "the stopped container's withdrawal")
    records = recorded(world)
    assert len(records) == len(set(records)) and running <= set(records)
    after = identity_of(world, alice)
    # Proven again under the same client id for the same process: the same grant, one entry.
    assert after["spiffe_id"] == spiffe("alice")
    assert grant(after["token"]) == grant(before["token"])
    report = ask(alice, {"op": "workload_stop"})
    assert report["done"] > 0 and report["failures"] == [], report


def test_the_engine_api_restarted_is_followed_again(world: World) -> None:
    """The API service killed (containers keep running): the orchestrator reconnects, and a
    container started meanwhile gets its identity."""
    assert world.podman.service is not None
    world.podman.service.send_signal(signal.SIGKILL)
    world.podman.service.wait()
    dave = run_container(world, "dave", {"tessera.app": "dave"})  # the CLI needs no service
    world.podman.start_api()
    assert identity_of(world, dave)["spiffe_id"] == spiffe("dave")
    assert identity_of(world, world.apps / "alice.sock")["spiffe_id"] == spiffe("alice")


def test_a_restarted_identity_provider_is_invisible_to_containerised_clients(
    world: World,
) -> None:
    """kill -9 of the identity provider under a workload: the orchestrator replays the
    containers, the client library refetches its token; no call fails."""
    alice = world.apps / "alice.sock"
    before = identity_of(world, alice)
    assert ask(alice, {"op": "workload_start", "name": "shared"})["ok"]
    eventually(world, lambda: ask(alice, {"op": "workload_progress"})["done"] > 5, "a workload")
    world.identity.process.send_signal(signal.SIGKILL)
    world.identity.process.wait()
    world.identity = start_identity(
        world.base / "idp",
        world.service.socket_path,
        "--heartbeat",
        "0.2",
        socket_path=world.sockets / "identity.sock",
    )
    after = identity_of(world, alice)
    assert after["spiffe_id"] == spiffe("alice")
    assert grant(after["token"]) != grant(before["token"])  # a new provider, a new grant
    done = ask(alice, {"op": "workload_progress"})["done"]
    eventually(
        world, lambda: ask(alice, {"op": "workload_progress"})["done"] > done + 5, "more work"
    )
    report = ask(alice, {"op": "workload_stop"})
    assert report["failures"] == [], report


def test_a_restarted_service_is_invisible_to_containerised_clients(world: World) -> None:
    """kill -9 of the security service under a workload: the identity provider re-shares its
    root with the new service, the client library reconnects and retries; no call fails."""
    alice = world.apps / "alice.sock"
    identity_of(world, alice)
    assert ask(alice, {"op": "workload_start", "name": "shared"})["ok"]
    eventually(world, lambda: ask(alice, {"op": "workload_progress"})["done"] > 5, "a workload")
    stop_service(world.service, signal.SIGKILL)
    world.service = start_service(
        world.base / "svc", "--auth", "jwt,direct", socket_path=world.sockets / "parsec.sock"
    )
    done = ask(alice, {"op": "workload_progress"})["done"]
    eventually(
        world, lambda: ask(alice, {"op": "workload_progress"})["done"] > done + 5, "more work"
    )
    report = ask(alice, {"op": "workload_stop"})
    assert report["failures"] == [], report


def test_fetch_from_the_host_is_not_a_container(world: World) -> None:
    response = call(world.identity.socket_path, Opcode.FETCH_TOKEN, fetch_token_pb2.Operation())
    assert response.header.status == Status.IDENTITY_CLIENT_NOT_PROVEN
