"""`tessera up --containers`: the demo's two applications as podman containers.

Nothing is pulled (no registry needs to be reachable): the image is imported from a root file
system of empty directories, and the host's Python, its packages and Tessera are bind-mounted
read-only into each container. The engine's API is a `podman system service` of our own on
`<state>/run/podman.sock`, so it uses the same configuration (CONTAINERS_CONF, storage) as the
podman commands run here. The orchestrator follows it with one `[containers]` rule on the
`tessera.app` label; the service's and identity provider's sockets, and nothing else, are in
`<state>/public`, mounted read-only at /run/tessera in each container (docs/containers.md).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tessera
from tessera.up.supervisor import Component

IMAGE = "localhost/tessera-demo:1"
LABEL = "tessera.app"
IN_CONTAINER = "/run/tessera"
APPS = (("alice", "bob"), ("bob", "alice"))  # (application, its peer)
ROOTFS_DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "run", "root", "usr", "lib")
PROBE_TIMEOUT = 120.0
STOP_GRACE = 3  # seconds between SIGTERM and SIGKILL when the demo containers are removed


class ContainerDemoError(RuntimeError):
    """The container demo cannot run here (the message is one line)."""


def container_name(app: str) -> str:
    return f"tessera-demo-{app}"


def _host_mounts() -> list[str]:
    """What a container needs of the host to run this interpreter with Tessera."""
    package_root = str(Path(tessera.__file__).resolve().parents[1])
    paths = {"/usr", "/lib", "/lib64", "/etc/alternatives", sys.prefix, sys.base_prefix}
    paths = {p for p in paths | {package_root} if Path(p).exists()}
    # Nested paths: the outermost is enough.
    kept = sorted(p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths))
    return [f"{p}:{p}:ro" for p in kept]


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
    return lines[-1].strip()[-300:]


@dataclass
class ContainerDemo:
    """The demo's containers, their image and the orchestrator configuration that follows them."""

    state: Path
    podman: str = "podman"
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def public(self) -> Path:
        """The directory of the two sockets the containers get (nothing else in it)."""
        return self.state / "public"

    @property
    def sockets(self) -> tuple[Path, Path]:
        """The service's and the identity provider's sockets, in `public`."""
        return self.public / "parsec.sock", self.public / "identity.sock"

    @property
    def engine_socket(self) -> Path:
        return self.state / "run" / "podman.sock"

    @property
    def config(self) -> Path:
        """The orchestrator's configuration (its `[containers]` section)."""
        return self.state / "containers.toml"

    def engine_component(self, log_path: Path) -> Component:
        """The engine's API service, supervised like the daemons; `--time=0`: never idle out."""
        command = [self.podman, "system", "service", "--time=0", f"unix://{self.engine_socket}"]
        return Component("container engine", [], self.engine_socket, log_path, command=command)

    def prepare(self) -> None:
        """Check podman, import the image if missing, check a container runs, write the
        orchestrator's configuration. ContainerDemoError (one line) where it cannot run."""
        found = shutil.which(self.podman)
        if found is None:
            raise ContainerDemoError("--containers needs podman, which is not installed")
        self.podman = found
        if os.geteuid() != 0:
            raise ContainerDemoError("--containers needs root (rootful podman): run as root")
        self.public.mkdir(mode=0o755, exist_ok=True)
        self.engine_socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._podman("image", "exists", IMAGE).returncode != 0:
            self._import_image()
        probe = self._podman(
            "run", "--rm", *self._run_options(), IMAGE, sys.executable, "-c", "import tessera"
        )
        if probe.returncode != 0:
            raise ContainerDemoError(f"podman cannot run a container here: {_last_line(probe)}")
        self.config.write_text(
            f"""# Written by `tessera up --containers`: follow its engine, one rule for the demo.
[containers]
engine = "unix://{self.engine_socket}"
reconcile_period = 5

[[containers.rule]]
app = "{{label:{LABEL}}}"
image = "{IMAGE.rsplit(":", 1)[0]}:*"
labels = {{ "{LABEL}" = "*" }}
"""
        )

    def start(self, die_with_parent: Callable[[], None] | None = None) -> None:
        """`podman run` each demo application, attached: its output is the demo's."""
        for app, peer in APPS:
            name = container_name(app)
            self.running.append(
                subprocess.Popen(  # noqa: S603 - podman found on PATH, our arguments
                    [
                        self.podman,
                        "run",
                        "--rm",
                        "--replace",  # one left by a `tessera up` killed with -9
                        "--name",
                        name,
                        "--label",
                        f"{LABEL}={app}",
                        *self._run_options(),
                        IMAGE,
                        sys.executable,
                        "-m",
                        "tessera.demo.app",
                        app,
                        peer,
                    ],
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads here
                )
            )
        names = ", ".join(container_name(app) for app, _ in APPS)
        print(f"  containers         {names} (podman ps)", flush=True)

    def stop(self) -> None:
        """Remove the demo's containers (SIGTERM, SIGKILL after a grace period)."""
        if not self.running:
            return
        names = [container_name(app) for app, _ in APPS]
        with contextlib.suppress(ContainerDemoError):
            self._podman("rm", "--force", "--ignore", "--time", str(STOP_GRACE), *names)
        for attached in self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                attached.wait(10)
            if attached.poll() is None:
                attached.kill()
                attached.wait()
        self.running.clear()

    def _run_options(self) -> list[str]:
        package_root = str(Path(tessera.__file__).resolve().parents[1])
        options = ["--network", "none", "--env", f"PYTHONPATH={package_root}"]
        options += ["--env", "PYTHONDONTWRITEBYTECODE=1", "--env", "PYTHONUNBUFFERED=1"]
        options += ["--volume", f"{self.public}:{IN_CONTAINER}:ro"]
        options += ["--env", f"PARSEC_SERVICE_ENDPOINT=unix:{IN_CONTAINER}/parsec.sock"]
        options += ["--env", f"TESSERA_IDENTITY_ENDPOINT=unix:{IN_CONTAINER}/identity.sock"]
        for mount in _host_mounts():
            options += ["--volume", mount]
        return options

    def _import_image(self) -> None:
        """An image of empty directories (mount points); everything else is mounted."""
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as archive:
            for name in ROOTFS_DIRS:
                entry = tarfile.TarInfo(name)
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(entry)
        rootfs = self.state / "demo-rootfs.tar"
        rootfs.write_bytes(data.getvalue())
        result = self._podman("import", str(rootfs), IMAGE)
        rootfs.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ContainerDemoError(f"podman cannot import the demo image: {_last_line(result)}")

    def _podman(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(  # noqa: S603 - podman found on PATH, our arguments
                [self.podman, *args],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ContainerDemoError(f"podman {args[0]} failed: {error}") from None
