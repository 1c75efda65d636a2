"""Parsec's own end-to-end suite (prebuilt, ../shared/interop/) against Tessera's service.

The service is set up as Parsec's CI sets up Parsec for this suite: direct authentication only,
one software provider at id 1, an admin named "root", deprecated primitives allowed, Parsec's
answers where Tessera is otherwise stricter (`parsec_compatible`), an empty key store. Once in
Tessera's schema, once from Parsec's own configuration file.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.client_support import short_dir
from tests.interop import require
from tests.support import RunningService, start_service, stop_service

SUITE_TIMEOUT = 600
# What Parsec 1.1.0 itself scores (../shared/interop/README.md).
PARSEC_REFERENCE_PASSED = 148

TESSERA_CONFIG = """\
[core_settings]
allow_deprecated = true
parsec_compatible = true

[authenticator]
auth_types = ["direct"]
admins = [{ name = "root" }]

[[provider]]
provider_type = "software"
provider_id = 1
"""


def run_suite(socket_path: Path, *args: str) -> tuple[dict[str, int], str]:
    """Run parsec-e2e against a socket; the counts of its last result line, and its output."""
    suite = require("parsec-e2e")
    env = {**os.environ, "PARSEC_SERVICE_ENDPOINT": f"unix:{socket_path}"}
    completed = subprocess.run(
        [os.fspath(suite), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )
    output = completed.stdout + completed.stderr
    results = re.findall(r"test result: \w+\. (.*)", output)
    assert results, f"the suite printed no result:\n{output[-4000:]}"
    counts = {name: int(number) for number, name in re.findall(r"(\d+) (\w+)", results[-1])}
    return counts, output


def failures(output: str) -> list[str]:
    """The names of the tests the suite reported as failed."""
    return re.findall(r"^test (\S+) \.\.\. FAILED", output, re.MULTILINE)


# Parsec's own configuration file, as ../shared/interop/parsec-service writes it for the suite
# (the socket path filled in): a drop-in must start on it and pass the suite the same.
PARSEC_CONFIG = """\
[core_settings]
allow_root = true
allow_deprecated = true
log_level = "warn"
log_error_details = true
idle_listener_sleep_duration = 10

[listener]
listener_type = "DomainSocket"
timeout = 3000
socket_path = "{socket}"

[authenticator]
auth_type = "Direct"
admins = [ {{ name = "root" }} ]

[[key_manager]]
name = "sqlite-manager"
manager_type = "SQLite"
store_path = "{state}/kim-mappings.sqlite3"

[[provider]]
provider_type = "MbedCrypto"
key_info_manager = "sqlite-manager"
"""


@pytest.fixture(params=["tessera-schema", "parsec-config-file"])
def service(request: pytest.FixtureRequest) -> Iterator[RunningService]:
    require("parsec-e2e")
    with short_dir() as state:
        config = state / "config.toml"
        socket_path = state / "run" / "parsec.sock"
        if request.param == "tessera-schema":
            config.write_text(TESSERA_CONFIG)
        else:
            config.write_text(PARSEC_CONFIG.format(socket=socket_path, state=state))
        running = start_service(state, config=config, socket_path=socket_path)
        try:
            yield running
        finally:
            stop_service(running)


def test_parsec_normal_tests_all_pass(service: RunningService) -> None:
    counts, output = run_suite(service.socket_path, "normal_tests", "--test-threads=2")
    assert counts["failed"] == 0, f"failed: {failures(output)}\n{output[-6000:]}"
    assert counts["passed"] == PARSEC_REFERENCE_PASSED
    assert service.alive()


def test_parsec_stress_test_passes(service: RunningService) -> None:
    counts, output = run_suite(service.socket_path, "stress_test")
    assert counts == {**counts, "passed": 1, "failed": 0}, output[-4000:]
    assert service.alive()
