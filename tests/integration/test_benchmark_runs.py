"""The load generator keeps working (it measures nothing here: benchmarks are not tests)."""

from __future__ import annotations

import os

from benchmarks.load import run


def test_every_scenario_completes_operations() -> None:
    results = run(seconds=0.2, clients=2)
    names = {r.scenario for r in results}
    assert {"ping/conn", "ping/keepalive", "sign/conn", "sign/keepalive"} <= names
    assert {"ping/in-process", "sign/in-process", "sign/cryptography"} <= names
    assert all(r.operations > 0 for r in results)
    assert all(
        r.ratio_to_in_process is not None
        for r in results
        if "/in-" not in r.scenario and r.scenario != "sign/cryptography"
    )


def test_fairness_scenario_completes() -> None:
    from benchmarks.fairness import run_fairness

    result = run_fairness(seconds=0.3, flooders=1, rsa_bits=2048)
    assert result.alone.operations > 0
    assert result.flooded.operations > 0


def test_side_by_side_comparison_completes() -> None:
    from benchmarks.compare import goals, measure

    report = measure(seconds=0.2, keys=40)
    tessera_runs = [run for run in report.runs if run.scenario.startswith("tessera ")]
    assert len(tessera_runs) == 7
    assert [run.scenario for run in report.runs if run.scenario.startswith("tessera-1-")] == [
        "tessera-1-worker sign 4c/conn"
    ]
    assert all(run.operations > 0 and run.failures == 0 for run in report.runs)
    ceiling = [run.scenario for run in report.runs if run.scenario.startswith("ceiling-")]
    kinds = ("1c/conn", "4c/conn", "1c/keepalive")
    signs = [f"ceiling-{n}p sign {kind}" for n in (1, 2) for kind in kinds]
    assert ceiling == [*signs, "ceiling-2p ping 4c/conn"]
    assert report.figures["tessera keys"] == 40
    assert report.figures["tessera workers"] == len(os.sched_getaffinity(0))
    rows = goals(report)
    assert len(rows) == 13  # the service's 10, and the CLI's for ping, list-keys, sign
    # The ceiling is read beside the goals it bounds: throughput (ping's too), latency, scaling.
    assert sum(1 for row in rows if row[3]) == 6
    cli = {name for name in report.figures if name.startswith("cli ")}
    assert cli == {
        "cli python -c pass ms",
        "cli tessera ping ms",
        "cli tessera list-keys ms",
        "cli tessera sign ms",
    }


def test_both_accept_models_serve() -> None:
    from pathlib import Path
    from tempfile import TemporaryDirectory

    from benchmarks.accept_models import handover, shared_accept

    with TemporaryDirectory(dir="/tmp") as base:
        for model in (shared_accept, handover):
            measured = model(Path(base), 2, 0.3, 2)
            assert measured.per_second > 0 and measured.failures == 0
