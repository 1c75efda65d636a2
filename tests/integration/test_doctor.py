"""Issue 10 (operators): `tessera doctor` against real daemons on temporary sockets.

A healthy system (service, identity provider, orchestrator, trust shared all the way) passes;
a socket directory others may write to, a key-encryption key others may read, and an identity
provider that is down are each reported as FAIL with the reason, and the exit status says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    RunningService,
    start_identity,
    start_orchestrator,
    start_service,
    stop_service,
)


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", "--json", "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def levels(report: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["level"] for c in report["checks"]}


def reasons(report: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["reason"] for c in report["checks"]}


@pytest.fixture
def system(short_tmp: Path) -> Iterator[tuple[Path, dict[str, RunningService]]]:
    """The three daemons on one state directory, as `tessera up` lays them out."""
    state = short_tmp
    running: dict[str, RunningService] = {}
    try:
        running["service"] = start_service(state)
        service_socket = running["service"].socket_path
        running["identity"] = start_identity(state, service_socket, "--heartbeat", "0.2")
        running["orchestrator"] = start_orchestrator(
            state,
            service_socket=service_socket,
            identity_socket=running["identity"].socket_path,
        )
        yield state, running
    finally:
        for daemon in reversed(running.values()):
            stop_service(daemon)


def healthy(state: Path, timeout: float = 30.0) -> dict[str, Any]:
    """The report once trust has been shared all the way (it takes a heartbeat or two)."""
    deadline = time.monotonic() + timeout
    while True:
        code, report = doctor("--state-dir", os.fspath(state))
        if code == 0 or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


def test_a_healthy_system_passes(system: tuple[Path, dict[str, RunningService]]) -> None:
    state, _ = system
    report = healthy(state)
    assert report["ok"], report
    found = levels(report)
    for check in ("service socket", "service", "authenticators", "provider 1", "identity socket"):
        assert found[check] == "OK", report
    for check in ("identity provider", "service trust", "identity trust", "orchestrator"):
        assert found[check] == "OK", report
    assert found["state directory"] == "OK"
    assert found["clock"] in ("OK", "WARN")  # WARN: this machine's clock is not synchronised
    assert "FAIL" not in found.values()


def test_unsafe_permissions_are_failures_with_their_fix(
    system: tuple[Path, dict[str, RunningService]],
) -> None:
    state, _ = system
    assert healthy(state)["ok"]
    run = state / "run"
    run.chmod(0o777)  # anyone could now replace the sockets
    (state / "kek").chmod(0o644)
    try:
        code, report = doctor("--state-dir", os.fspath(state))
    finally:
        run.chmod(0o700)
        (state / "kek").chmod(0o600)
    assert code == 4 and not report["ok"]
    found, why = levels(report), reasons(report)
    assert found["service socket"] == "FAIL"
    assert "others may replace the socket" in why["service socket"]
    assert found["state directory"] == "FAIL"
    assert "chmod 600" in why["state directory"]
    assert found["service"] == "OK"  # it still answers: the finding is the permissions


def test_an_identity_provider_that_is_down_is_reported(
    system: tuple[Path, dict[str, RunningService]],
) -> None:
    state, running = system
    assert healthy(state)["ok"]
    stop_service(running["identity"])
    code, report = doctor("--state-dir", os.fspath(state))
    assert code == 4
    found, why = levels(report), reasons(report)
    assert found["identity socket"] == "FAIL"
    assert "is the daemon running?" in why["identity socket"]
    assert found["identity provider"] == "FAIL"
    assert found["service"] == "OK"


def test_text_output_is_one_line_per_check(
    system: tuple[Path, dict[str, RunningService]],
) -> None:
    state, running = system
    stop_service(running["service"])  # nothing answers on the service socket now
    result = subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", "doctor", "--state-dir", os.fspath(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 4
    lines = result.stdout.splitlines()[1:]
    assert lines and all(line.split()[0] in ("OK", "WARN", "FAIL", "SKIP") for line in lines)
    assert any(line.startswith("FAIL") and "service" in line for line in lines)


def test_configured_providers_and_their_backends_are_checked(short_tmp: Path) -> None:
    """A system deployment's view (--config-dir): the PKCS#11 token the service uses is found,
    and a TPM device that is not there is a failure before the service is even asked."""
    from tests.integration.pkcs11_support import make_token

    token = make_token(short_tmp / "hsm")
    state = short_tmp / "state"
    configs = short_tmp / "etc"
    configs.mkdir()
    socket_path = state / "run" / "parsec.sock"
    settings = f"""
[core_settings]
state_dir = "{state}"
[listener]
socket_path = "{socket_path}"
[authenticator]
auth_types = ["unix-peer"]
"""
    (configs / "service.toml").write_text(settings + token.provider_table(provider_id=2))
    service = start_service(state, config=configs / "service.toml", env=token.env)
    try:
        # The doctor sees the tokens the service sees (SoftHSM2's config).
        code, report = doctor("--config-dir", os.fspath(configs), env=token.env)
    finally:
        stop_service(service)
    found, why = levels(report), reasons(report)
    assert code == 0, report
    assert found["service config"] == "OK"
    assert found["provider 2 (pkcs11)"] == "OK"
    assert found["provider 2 backend"] == "OK"
    assert "token 'tessera' present" in why["provider 2 backend"]
    assert found["identity provider"] == "SKIP"  # not deployed, and the service takes no tokens

    tpm = '[[provider]]\nprovider_type = "tpm"\ntcti = "device:/dev/tessera-no-such-tpm"\n'
    (configs / "service.toml").write_text(settings + tpm)
    code, report = doctor("--config-dir", os.fspath(configs))
    assert code == 4
    assert levels(report)["provider 3 backend"] == "FAIL"
    assert "no TPM device /dev/tessera-no-such-tpm" in reasons(report)["provider 3 backend"]


def test_the_exported_endpoint_is_what_is_examined(
    system: tuple[Path, dict[str, RunningService]],
) -> None:
    # As the README says: export PARSEC_SERVICE_ENDPOINT, then run commands without flags.
    state, running = system
    env = os.environ | {"PARSEC_SERVICE_ENDPOINT": f"unix:{running['service'].socket_path}"}
    deadline = time.monotonic() + 30
    while True:
        code, report = doctor(env=env)
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code == 0, report
    assert levels(report)["identity provider"] == "OK"
    assert os.fspath(state) in json.dumps(report)


def test_a_user_who_may_not_look_gets_findings_not_a_traceback(
    system: tuple[Path, dict[str, RunningService]],
) -> None:
    _, running = system
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run doctor as another user")
    env = os.environ | {
        "PARSEC_SERVICE_ENDPOINT": f"unix:{running['service'].socket_path}",
        "PYTHONPATH": os.pathsep.join(sys.path),
        "HOME": "/nonexistent",
    }
    as_nobody = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    done = subprocess.run(
        [*as_nobody, sys.executable, "-m", "tessera.cli.main", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 4 and "FAIL" in done.stdout, (done.stdout, done.stderr)


def test_an_endpoint_that_is_not_a_socket_uri_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", "--endpoint", "tcp://x", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "not a unix: URI" in done.stderr
