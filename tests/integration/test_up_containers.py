"""`tessera up --containers`: the demo's two applications as podman containers, isolated as
processes are. Real podman, configured for these machines by podman_support.py (through the
CONTAINERS_CONF and CONTAINERS_STORAGE_CONF variables `tessera up`'s podman inherits); skipped,
with the reason, where podman cannot run a container."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.integration.client_support import short_dir
from tests.integration.podman_support import NoPodmanError, Podman
from tests.integration.test_demo import wait_for_demo

pytestmark = pytest.mark.integration

UP = [sys.executable, "-m", "tessera.cli.main", "up", "--allow-root", "--containers"]
EXPECTED = [
    "[alice] bob's key 'bob-only' does not exist for me",
    "[bob] alice's key 'alice-only' does not exist for me",
    "[alice] exporting my AES key is refused",
    "[bob] exporting my AES key is refused",
    "[bob] encrypted and decrypted: 'a note from bob'",
    "[alice] signed and verified round 0",
]


def test_without_podman_it_fails_with_one_line() -> None:
    with short_dir() as state:
        result = subprocess.run(
            [*UP, "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=dict(os.environ, PATH=str(state)),  # no podman there
        )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "tessera: --containers needs podman, which is not installed"
    ]


def test_the_demo_in_containers_shows_isolation() -> None:
    base = Path(tempfile.mkdtemp(prefix="ts-upc-", dir="/tmp"))
    podman = Podman(base / "podman")
    podman.base.mkdir()
    try:
        podman.start()
    except NoPodmanError as error:
        podman.stop()
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(str(error))
    state = base / "state"
    output = base / "up.out"
    with output.open("w") as sink:
        up = subprocess.Popen(
            [*UP, "--state-dir", str(state), "--heartbeat", "0.3"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=podman.env,
        )
    try:
        wait_for_demo(output, up, EXPECTED, timeout=90)
        # Each container got its own identity from its label, through the engine.
        log = (state / "logs" / "orchestrator.log").read_text()
        for app in ("alice", "bob"):
            pattern = rf"container tessera-demo-{app} \(\w+\) is spiffe://tessera\.local/{app}\b"
            assert re.search(pattern, log), log[-3000:]
        labels = podman.run("ps", "--format", "{{.Names}} {{.Labels}}")
        assert "tessera-demo-alice" in labels and "tessera.app:alice" in labels, labels
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
        left = podman.run("ps", "--all", "--format", "{{.Names}}", check=False)
        podman.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(base)
    assert up.returncode == 0, output.read_text()
    assert "tessera-demo" not in left  # `tessera up` removed the containers it started
