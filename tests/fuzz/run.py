"""Run one fuzz target under atheris (libFuzzer, coverage-guided).

    python -m tests.fuzz.run TARGET [libFuzzer options] [corpus directories]

Run from the repository root. Tessera, tomllib and PyJWT are instrumented for coverage; the
target's dictionary (its `TOKENS`) is passed with `-dict=` unless one is given, and its
structure-aware mutator (`mutate`) when it has one. `scripts/fuzz` wraps this for long runs;
the test suite runs it briefly (tests/fuzz/test_fuzz.py).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from tests.fuzz._scratch import private_root

TARGETS = (
    "frames",
    "dispatch",
    "tokens",
    "certificates",
    "service_config",
    "identity_config",
    "orchestrator_config",
    "manifest",
)
CORPUS = Path(__file__).parent / "corpus"
# Coverage comes from Tessera and the parsers it hands untrusted bytes to (TOML, PyJWT);
# instrumenting everything imported would cost seconds at every start.
INSTRUMENTED = ["tessera", "tomllib", "jwt"]


def target_module(name: str) -> ModuleType:
    """The module of a target (`tests.fuzz.fuzz_NAME`)."""
    if name not in TARGETS:
        raise SystemExit(f"unknown fuzz target {name!r}; targets: {', '.join(TARGETS)}")
    return importlib.import_module(f"tests.fuzz.fuzz_{name}")


def dictionary(tokens: tuple[bytes, ...]) -> str:
    """libFuzzer's dictionary format: one quoted, escaped token per line."""
    lines = []
    for token in dict.fromkeys(tokens):
        escaped = "".join(
            chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in token
        )
        lines.append(f'"{escaped}"')
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    import atheris

    name, options = argv[1], argv[2:]
    with atheris.instrument_imports(include=INSTRUMENTED):
        module = target_module(name)
    scratch = private_root()
    if not any(option.startswith("-dict=") for option in options):
        path = scratch / f"{name}.dict"
        path.write_text(dictionary(module.TOKENS))
        options.append(f"-dict={path}")
    # libFuzzer re-runs argv[0] with its options for -merge, -fork and -jobs: an executable
    # that comes back here, with the target.
    program = scratch / name
    root = Path(__file__).resolve().parents[2]
    program.write_text(
        f'#!/bin/sh\ncd "{root}" && exec "{sys.executable}" -m tests.fuzz.run {name} "$@"\n'
    )
    program.chmod(0o755)
    custom = getattr(module, "mutate", None)  # a structure-aware mutator, if the target has one
    if custom is None:
        atheris.Setup([str(program), *options], module.one_input)
    else:

        def mutate(data: bytes, max_size: int, seed: int) -> bytes:
            return bytes(custom(data, max_size, seed, atheris.Mutate))

        atheris.Setup([str(program), *options], module.one_input, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
