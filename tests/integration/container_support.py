"""The containers tests' world: podman, the three daemons, and containers of the test
application (tests/integration/orchestrated_app.py) started with plain `podman run`."""

from __future__ import annotations

import base64
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.podman_support import IMAGE, Podman
from tests.support import RunningService, start_orchestrator

WAIT = 20.0
IN_CONTAINER = "/run/tessera"  # where the socket directory is mounted in every container
RULES = """
[[containers.rule]]                      # a rebuilt image is another application
app = "digest-{digest}"
labels = { "tessera.per-digest" = "yes" }

[[containers.rule]]                      # processes joining later share the identity
app = "{label:tessera.app}"
labels = { "tessera.app" = "*", "tessera.exec" = "yes" }
exec = true

[[containers.rule]]
app = "{label:tessera.app}"
image = "localhost/tessera-test:*"
labels = { "tessera.app" = "*" }
"""


@dataclass
class World:
    base: Path
    podman: Podman
    service: RunningService
    identity: RunningService
    orchestrator: RunningService | None = None

    @property
    def apps(self) -> Path:
        return self.base / "apps"

    @property
    def sockets(self) -> Path:
        return self.base / "public"

    def start_orchestrator(self) -> RunningService:
        config = self.base / "orchestrator.toml"
        config.write_text(
            f'[containers]\nengine = "unix://{self.podman.api}"\nreconcile_period = 1\n{RULES}'
        )
        self.orchestrator = start_orchestrator(
            self.base / "orch",
            "--config",
            str(config),
            service_socket=self.service.socket_path,
            identity_socket=self.identity.socket_path,
        )
        return self.orchestrator

    def logs(self) -> str:
        parts = []
        for name in ("orch/orchestrator.log", "idp/identity.log", "podman/api.log"):
            path = self.base / name
            if path.exists():
                parts.append(f"--- {name} (tail)\n" + path.read_text(errors="replace")[-5000:])
        return "\n".join(parts)


def run_container(
    world: World,
    name: str,
    labels: dict[str, str] | None = None,
    *,
    tag: str = "1",
    restart_wait: float = 10,
) -> Path:
    """`podman run -d` the test application; the socket it answers on (from the host)."""
    flags = [f"--label={key}={value}" for key, value in (labels or {}).items()]
    world.podman.run(
        "run",
        "--detach",
        "--name",
        name,
        *flags,
        "--volume",
        f"{world.sockets}:{IN_CONTAINER}:ro",
        "--volume",
        f"{world.apps}:/apps",
        "--env",
        f"PARSEC_SERVICE_ENDPOINT=unix:{IN_CONTAINER}/parsec.sock",
        "--env",
        f"TESSERA_IDENTITY_ENDPOINT=unix:{IN_CONTAINER}/identity.sock",
        "--env",
        f"TESSERA_RESTART_WAIT={restart_wait}",
        f"{IMAGE}:{tag}",
        sys.executable,
        "-m",
        "tests.integration.orchestrated_app",
        "/apps",
        "--label",
        name,
        "--socket",
        f"/apps/{name}.sock",
    )
    return world.apps / f"{name}.sock"


def ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    """One command to a containerised application (waits for its socket)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(60)
                sock.connect(str(path))
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = sock.makefile("rb").readline()
            if reply:
                answer: dict[str, Any] = json.loads(reply)
                return answer
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError):
            pass
        assert time.monotonic() < deadline, f"{path.name} does not answer"
        time.sleep(0.05)


def eventually(world: World, condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{world.logs()}")
        time.sleep(0.1)
    return value


def identity_of(world: World, app: Path) -> dict[str, Any]:
    """The application's raw FetchToken once it succeeds (registration follows the start)."""
    fetched: dict[str, Any] = eventually(
        world,
        lambda: (answer := ask(app, {"op": "fetch"})) and answer["status"] == 0 and answer,
        f"{app.name} to get a token",
    )
    return fetched


def grant(token: str) -> str:
    """The grant of a token (its `jti` up to the dot): one per proven process."""
    claims = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    return str(payload["jti"]).split(".", 1)[0]


def spiffe(name: str) -> str:
    return f"spiffe://tessera.local/{name}"


def recorded(world: World) -> list[str]:
    """The container ids the orchestrator recorded as registered."""
    document = json.loads((world.base / "orch" / "containers.json").read_text())
    return [entry["client_id"].removeprefix("container:") for entry in document["instances"]]


def container_id(world: World, name: str) -> str:
    return str(world.podman.inspect(name)["Id"])


# -- identities, isolation, refusals -------------------------------------------------------------


def exec_fetch(world: World, name: str) -> int:
    """FetchToken from a process `podman exec` adds to a running container: its status."""
    code = (
        "from pathlib import Path; from tests.support import call;"
        "from tessera.wire.opcodes import Opcode; from tessera.wire.proto import fetch_token_pb2;"
        f"print(call(Path('{IN_CONTAINER}/identity.sock'), Opcode.FETCH_TOKEN,"
        " fetch_token_pb2.Operation()).header.status)"
    )
    return int(world.podman.run("exec", name, sys.executable, "-c", code))
