"""A real podman for tests, isolated from the host's: its own storage, configuration and API.

Nothing is pulled (no registry is reachable): the image is imported from a root filesystem of
empty directories, and the host's Python, its libraries and this repository are bind-mounted
read-only into every container (containers.conf `volumes`), so the containers run the client
library the tests use. The settings that make podman run on these machines (runc, cgroupfs,
file events, ulimits that need no CAP_SYS_RESOURCE) live in the containers.conf this owns.

`Podman.start()` raises `NoPodmanError` with the reason when podman is absent or cannot run a
container here: the tests skip with it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/tessera-test"
ROOTFS_DIRS = ("bin", "dev", "etc", "proc", "sys", "tmp", "run", "root", "apps", "usr", "lib")


class NoPodmanError(RuntimeError):
    """Podman cannot run containers here (the reason is the message)."""


def _host_mounts() -> list[str]:
    """What the containers need of the host to run this Python with its packages."""
    paths = {"/usr", "/lib", "/lib64", str(REPO), sys.prefix, sys.base_prefix, "/etc/alternatives"}
    paths = {p for p in paths if Path(p).exists()}
    # Nested paths: the outermost is enough.
    kept = sorted(p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths))
    return [f"{p}:{p}:ro" for p in kept]


@dataclass
class Podman:
    """One isolated podman: `run()` its CLI, `api` its Docker-compatible socket."""

    base: Path
    service: subprocess.Popen[bytes] | None = None
    images: dict[str, str] = field(default_factory=dict)  # tag -> image id (digest)

    @property
    def api(self) -> Path:
        return self.base / "api.sock"

    @property
    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            CONTAINERS_CONF=str(self.base / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(self.base / "storage.conf"),
        )

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """`podman ARGS`; its standard output (NoPodmanError with its last error line if it
        fails and `check`)."""
        result = self.completed(*args, timeout=timeout)
        if check and result.returncode != 0:
            raise NoPodmanError(f"podman {args[0]} failed: {last_line(result)}")
        return result.stdout.strip()

    def completed(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`podman ARGS`, whatever its exit status."""
        return subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        """Configure, import the image, check a container runs, start the API service."""
        if shutil.which("podman") is None:
            raise NoPodmanError("podman is not installed (scripts/bootstrap installs it as root)")
        if os.geteuid() != 0:
            raise NoPodmanError("the container tests need root (rootful podman)")
        self._configure()
        self.build("1")
        probe = self.completed("run", "--rm", f"{IMAGE}:1", sys.executable, "-c", "print('ok')")
        if probe.returncode != 0 or probe.stdout.strip() != "ok":
            raise NoPodmanError(f"podman cannot run a container here: {last_line(probe)}")
        self.start_api()

    def start_api(self) -> None:
        """Start `podman system service` on `api` (again) and wait until it answers."""
        with (self.base / "api.log").open("ab") as log:
            self.service = subprocess.Popen(
                ["podman", "system", "service", "--time=0", f"unix://{self.api}"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe_socket:
                probe_socket.connect(str(self.api))
                return
            time.sleep(0.05)
        raise NoPodmanError("podman system service did not start")

    def build(self, tag: str) -> str:
        """Import an image of empty directories (plus a file naming `tag`, so every tag has its
        own digest); its image id."""
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as archive:
            for name in ROOTFS_DIRS:
                entry = tarfile.TarInfo(name)
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(entry)
            content = f"tessera test image {tag}\n".encode()
            entry = tarfile.TarInfo("etc/tessera-test-image")
            entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content))
        rootfs = self.base / f"rootfs-{tag}.tar"
        rootfs.write_bytes(data.getvalue())
        self.run("import", str(rootfs), f"{IMAGE}:{tag}")
        image_id = self.run("image", "inspect", "--format", "{{.Id}}", f"{IMAGE}:{tag}")
        self.images[tag] = f"sha256:{image_id.removeprefix('sha256:')}"
        return self.images[tag]

    def inspect(self, name: str) -> dict[str, object]:
        document = json.loads(self.run("container", "inspect", name))
        assert isinstance(document, list) and document
        result: dict[str, object] = document[0]
        return result

    def stop(self) -> None:
        """Remove every container, stop the API service, unmount what podman mounted."""
        with contextlib.suppress(Exception):
            self.run("rm", "--all", "--force", "--time", "0", check=False)
        if self.service is not None and self.service.poll() is None:
            self.service.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.service.wait(timeout=10)
            if self.service.poll() is None:
                self.service.kill()
                self.service.wait()
        with contextlib.suppress(Exception):
            self.run("system", "reset", "--force", check=False)

    def _configure(self) -> None:
        volumes = ", ".join(json.dumps(m) for m in _host_mounts())
        (self.base / "containers.conf").write_text(
            f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
ipcns = "private"
volumes = [{volumes}]
env = ["PYTHONPATH={REPO}/src:{REPO}", "PYTHONDONTWRITEBYTECODE=1"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{self.base}/events.log"
runtime = "runc"
tmp_dir = "{self.base}/tmp"
"""
        )
        (self.base / "storage.conf").write_text(
            f"""[storage]
driver = "vfs"
runroot = "{self.base}/run"
graphroot = "{self.base}/root"
"""
        )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last line a failed command wrote (its error, as podman prints it)."""
    lines = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
    return lines[-1][-300:]
