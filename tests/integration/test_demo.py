"""`tessera up` on its defaults: the demo's two applications and their isolation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def test_the_demo_shows_isolation() -> None:
    state = Path(tempfile.mkdtemp(prefix="ts-demo-", dir="/tmp"))
    output = state / "up.out"
    with output.open("w") as sink:
        up = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tessera.cli.main",
                "up",
                "--allow-root",
                "--state-dir",
                str(state),
                "--heartbeat",
                "0.3",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    expected = [
        "[alice] bob's key 'bob-only' does not exist for me",
        "[bob] alice's key 'alice-only' does not exist for me",
        "[alice] exporting my AES key is refused",
        "[bob] exporting my AES key is refused",
        "[alice] encrypted and decrypted: 'a note from alice'",
        "[bob] signed and verified round 0",
    ]
    try:
        text = wait_for_demo(output, up, expected, timeout=60)
        assert f"unix:{state}/run/parsec.sock" in text
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            assert up.wait(60) == 0
        finally:
            if up.poll() is None:
                os.killpg(up.pid, signal.SIGKILL)
    assert "tessera up: stopped" in output.read_text()


def wait_for_demo(
    output: Path, up: subprocess.Popen[bytes], expected: list[str], *, timeout: float
) -> str:
    """The output of `tessera up` running the demo, once every expected line is in it: no
    UNEXPECTED outcome, and the two applications' keys of the same name are two keys."""
    deadline = time.monotonic() + timeout
    while not all(line in output.read_text() for line in expected):
        assert up.poll() is None, output.read_text()
        assert time.monotonic() < deadline, output.read_text()
        time.sleep(0.1)
    text = output.read_text()
    assert "UNEXPECTED" not in text
    fingerprints = {
        line.rsplit(" ", 1)[1]
        for line in text.splitlines()
        if "'demo-signing' has public key fingerprint" in line
    }
    assert len(fingerprints) == 2
    return text
