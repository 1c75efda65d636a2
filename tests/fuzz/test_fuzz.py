"""The fuzz targets in the test suite: every corpus input replayed, then a short guided run.

The replay runs each committed input (seeds, inputs long runs added, `crash-*` regressions)
through its target in this process. The short run is atheris itself, in a subprocess, for a
fixed number of inputs from a fixed seed (PYTHONHASHSEED pinned too), so a failure reproduces;
it writes nothing into the repository. Long runs: `scripts/fuzz` (docs/development.md).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.fuzz.run import CORPUS, TARGETS, target_module

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[2]
# Inputs per short run, a few seconds each (the config loaders write a file per input).
SHORT_RUNS = {
    "frames": 20000,
    "dispatch": 5000,
    "tokens": 4000,
    "certificates": 6000,
    "service_config": 2000,
    "identity_config": 2000,
    "orchestrator_config": 2000,
    "manifest": 2000,
}
SEED = 20261202


def test_every_target_has_a_corpus_and_a_short_run() -> None:
    assert set(SHORT_RUNS) == set(TARGETS)
    for target in TARGETS:
        assert any((CORPUS / target).glob("seed-*")), f"{target} has no seeds"


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replays(target: str) -> None:
    one_input = target_module(target).one_input
    for path in sorted((CORPUS / target).iterdir()):
        # As in the guided runs and in production, a warning (cryptography's about odd
        # certificates, for one) is not a failure; the suite's "error" filter would make it one.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                one_input(path.read_bytes())
            except BaseException as error:
                raise AssertionError(f"{path.relative_to(ROOT)}: {error!r}") from error


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("target", TARGETS)
def test_short_guided_run(target: str, tmp_path: Path) -> None:
    found = tmp_path / "found"  # new inputs go here, not into the committed corpus
    found.mkdir()
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        target,
        f"-runs={SHORT_RUNS[target]}",
        f"-seed={SEED}",
        f"-artifact_prefix={tmp_path}/",
        "-max_len=4096",
        "-timeout=60",
        str(found),
        str(CORPUS / target),
    ]
    # Not under coverage (scripts/test measures subprocesses): its tracer would multiply the
    # run's time, and the replay above already measures the targets.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    env["PYTHONHASHSEED"] = "0"
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    log = [line for line in done.stderr.splitlines() if not line.startswith("INFO: Instrumenting")]
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name != "found")
    assert done.returncode == 0 and not crashes, "\n".join([*crashes, *log[-60:]])
