"""Parsec's own end-to-end suite (prebuilt, ../shared/interop/) against Tessera's service.

The service is set up as Parsec's CI sets up Parsec for this suite: direct authentication only,
one software provider at id 1, an admin named "root", deprecated primitives allowed (which
brings Parsec's other answers, `parsec_compatible`, with it), an empty key store. Once in
Tessera's schema, once from the configuration file Parsec's own script writes.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.client_support import short_dir
from tests.interop import require, script_config
from tests.support import RunningService, start_service, stop_service

SUITE_TIMEOUT = 600
# What Parsec 1.1.0 itself scores (../shared/interop/README.md).
PARSEC_REFERENCE_PASSED = 148

# One setting, as for Parsec itself: allowing deprecated primitives brings Parsec's other
# answers too (parsec_compatible defaults to it).
TESSERA_CONFIG = """\
[core_settings]
allow_deprecated = true

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


@pytest.fixture(params=["tessera-schema", "parsec-config-file"])
def service(request: pytest.FixtureRequest) -> Iterator[RunningService]:
    require("parsec-e2e")
    with short_dir() as state:
        config = state / "config.toml"
        socket_path = state / "run" / "parsec.sock"
        if request.param == "tessera-schema":
            config.write_text(TESSERA_CONFIG)
        else:
            # The very file the interop script writes for Parsec: a drop-in starts on it too.
            config.write_text(script_config(socket_path, state))
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
