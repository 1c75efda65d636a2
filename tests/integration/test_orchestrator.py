"""The orchestrator end to end: real security service, identity provider and orchestrator, and
real applications (tests/integration/orchestrated_app.py) that use the client library.

Each application answers JSON commands on its own socket, so a test asks it what it sees
(its identity, its keys, the errors it gets) instead of guessing from the outside.

One system (`system`: apps alpha "always", beta "on-failure", gamma "never") serves identities
and keys, isolation, application restarts, outsiders, an exited application's identity, one-off
launches and an identity-provider restart; a second (`lifecycle`: keeper, mover) serves
orchestrator restarts (re-attach, upgrade, a reused pid in the record, a stop during startup).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tessera
from tessera.trust.peer import Incarnation, incarnation_of, is_alive
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import fetch_token_pb2, list_apps_pb2
from tessera.wire.status import Status
from tests.integration.identity_support import trust_status
from tests.support import (
    RunningService,
    call,
    request_bytes,
    start_identity,
    start_orchestrator,
    start_service,
    stop_service,
)

REPO = Path(__file__).resolve().parents[2]
APP_MODULE = "tests.integration.orchestrated_app"
TRUST_DOMAIN = "tessera.local"
WAIT = 20.0  # seconds any awaited condition may take before the test fails


def spiffe(name: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/{name}"


# -- the system under test ---------------------------------------------------------------------


@dataclass
class System:
    """A security service, an identity provider and an orchestrator running a manifest."""

    base: Path
    service: RunningService
    identity: RunningService
    orchestrator: RunningService | None
    manifest: Path
    apps_dir: Path
    env: dict[str, str]

    @property
    def control(self) -> Path:
        return self.base / "orch" / "run" / "orchestrator.sock"

    def start_orchestrator(self) -> RunningService:
        self.orchestrator = start_orchestrator(
            self.base / "orch",
            service_socket=self.service.socket_path,
            identity_socket=self.identity.socket_path,
            manifest=self.manifest,
            env=self.env,
        )
        return self.orchestrator

    def app_socket(self, client_id: str) -> Path:
        return self.apps_dir / f"{client_id.replace('/', '-')}.sock"

    def logs(self) -> str:
        parts = []
        for name in ("orch/orchestrator.log", "idp/identity.log", "svc/service.log"):
            path = self.base / name
            if path.exists():
                parts.append(f"--- {name} (tail)\n" + path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)


def app_command(apps_dir: Path, label: str) -> list[str]:
    return [sys.executable, "-m", APP_MODULE, str(apps_dir), "--label", label]


def toml_value(value: Any) -> str:
    """Strings, lists of strings and tables of strings, in TOML."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_manifest(path: Path, apps: list[dict[str, Any]]) -> Path:
    lines = []
    for app in apps:
        lines.append("[[app]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in app.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def tear_down(system: System) -> None:
    """Stop every daemon, and every process an application left behind (the processes with
    the applications' directory, unique to this system, in their command line)."""
    daemons = [system.orchestrator, system.identity, system.service]
    for daemon in daemons:
        if daemon is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                stop_service(daemon)
    for pid in marked_processes(str(system.apps_dir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- looking at processes ------------------------------------------------------------------------


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def marked_processes(marker: str) -> dict[int, list[str]]:
    """Running processes with `marker` in their command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            args = cmdline(int(entry.name))
            if any(marker in arg for arg in args) and incarnation_of(int(entry.name)):
                found[int(entry.name)] = args
    return found


def running_incarnation(pid: int) -> Incarnation:
    incarnation = incarnation_of(pid)
    assert incarnation is not None, f"process {pid} is not running"
    return incarnation


def app_processes(system: System, label: str) -> list[int]:
    """The running processes of the application started with `--label label`."""
    return sorted(
        pid
        for pid, args in marked_processes(str(system.apps_dir)).items()
        if "--label" in args and args[args.index("--label") + 1] == label
    )


def eventually(system: System, condition: Callable[[], Any], what: str) -> Any:
    """Wait for `condition` to return something true; fail with the daemons' logs if it does not."""
    deadline = time.monotonic() + WAIT
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{system.logs()}")
        time.sleep(0.05)


# -- talking to the orchestrator and to the applications ---------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"tessera {' '.join(args)}: {result.stderr}"
    return result.stdout


def status_cli(system: System) -> dict[str, dict[str, Any]]:
    """`tessera orchestrator status --json`, by application name (the control socket found
    from the orchestrator's state directory)."""
    output = cli("orchestrator", "--state-dir", str(system.base / "orch"), "status", "--json")
    return {app["name"]: app for app in json.loads(output)["apps"]}


def status(system: System) -> dict[str, list_apps_pb2.App]:
    """The orchestrator's status over its control socket (quick, for polling)."""
    response = call(system.control, Opcode.LIST_APPS, list_apps_pb2.Operation())
    assert response.header.status == Status.SUCCESS
    return {app.name: app for app in list_apps_pb2.Result.FromString(response.body).apps}


def running(system: System, name: str) -> tuple[int, str] | None:
    """(pid, SPIFFE ID) of the single running, registered instance of `name`, else None."""
    app = status(system).get(name)
    if app is None or len(app.instances) != 1:
        return None
    instance = app.instances[0]
    if instance.state != "running" or not instance.pid or not app.spiffe_id:
        return None
    return instance.pid, app.spiffe_id


def wait_running(system: System, name: str, *, not_pid: int = 0) -> int:
    """The pid of `name` once it runs and is registered (and is not `not_pid`)."""
    found = eventually(
        system,
        lambda: (r := running(system, name)) and r[0] != not_pid and r,
        f"{name} to run and be registered",
    )
    return int(found[0])


def ask(path: Path, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Send one command to an application; waits for its socket to accept."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(path))
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = sock.makefile("rb").readline()
                if not reply:
                    raise ConnectionResetError("the application closed the connection")
                answer: dict[str, Any] = json.loads(reply)
                return answer
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def whoami(path: Path, pid: int) -> dict[str, Any]:
    """The application's own view of itself, from the process `pid` (a restarted application
    rebinds the same socket: wait for the new process to answer)."""
    deadline = time.monotonic() + WAIT
    while True:
        answer = ask(path, {"op": "whoami"})
        if answer["pid"] == pid or time.monotonic() > deadline:
            assert answer["ok"], answer
            assert answer["pid"] == pid, f"{path.name} answered from pid {answer['pid']}"
            return answer
        time.sleep(0.05)


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["ok"], f"the application failed: {answer}"
    return answer


def refused(answer: dict[str, Any]) -> str:
    assert not answer["ok"], f"the application succeeded where it should not: {answer}"
    return str(answer["error"])


def fetch_status(identity_socket: Path) -> Status:
    """FetchToken as the test process (which no orchestrator proved)."""
    response = call(identity_socket, Opcode.FETCH_TOKEN, fetch_token_pb2.Operation())
    return Status(response.header.status)


# -- the shared system ---------------------------------------------------------------------------

MANIFEST_APPS = [("alpha", "always"), ("beta", "on-failure"), ("gamma", "never")]


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    def manifest(apps_dir: Path) -> list[dict[str, Any]]:
        return [
            {"name": name, "command": app_command(apps_dir, name), "restart": policy}
            for name, policy in MANIFEST_APPS
        ]

    with running_system(request, "ts-orch-", manifest) as built:
        yield built


@contextlib.contextmanager
def running_system(
    request: pytest.FixtureRequest,
    prefix: str,
    manifest: Callable[[Path], list[dict[str, Any]]],
) -> Iterator[System]:
    """A system for a module's tests; its files are kept for a look when a test failed."""
    failed_before = request.session.testsfailed
    built = build_system(prefix, manifest)
    try:
        yield built
    finally:
        tear_down(built)
        if request.session.testsfailed == failed_before:
            shutil.rmtree(built.base, ignore_errors=True)


def build_system(prefix: str, manifest: Callable[[Path], list[dict[str, Any]]]) -> System:
    """Start the three daemons on a fresh directory; the manifest names the apps' directory."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    apps_dir = base / "apps"
    apps_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    for variable in ("PARSEC_SERVICE_ENDPOINT", "TESSERA_IDENTITY_ENDPOINT", "TESSERA_STATE_DIR"):
        env.pop(variable, None)
    service = start_service(base / "svc", "--auth", "jwt,direct")  # direct: for outsiders
    try:
        identity = start_identity(base / "idp", service.socket_path, "--heartbeat", "0.2")
    except BaseException:
        stop_service(service)
        raise
    system = System(base, service, identity, None, base / "manifest.toml", apps_dir, env)
    try:
        write_manifest(system.manifest, manifest(apps_dir))
        system.start_orchestrator()
    except BaseException:
        tear_down(system)
        raise
    return system


# -- 1. identities and keys ----------------------------------------------------------------------


def test_manifest_apps_get_identities_and_use_keys(system: System) -> None:
    for name, _ in MANIFEST_APPS:
        wait_running(system, name)
    shown = status_cli(system)
    assert set(shown) == {name for name, _ in MANIFEST_APPS}
    for name, policy in MANIFEST_APPS:
        app = shown[name]
        assert app["spiffe_id"] == spiffe(name)
        assert app["restart"] == policy
        assert [i["state"] for i in app["instances"]] == ["running"]
        pid = app["instances"][0]["pid"]
        assert app["instances"][0]["client_id"] == f"{name}/0"
        assert app_processes(system, name) == [pid]
        me = whoami(system.app_socket(f"{name}/0"), pid)
        assert me["spiffe_id"] == spiffe(name)
        assert me["auth"] == "TokenAuth"  # the library chose identity-provider tokens
        assert me["client_id"] == f"{name}/0"
    for name in ("alpha", "beta"):
        path = system.app_socket(f"{name}/0")
        created = ok(ask(path, {"op": "generate", "name": f"{name}-first"}))
        signed = ok(ask(path, {"op": "sign", "name": f"{name}-first"}))
        assert signed["public_key"] == created["public_key"]
        listed = ok(ask(path, {"op": "list"}))
        assert [f"{name}-first", 1] in listed["keys"]


# -- 2. isolation ---------------------------------------------------------------------------------


def test_apps_cannot_see_or_touch_each_others_keys(system: System) -> None:
    alpha, beta = system.app_socket("alpha/0"), system.app_socket("beta/0")
    alpha_shared = ok(ask(alpha, {"op": "generate", "name": "shared"}))["public_key"]
    beta_shared = ok(ask(beta, {"op": "generate", "name": "shared"}))["public_key"]
    assert alpha_shared != beta_shared, "one name, two applications: two different keys"
    secret = ok(ask(alpha, {"op": "generate", "name": "alpha-only"}))["public_key"]

    alpha_keys = {name for name, _ in ok(ask(alpha, {"op": "list"}))["keys"]}
    beta_keys = {name for name, _ in ok(ask(beta, {"op": "list"}))["keys"]}
    assert {"shared", "alpha-only"} <= alpha_keys
    assert "shared" in beta_keys
    assert not {"alpha-only", "alpha-first"} & beta_keys
    assert "beta-first" not in alpha_keys

    # beta cannot use, export or destroy alpha's key, even naming its provider directly
    assert refused(ask(beta, {"op": "sign", "name": "alpha-only"})) == "DoesNotExistError"
    for op in ("export_raw", "export_public_raw", "destroy_raw"):
        answer = ask(beta, {"op": op, "name": "alpha-only", "provider": 1})
        assert refused(answer) == "DoesNotExistError", op
    # alpha may not export its (non-exportable) key: it sees it, beta does not
    assert refused(ask(alpha, {"op": "export", "name": "alpha-only"})) == "NotPermittedError"
    assert ok(ask(alpha, {"op": "sign", "name": "alpha-only"}))["public_key"] == secret

    # each application's "shared" is its own, and destroying one leaves the other
    assert ok(ask(alpha, {"op": "sign", "name": "shared"}))["public_key"] == alpha_shared
    assert ok(ask(beta, {"op": "sign", "name": "shared"}))["public_key"] == beta_shared
    ok(ask(beta, {"op": "destroy_raw", "name": "shared", "provider": 1}))
    assert refused(ask(beta, {"op": "sign", "name": "shared"})) == "DoesNotExistError"
    assert ok(ask(alpha, {"op": "sign", "name": "shared"}))["public_key"] == alpha_shared


# -- 3a. restart of an application -------------------------------------------------------------


@pytest.mark.parametrize("name", ["alpha", "beta"])  # restart "always" and "on-failure"
def test_identity_and_keys_survive_an_application_restart(system: System, name: str) -> None:
    path = system.app_socket(f"{name}/0")
    before = wait_running(system, name)
    me = whoami(path, before)
    restarts = status(system)[name].instances[0].restarts
    key = ok(ask(path, {"op": "generate", "name": f"{name}-persistent"}))["public_key"]

    os.kill(before, signal.SIGKILL)
    after = wait_running(system, name, not_pid=before)
    assert incarnation_of(before) is None
    assert status(system)[name].instances[0].restarts == restarts + 1
    assert app_processes(system, name) == [after]

    again = whoami(path, after)
    assert again["spiffe_id"] == me["spiffe_id"] == spiffe(name)
    assert again["auth"] == "TokenAuth"
    assert ok(ask(path, {"op": "sign", "name": f"{name}-persistent"}))["public_key"] == key


# -- 4. outsiders ---------------------------------------------------------------------------------


def test_outsider_gets_no_token_and_no_access(system: System) -> None:
    alpha = system.app_socket("alpha/0")
    wait_running(system, "alpha")
    key = ok(ask(alpha, {"op": "generate", "name": "alpha-guarded"}))["public_key"]
    # this process was not started by the orchestrator: no token
    assert fetch_status(system.identity.socket_path) is Status.IDENTITY_CLIENT_NOT_PROVEN
    # nor does a fresh process of the same user, given the applications' environment
    outsider = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; from pathlib import Path; from tests.support import call;"
            "from tessera.wire.opcodes import Opcode;"
            "from tessera.wire.proto import fetch_token_pb2;"
            "r = call(Path(sys.argv[1]), Opcode.FETCH_TOKEN, fetch_token_pb2.Operation());"
            "print(r.header.status)",
            str(system.identity.socket_path),
        ],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert int(outsider.stdout) == Status.IDENTITY_CLIENT_NOT_PROVEN

    # Direct authentication claiming alpha's identity reaches another partition entirely.
    for claimed in (spiffe("alpha"), "alpha"):
        with tessera.Client(
            system.service.socket_path, auth=tessera.DirectAuth(claimed), timeout=10
        ) as client:
            assert client.keys() == []
            with pytest.raises(tessera.DoesNotExistError):
                client.key("alpha-guarded")
            with pytest.raises(tessera.DoesNotExistError):
                client.operations.psa_export_public_key("alpha-guarded", provider=1)
            with pytest.raises(tessera.DoesNotExistError):
                client.operations.psa_export_key("alpha-guarded", provider=1)
            with pytest.raises(tessera.DoesNotExistError):
                client.operations.psa_destroy_key("alpha-guarded", provider=1)
            # the same name is free in the direct partition: a different key
            impostor = client.generate_key("alpha-guarded")
            public = client.operations.psa_export_public_key("alpha-guarded", provider=1)
            assert public.hex() != key
            impostor.destroy()
    assert ok(ask(alpha, {"op": "sign", "name": "alpha-guarded"}))["public_key"] == key


# -- 6. an exited application's identity is gone -----------------------------------------------


def test_exited_application_identity_is_not_inherited(system: System) -> None:
    gamma = system.app_socket("gamma/0")
    pid = wait_running(system, "gamma")
    whoami(gamma, pid)
    helper = ok(ask(gamma, {"op": "spawn_helper"}))
    helper_socket = Path(helper["socket"])
    try:
        # While gamma runs, its child is part of the application and gets its identity.
        assert whoami(helper_socket, helper["pid"])["spiffe_id"] == spiffe("gamma")
        gamma_process = incarnation_of(pid)
        assert gamma_process is not None
        ok(ask(gamma, {"op": "exit", "code": 0}))
        eventually(system, lambda: not is_alive(gamma_process), "gamma to exit")
        # restart "never": the orchestrator withdraws it and leaves it stopped
        eventually(
            system,
            lambda: [i.state for i in status(system)["gamma"].instances] == ["stopped"],
            "gamma to be stopped",
        )
        assert status(system)["gamma"].instances[0].pid == 0
        assert app_processes(system, "gamma") == []
        # The helper outlived gamma: it no longer is anyone, and neither is anybody else.
        answer = ok(ask(helper_socket, {"op": "fetch"}))
        assert answer["status"] == Status.IDENTITY_CLIENT_NOT_PROVEN
        assert answer["spiffe_id"] == ""
        assert fetch_status(system.identity.socket_path) is Status.IDENTITY_CLIENT_NOT_PROVEN
        # and the surviving applications are unaffected
        alpha_pid = wait_running(system, "alpha")
        assert whoami(system.app_socket("alpha/0"), alpha_pid)["spiffe_id"] == spiffe("alpha")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper["pid"], signal.SIGKILL)


# -- 7. one-off launches --------------------------------------------------------------------------


def launch(system: System, name: str, *command: str) -> subprocess.CompletedProcess[str]:
    """`tessera orchestrator run NAME -- COMMAND`."""
    run = [sys.executable, "-m", "tessera.cli.main", "orchestrator", "run"]
    return subprocess.run(
        [*run, "--control-socket", str(system.control), name, "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=system.env,
        check=False,
    )


def launched(system: System, name: str) -> tuple[str, int]:
    """Launch the test application as `name`; (client id, pid) from what the command prints."""
    result = launch(system, name, *app_command(system.apps_dir, name))
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"(\S+) pid (\d+) (\S+)\n", result.stdout)
    assert match, result.stdout
    assert match[1] == f"{name}/0"
    assert match[3] == spiffe(name)
    return match[1], int(match[2])


def test_one_off_run(system: System) -> None:
    client_id, pid = launched(system, "oneoff")
    path = system.app_socket(client_id)
    me = whoami(path, pid)
    assert me["spiffe_id"] == spiffe("oneoff")
    assert me["auth"] == "TokenAuth"
    created = ok(ask(path, {"op": "generate", "name": "oneoff-key"}))["public_key"]
    assert ok(ask(path, {"op": "sign", "name": "oneoff-key"}))["public_key"] == created
    shown = status_cli(system)["oneoff"]
    assert shown["spiffe_id"] == spiffe("oneoff")
    assert shown["restart"] == "never"
    assert [(i["client_id"], i["pid"], i["state"]) for i in shown["instances"]] == [
        (client_id, pid, "running")
    ]
    # a name that runs (or is in the manifest) cannot be launched a second time, and the
    # user is told why (exit status 6: already exists)
    reasons = {
        "oneoff": f"an app named 'oneoff' is already running (pid {pid})",
        "alpha": "an app named 'alpha' is already in the manifest",
    }
    for taken, reason in reasons.items():
        refusal = launch(system, taken, *app_command(system.apps_dir, "never-started"))
        assert refusal.returncode == 6
        assert refusal.stderr.startswith(f"tessera: orchestrator run: {reason}")
    assert app_processes(system, "never-started") == []

    # once it ended, the next run of the same name is the same application again
    first = running_incarnation(pid)
    ok(ask(path, {"op": "exit", "code": 0}))
    eventually(
        system,
        lambda: [i.state for i in status(system)["oneoff"].instances] == ["stopped"],
        "the one-off run to end",
    )
    assert not is_alive(first)
    _, again = launched(system, "oneoff")
    assert again != pid
    me = whoami(path, again)
    assert me["spiffe_id"] == spiffe("oneoff")
    assert ok(ask(path, {"op": "sign", "name": "oneoff-key"}))["public_key"] == created
    assert [(i.pid, i.state) for i in status(system)["oneoff"].instances] == [(again, "running")]


def test_a_token_stolen_from_an_ended_app_stops_working(system: System) -> None:
    """The orchestrator withdraws an application that ended; the service then refuses the
    tokens it was issued within a second, not when they expire (minutes later)."""
    client_id, _ = launched(system, "robbed")
    path = system.app_socket(client_id)
    stolen = ok(ask(path, {"op": "fetch"}))["token"]
    assert use_token(system, stolen) is Status.SUCCESS
    ok(ask(path, {"op": "exit", "code": 0}))
    eventually(
        system,
        lambda: [i.state for i in status(system)["robbed"].instances] == ["stopped"],
        "the application to end and be withdrawn",
    )
    withdrawn = time.monotonic()
    while use_token(system, stolen) is Status.SUCCESS:
        assert time.monotonic() - withdrawn < 1.0, "the ended application's token still works"
        time.sleep(0.01)
    assert use_token(system, stolen) is Status.AUTHENTICATION_ERROR


def use_token(system: System, token: str) -> Status:
    """ListKeys with `token`, as anyone who holds it."""
    request = request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.JWT, auth=token.encode())
    return Status(system.service.call(request).header.status)


# -- 8. identity provider restart -------------------------------------------------------------


def test_identity_provider_restart_is_invisible_to_applications(system: System) -> None:
    alpha = system.app_socket("alpha/0")
    whoami(alpha, wait_running(system, "alpha"))
    ok(ask(alpha, {"op": "workload_start", "name": "busy"}))
    try:
        eventually(system, lambda: ok(ask(alpha, {"op": "workload_progress"}))["done"] > 20, "work")
        old_root = trust_status(system.service.socket_path).root_kid
        old_orchestrator_root = trust_status(system.identity.socket_path).root_kid

        system.identity.process.send_signal(signal.SIGKILL)
        system.identity.process.wait()
        system.identity = start_identity(
            system.base / "idp", system.service.socket_path, "--heartbeat", "0.2"
        )
        # the service takes the new identity provider's root; the orchestrator re-shares its own
        eventually(
            system,
            lambda: trust_status(system.service.socket_path).root_kid not in ("", old_root),
            "the service to trust the new identity provider",
        )
        eventually(
            system,
            lambda: trust_status(system.identity.socket_path).root_kid == old_orchestrator_root,
            "the orchestrator to re-share its root",
        )
        # every success from here on used a token of the new identity provider
        mark = ok(ask(alpha, {"op": "workload_progress"}))["done"]
        eventually(
            system,
            lambda: ok(ask(alpha, {"op": "workload_progress"}))["done"] > mark + 20,
            "work with new tokens",
        )
    finally:
        result = ok(ask(alpha, {"op": "workload_stop"}))
    assert result["failures"] == []
    assert result["done"] > 40
    for name in ("alpha", "beta"):
        pid = wait_running(system, name)
        assert whoami(system.app_socket(f"{name}/0"), pid)["spiffe_id"] == spiffe(name)


# -- 5 and 3b. orchestrator restart, then an upgrade ---------------------------------------------


@pytest.fixture(scope="module")
def lifecycle(request: pytest.FixtureRequest) -> Iterator[System]:
    def manifest(apps_dir: Path) -> list[dict[str, Any]]:
        return [
            {"name": "keeper", "command": app_command(apps_dir, "keeper"), "restart": "always"},
            {"name": "mover", "command": app_command(apps_dir, "mover"), "restart": "on-failure"},
        ]

    failed_before = request.session.testsfailed
    built = build_system("ts-life-", manifest)
    try:
        yield built
    finally:
        tear_down(built)
        if request.session.testsfailed == failed_before:
            shutil.rmtree(built.base, ignore_errors=True)


def kill_orchestrator(system: System) -> None:
    """kill -9 the orchestrator (its applications run in their own sessions and survive)."""
    assert system.orchestrator is not None
    system.orchestrator.process.send_signal(signal.SIGKILL)
    system.orchestrator.process.wait()


def restarted(system: System) -> str:
    """Start the orchestrator again; wait until the identity provider took its new root."""
    before = trust_status(system.identity.socket_path).root_kid
    system.start_orchestrator()
    return str(
        eventually(
            system,
            lambda: (
                (kid := trust_status(system.identity.socket_path).root_kid) not in ("", before)
                and kid
            ),
            "the identity provider to take the new orchestrator's root",
        )
    )


def check_app(system: System, name: str, pid: int, key: str, label: str | None = None) -> None:
    """`name` runs as `pid` (and nothing else runs under its label), with its identity; its
    key is the one it created first."""
    path = system.app_socket(f"{name}/0")
    me = whoami(path, pid)
    assert me["spiffe_id"] == spiffe(name)
    assert me["auth"] == "TokenAuth"
    assert me["label"] == (label or name)
    assert app_processes(system, label or name) == [pid]
    assert ok(ask(path, {"op": "sign", "name": f"{name}-key"}))["public_key"] == key


def test_orchestrator_restart_reattaches_and_upgrade_keeps_identity(lifecycle: System) -> None:
    system = lifecycle
    names = ("keeper", "mover")
    pids = {name: wait_running(system, name) for name in names}
    public = {}
    for name in names:
        path = system.app_socket(f"{name}/0")
        assert whoami(path, pids[name])["spiffe_id"] == spiffe(name)
        public[name] = ok(ask(path, {"op": "generate", "name": f"{name}-key"}))["public_key"]
    processes = {name: running_incarnation(pid) for name, pid in pids.items()}

    # kill -9 the orchestrator: the applications keep running; a new incarnation (a new root,
    # accepted as the old holder is dead) re-attaches to them instead of starting second copies
    kill_orchestrator(system)
    assert all(is_alive(incarnation) for incarnation in processes.values())
    restarted(system)
    for name in names:
        assert wait_running(system, name) == pids[name]  # registered by the new incarnation
    shown = status_cli(system)
    for name in names:
        assert shown[name]["spiffe_id"] == spiffe(name)
        assert [(i["pid"], i["state"]) for i in shown[name]["instances"]] == [
            (pids[name], "running")
        ]
        check_app(system, name, pids[name], public[name])
        assert is_alive(processes[name])

    # upgrade while the orchestrator is down: mover becomes another executable (a script run
    # the usual way, `env` finding its interpreter on the application's PATH), same name
    kill_orchestrator(system)
    upgraded = system.apps_dir / "mover-v2"
    upgraded.write_text(
        "#!/usr/bin/env python3\nimport runpy\n"
        f"runpy.run_module({APP_MODULE!r}, run_name='__main__')\n"
    )
    upgraded.chmod(0o755)
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    new_command = [str(upgraded), str(system.apps_dir), "--label", "mover-v2"]
    write_manifest(
        system.manifest,
        [
            {"name": "keeper", "command": app_command(system.apps_dir, "keeper")},
            {"name": "mover", "command": new_command, "env": {"PATH": search_path}},
        ],
    )
    restarted(system)
    # keeper is unchanged: re-attached; mover's old version is replaced by the new one
    assert wait_running(system, "keeper") == pids["keeper"]
    mover = wait_running(system, "mover", not_pid=pids["mover"])
    assert not is_alive(processes["mover"])
    check_app(system, "keeper", pids["keeper"], public["keeper"])
    check_app(system, "mover", mover, public["mover"], label="mover-v2")
    assert app_processes(system, "mover") == []
    assert status_cli(system)["mover"]["command"] == new_command

    # a graceful stop stops every application, adopted or not
    final = [processes["keeper"], running_incarnation(mover)]
    assert system.orchestrator is not None
    assert stop_service(system.orchestrator) == 0
    eventually(system, lambda: not any(is_alive(i) for i in final), "the applications to stop")
    assert app_processes(system, "keeper") == app_processes(system, "mover-v2") == []

    # and the next start starts them afresh, with the same identities and keys
    restarted(system)
    for name, label in (("keeper", "keeper"), ("mover", "mover-v2")):
        pid = wait_running(system, name, not_pid=pids[name] if name == "keeper" else mover)
        check_app(system, name, pid, public[name], label=label)


def test_a_reused_pid_is_neither_adopted_nor_signalled(lifecycle: System) -> None:
    """The orchestrator's record names processes by pid and start time: a record whose pid now
    belongs to another process (pid reuse) is neither re-attached nor stopped."""
    system = lifecycle
    if system.orchestrator is not None and system.orchestrator.alive():
        assert stop_service(system.orchestrator) == 0
    impostor_socket = system.apps_dir / "impostor.sock"
    impostor = subprocess.Popen(
        [*app_command(system.apps_dir, "impostor"), "--socket", str(impostor_socket)],
        env=system.env | {"TESSERA_IDENTITY_ENDPOINT": f"unix:{system.identity.socket_path}"},
        start_new_session=True,  # it leads a process group, as applications do
    )
    try:
        real = running_incarnation(impostor.pid)
        state = [
            {
                "app": app,
                "client_id": f"{app}/0",
                "pid": real.pid,
                "start_time": real.start_time - 1,  # an earlier process with that pid
            }
            for app in ("keeper", "removed-app")
        ]
        (system.base / "orch" / "orchestrator.json").write_text(json.dumps({"instances": state}))
        restarted(system)
        keeper = wait_running(system, "keeper", not_pid=real.pid)
        assert keeper != real.pid
        assert is_alive(real) and impostor.poll() is None, "the orchestrator hit another process"
        answer = ok(ask(impostor_socket, {"op": "fetch"}))
        assert answer["status"] == Status.IDENTITY_CLIENT_NOT_PROVEN
        assert whoami(system.app_socket("keeper/0"), keeper)["spiffe_id"] == spiffe("keeper")
    finally:
        impostor.kill()
        impostor.wait()


STOP_DEADLINE = 4.5  # an application that honours SIGTERM is never waited for this long


def test_a_stop_during_startup_is_prompt_and_leaves_nothing(lifecycle: System) -> None:
    """SIGTERM while the applications start and register (trust not yet established): the
    orchestrator stops them all, and itself, at once."""
    system = lifecycle
    if system.orchestrator is not None and system.orchestrator.alive():
        assert stop_service(system.orchestrator) == 0
    for _ in range(3):
        orchestrator = system.start_orchestrator()
        assert stop_service(orchestrator, timeout=STOP_DEADLINE) == 0
        assert marked_processes(str(system.apps_dir)) == {}
        record = json.loads((system.base / "orch" / "orchestrator.json").read_text())
        assert record == {"instances": [], "one_off": []}
