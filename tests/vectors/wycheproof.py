"""The loader for the Wycheproof files under tests/vectors/wycheproof/ (see PROVENANCE.md there).

Every file is Wycheproof's own JSON, unchanged: {"algorithm", "schema", "numberOfTests",
"testGroups": [{...group parameters, "tests": [{"tcId", "result", "flags", ...}]}]}. Each test's
"result" is "valid" (must be accepted, with the right output), "invalid" (must be refused) or
"acceptable" (either, but an accepted one must give the right output).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WYCHEPROOF_DIR = Path(__file__).parent / "wycheproof"


@dataclass(frozen=True)
class Case:
    """One Wycheproof test with the parameters of its group."""

    group: dict[str, Any]
    group_index: int  # the group's position in its file: one key per group
    test: dict[str, Any]

    @property
    def tc_id(self) -> int:
        """The test's number within its file."""
        return int(self.test["tcId"])

    @property
    def result(self) -> str:
        """ "valid", "invalid" or "acceptable"."""
        return str(self.test["result"])

    def hex(self, name: str) -> bytes:
        """A hex field of the test."""
        return bytes.fromhex(self.test[name])


def files() -> list[str]:
    """The stored files' names, without .json."""
    return sorted(p.stem for p in WYCHEPROOF_DIR.glob("*.json"))


def cases(name: str) -> Iterator[Case]:
    """Every test of `<name>.json`; the file must be named in PROVENANCE.md."""
    provenance = (WYCHEPROOF_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    assert f"`{name}.json`" in provenance, f"{name}.json has no provenance"
    document = json.loads((WYCHEPROOF_DIR / f"{name}.json").read_text(encoding="utf-8"))
    for index, group in enumerate(document["testGroups"]):
        parameters = {k: v for k, v in group.items() if k != "tests"}
        for test in group["tests"]:
            yield Case(parameters, index, test)


def declared_count(name: str) -> int:
    """How many tests the file says it holds."""
    document = json.loads((WYCHEPROOF_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return int(document["numberOfTests"])


@dataclass
class Tally:
    """What became of each test of one file: mismatches are collected, not raised one by one."""

    name: str
    mismatches: list[str] = field(default_factory=list)
    by_design: list[int] = field(default_factory=list)  # refused: outside what Tessera admits
    seen: int = 0
    accepted: dict[str, int] = field(default_factory=lambda: {"valid": 0, "acceptable": 0})

    def record(self, case: Case, accepted: bool, right_output: bool = True, note: str = "") -> None:
        """Judge one outcome against the test's expected result."""
        self.seen += 1
        expected = case.result
        if accepted and expected in self.accepted:
            self.accepted[expected] += 1
        if expected == "valid" and not accepted:
            self.mismatches.append(f"tcId {case.tc_id}: valid but refused {note}".rstrip())
        elif expected == "invalid" and accepted:
            self.mismatches.append(f"tcId {case.tc_id}: invalid but accepted")
        elif accepted and not right_output:
            self.mismatches.append(f"tcId {case.tc_id}: accepted with a wrong output")

    def outside(self, case: Case) -> None:
        """A test whose parameters Tessera refuses by design (the caller checked the status)."""
        self.seen += 1
        self.by_design.append(case.tc_id)

    def check(self) -> None:
        """Fail listing every mismatch; every test of the file was run, and some were accepted."""
        assert not self.mismatches, f"{self.name}: " + "; ".join(self.mismatches[:20])
        assert self.seen == declared_count(self.name), f"{self.name}: ran {self.seen} tests"
        assert self.accepted["valid"] > 0, f"{self.name}: no valid test was accepted"
