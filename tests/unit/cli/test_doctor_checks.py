"""`tessera doctor`'s checks that need no daemon: modes of real sockets and directories, the
hardware providers' backends. (Against running daemons: tests/integration/test_doctor.py.)"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.cli._doctor_backends import backend
from tessera.cli._doctor_checks import FAIL, OK, WARN, clock, socket_permissions, state_directory
from tessera.service.config import ProviderConfig
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.service.providers.tpm.config import TpmSettings


@pytest.fixture
def bound(short_tmp: Path) -> Iterator[Path]:
    """A socket file (nobody needs to listen: the check reads modes only)."""
    directory = short_tmp / "run"
    directory.mkdir(mode=0o700)
    path = directory / "s.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(os.fspath(path))
        path.chmod(0o600)
        yield path


def test_a_private_socket_is_ok(bound: Path) -> None:
    check = socket_permissions("service socket", bound)
    assert check.level == OK, check
    assert check.facts["mode"] == "0o600" and check.facts["directory_mode"] == "0o700"


def test_a_directory_others_may_write_is_a_failure(bound: Path) -> None:
    bound.parent.chmod(0o777)
    check = socket_permissions("service socket", bound)
    assert check.level == FAIL and "others may replace the socket" in check.reason


def test_a_sticky_shared_directory_is_a_warning(bound: Path) -> None:
    bound.parent.chmod(0o1777)
    assert socket_permissions("service socket", bound).level == WARN


def test_a_socket_every_user_may_use_is_a_warning(bound: Path) -> None:
    bound.chmod(0o666)
    bound.parent.chmod(0o755)
    check = socket_permissions("service socket", bound)
    assert check.level == WARN and "every local user may connect" in check.reason


def test_a_missing_socket_says_so(short_tmp: Path) -> None:
    check = socket_permissions("service socket", short_tmp / "none.sock")
    assert check.level == FAIL and "is the daemon running?" in check.reason


def test_state_directory_and_its_secrets(short_tmp: Path) -> None:
    state = short_tmp / "state"
    state.mkdir(mode=0o700)
    (state / "kek").write_bytes(b"k" * 32)
    (state / "kek").chmod(0o600)
    assert state_directory("state", state, ("kek",)).level == OK
    (state / "kek").chmod(0o640)
    check = state_directory("state", state, ("kek",))
    assert check.level == FAIL and "chmod 600" in check.reason
    (state / "kek").chmod(0o600)
    state.chmod(0o770)
    assert state_directory("state", state, ("kek",)).level == FAIL
    assert state_directory("state", short_tmp / "none").level == WARN


def test_a_missing_tpm_device_fails_unless_it_may_be_skipped() -> None:
    tpm = TpmSettings(tcti="device:/dev/tessera-no-such-tpm")
    check = backend(ProviderConfig("tpm", 3, "tpm", tpm))
    assert check is not None and check.level == FAIL
    optional = TpmSettings(tcti="device:/dev/tessera-no-such-tpm", skip_if_no_tpm=True)
    check = backend(ProviderConfig("tpm", 3, "tpm", optional))
    assert check is not None and check.level == WARN


def test_a_tpm_simulator_nobody_serves_is_a_failure() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tpm = TpmSettings(tcti=f"swtpm:host=127.0.0.1,port={port}")
    check = backend(ProviderConfig("tpm", 3, "tpm", tpm))
    assert check is not None and check.level == FAIL


def test_a_missing_pkcs11_library_is_a_failure(short_tmp: Path) -> None:
    settings = Pkcs11Settings(library_path=short_tmp / "libnone.so", token_label="t")
    check = backend(ProviderConfig("pkcs11", 2, "pkcs11", settings))
    assert check is not None and check.level == FAIL and "no PKCS#11 library" in check.reason


def test_the_software_provider_has_no_backend_to_check() -> None:
    assert backend(ProviderConfig("software", 1, "software")) is None


def test_the_clock_is_not_behind_a_socket_made_just_now(bound: Path) -> None:
    assert clock([bound]).level in (OK, WARN)  # WARN: not synchronised, on some machines
    assert "set back" not in clock([bound]).reason
