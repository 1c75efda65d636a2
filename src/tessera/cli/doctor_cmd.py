"""`tessera doctor`: check a deployment, one line per finding, OK/WARN/FAIL/SKIP and why.

The checks live in `_doctor` (where to look) and `_doctor_checks` (what to look at), imported
when the command runs: every other command starts without them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tessera.cli._commands import add_command


def register(commands: Any) -> None:
    """Add the `doctor` sub-command."""
    parser = add_command(
        commands,
        "doctor",
        "Check a Tessera deployment and print one line per finding: OK, WARN, FAIL "
        "or SKIP (not checkable from here), and why. The daemons are found from --config-dir "
        "(a system deployment: service.toml, identity.toml, orchestrator.toml), else from "
        "--state-dir (tessera up's), else /etc/tessera when it exists, else the default state "
        "directory. --endpoint names the service socket. Exit status 0 when nothing fails, 4 "
        "when something does.",
        [
            "tessera doctor",
            "tessera doctor --state-dir ~/.local/state/tessera --json",
            "sudo tessera doctor --config-dir /etc/tessera",
        ],
    )
    parser.add_argument("--config-dir", type=Path, help="where the daemons' config files are")
    parser.add_argument("--state-dir", type=Path, help="the state directory tessera up uses")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object"
    )
    parser.set_defaults(run=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Run the checks and print them; exit status 4 when one failed."""
    from tessera.cli._doctor import run

    return run(args)
