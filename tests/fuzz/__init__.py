"""Coverage-guided fuzz targets (atheris) and their corpora; docs/development.md, "Fuzzing".

- `fuzz_NAME.py`: one target each, `one_input(data: bytes)` raising on a broken property, plus
  its dictionary (`TOKENS`) and, for some, a structure-aware mutator (`mutate`). No target
  imports atheris: the test suite replays corpora without it.
- `run.py`: the atheris driver (`python -m tests.fuzz.run TARGET [libFuzzer options]`);
  `scripts/fuzz` wraps it for long runs.
- `seed.py`: rebuilds the `seed-*` inputs of `corpus/NAME/` from real inputs.
- `test_fuzz.py`: corpus replay and a short guided run of every target, in the test suite.
"""
