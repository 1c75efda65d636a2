"""`pip install` of the built wheel: a fresh virtual environment gets the `tessera` command and the
runtime dependencies, not the developer tools nor the optional extras.

Builds the wheel and installs it with its dependencies from the package index pip is configured
with (about half a minute); skipped, saying so, where no index answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_SIGNS = ("No matching distribution", "Could not find a version", "NewConnectionError")


def run(*command: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what is installed
    return subprocess.run(
        [str(word) for word in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd="/",
        check=False,
    )


def test_the_wheel_installs_the_command_and_only_what_running_needs(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves build/ and *.egg-info where it builds.
    tree = tmp_path / "tree"
    ignored = shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", ".*cache", "__pycache__"
    )
    shutil.copytree(ROOT, tree, ignore=ignored)
    built = run(sys.executable, "-m", "pip", "wheel", tree, "--no-deps", "-w", tmp_path / "whl")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "whl").glob("tessera_keys-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--disable-pip-version-check", wheel)
    if installed.returncode != 0 and any(s in installed.stderr for s in OFFLINE_SIGNS):
        pytest.skip(f"no package index reachable: {installed.stderr.strip().splitlines()[-1]}")
    assert installed.returncode == 0, installed.stderr

    version = run(tmp_path / "venv" / "bin" / "tessera", "--version")
    assert (version.returncode, version.stdout) == (0, "tessera 0.1.0\n")
    listed = run(python, "-m", "pip", "list", "--format=freeze")
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert {"tessera-keys", "cryptography", "protobuf", "pyjwt"} <= names
    assert not names & {"python-pkcs11", "tpm2-pytss", "grpclib", "pytest", "mypy", "ruff"}
    # The generated protobuf modules and the demo's manifest came along.
    probe = (
        "import tessera.wire.proto.ping_pb2, importlib.resources as r;"
        "print(r.files('tessera.demo').joinpath('manifest.toml').is_file())"
    )
    demo = run(python, "-c", probe)
    assert demo.stdout == "True\n", demo.stderr
    unreachable = run(
        tmp_path / "venv" / "bin" / "tessera", "--endpoint", tmp_path / "no.sock", "ping"
    )
    assert unreachable.returncode == 11 and unreachable.stderr.count("\n") == 1
