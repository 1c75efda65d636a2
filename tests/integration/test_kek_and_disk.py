"""Operator tasks on the key store: rotating the KEK with the CLI; freeing space on a full disk."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.client.specs import ECDSA_P256
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_destroy_key_pb2, psa_export_public_key_pb2
from tests.support import RunningService, direct, request_bytes, running_service


def tessera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def public_key(service: RunningService, name: str) -> bytes:
    body = psa_export_public_key_pb2.Operation(key_name=name)
    response = service.call(
        request_bytes(Opcode.PSA_EXPORT_PUBLIC_KEY, body, provider=1, **direct("alice"))
    )
    assert response.header.status == 0
    return bytes(response.body)


def test_rotate_kek_with_the_cli(short_tmp: Path) -> None:
    args = ("--auth", "direct")
    with running_service(short_tmp, *args) as service:
        service.generate_key("a", ECDSA_P256.attributes(), direct("alice"))
        service.generate_key("b", ECDSA_P256.attributes(), direct("alice"))
        before = public_key(service, "a")
        socket = str(service.socket_path)
        refused = tessera(
            "service",
            "rotate-kek",
            "--allow-root",
            "--state-dir",
            str(short_tmp),
            "--socket",
            socket,
        )
        assert refused.returncode == 3 and "stop it before rotating" in refused.stderr
    old_kek = (short_tmp / "kek").read_bytes()
    rotated = tessera(
        "service", "rotate-kek", "--allow-root", "--state-dir", str(short_tmp), "--socket", socket
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "2 keys re-wrapped" in rotated.stdout
    assert (short_tmp / "kek").read_bytes() != old_kek
    with running_service(short_tmp, *args) as service:
        assert public_key(service, "a") == before


@contextlib.contextmanager
def small_filesystem(size: str) -> Iterator[Path]:
    """A tmpfs of `size` (root only), unmounted afterwards."""
    mount_point = Path(os.environ.get("TMPDIR", "/tmp")) / f"ts-full-{os.getpid()}"
    mount_point.mkdir(mode=0o700)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip("cannot mount a tmpfs here (root in a privileged environment needed)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        shutil.rmtree(mount_point, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small filesystem")
def test_keys_can_be_destroyed_when_the_disk_is_full() -> None:
    with small_filesystem("8m") as state:
        config = state / "config.toml"
        config.write_text("[audit]\nenabled = false\n")
        with running_service(state, "--auth", "direct", config=config) as service:
            for i in range(5):
                service.generate_key(f"k{i}", ECDSA_P256.attributes(), direct("alice"))
            filler = state / "filler"
            with filler.open("wb") as handle, contextlib.suppress(OSError):
                while True:
                    handle.write(bytes(1 << 16))
                    handle.flush()
            body = psa_destroy_key_pb2.Operation(key_name="k0")
            destroyed = service.call(
                request_bytes(Opcode.PSA_DESTROY_KEY, body, provider=1, **direct("alice"))
            )
            assert destroyed.header.status == 0, destroyed.header.status
            filler.unlink()
