"""Imports point one way (DESIGN.md §5, docs/development.md "Layout").

Every import statement under src/tessera is read with `ast` (including those under
TYPE_CHECKING and inside functions: a deferred import is still a dependency) and resolved to the
top-level part of Tessera it names. Each part may import only the parts listed for it below.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tessera"

# Modules at the bottom that import nothing of Tessera: anything may import them.
BASE = frozenset({"config", "_paths", "_version", "_extras"})
# `import tessera` / `from tessera import Client`: the client library's public names.
PUBLIC = "tessera"

ALLOWED: dict[str, frozenset[str]] = {
    "config": frozenset(),
    "_paths": frozenset(),
    "_version": frozenset(),
    "_extras": frozenset(),
    "wire": frozenset(),
    "psa": frozenset({"wire"}),
    "trust": BASE | {"wire"},
    "daemon": BASE | {"wire", "trust"},
    "service": BASE | {"wire", "psa", "trust", "daemon"},
    "client": BASE | {"wire", "psa"},
    "identity": BASE | {"wire", "trust", "daemon"},
    # containers/ is the orchestrator's container mode: the two use each other.
    "orchestrator": BASE | {"wire", "trust", "daemon", "containers"},
    "containers": BASE | {"wire", "trust", "daemon", "orchestrator"},
}
TOP = frozenset({"cli", "up", "demo", "__init__"})  # may import anything


def _part_of(path: Path, root: Path = SRC) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


def imported_parts(path: Path, root: Path = SRC) -> Iterator[tuple[int, str]]:
    """(line, top-level part of Tessera) for each import of Tessera in one file."""
    package = list(path.relative_to(root.parent).parts[:-1])  # relative imports start here
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "tessera":
                    yield node.lineno, names[1] if len(names) > 1 else PUBLIC
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names = package[: len(package) - (node.level - 1)] + (
                    node.module.split(".") if node.module else []
                )
            else:
                names = node.module.split(".") if node.module else []
            if not names or names[0] != "tessera":
                continue
            if len(names) > 1:
                yield node.lineno, names[1]
                continue
            for alias in node.names:  # from tessera import wire / from tessera import Client
                named = root / alias.name
                is_part = named.is_dir() or named.with_suffix(".py").is_file()
                yield node.lineno, alias.name if is_part else PUBLIC


def _sources(root: Path = SRC) -> list[Path]:
    return sorted(root.rglob("*.py"))


def violations(root: Path = SRC) -> list[str]:
    """Each import of a part that ALLOWED does not list for the importing part."""
    found = []
    for path in _sources(root):
        part = _part_of(path, root)
        if part in TOP:
            continue
        where = path.relative_to(root)
        assert part in ALLOWED, f"{where}: a new part of Tessera; give it a place in ALLOWED"
        for line, target in imported_parts(path, root):
            if target != part and target not in ALLOWED[part]:
                found.append(f"{where}:{line} ({part}) imports {target}")
    return found


def test_every_part_imports_only_the_layers_below_it() -> None:
    assert violations() == []


def test_the_service_and_the_client_never_import_each_other() -> None:
    for path in _sources():
        part = _part_of(path)
        forbidden = {"service": {"client", PUBLIC}, "client": {"service"}}.get(part, set())
        for line, target in imported_parts(path):
            assert target not in forbidden, f"{path.relative_to(SRC)}:{line} imports {target}"


@pytest.mark.parametrize("folder", ["service/providers", "service/authenticators"])
def test_providers_and_authenticators_know_no_sockets(folder: str) -> None:
    files = sorted((SRC / folder).rglob("*.py"))
    assert files
    for path in files:
        for line, target in imported_parts(path):
            assert target != "daemon", f"{path.relative_to(SRC)}:{line} imports daemon"


def test_trust_stays_below_the_daemons() -> None:
    for path in sorted((SRC / "trust").rglob("*.py")):
        for line, target in imported_parts(path):
            assert target not in {"daemon", "service", "identity", "orchestrator", "client"}, (
                f"{path.relative_to(SRC)}:{line} imports {target}"
            )


def test_the_checker_sees_forbidden_imports(tmp_path: Path) -> None:
    """The rules fail on violations, absolute and relative, and pass what they allow."""
    root = tmp_path / "tessera"
    for folder in ("wire", "psa", "trust", "service/providers"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "wire" / "bad.py").write_text("from tessera.trust import store\nfrom . import status\n")
    (root / "psa" / "bad.py").write_text("import tessera.wire\nfrom ..trust import peer\n")
    (root / "trust" / "bad.py").write_text("def late() -> None:\n    from tessera import Client\n")
    (root / "service" / "providers" / "ok.py").write_text("from ...trust import peer\n")
    assert violations(root) == [
        "psa/bad.py:2 (psa) imports trust",
        "trust/bad.py:2 (trust) imports tessera",
        "wire/bad.py:1 (wire) imports trust",
    ]
