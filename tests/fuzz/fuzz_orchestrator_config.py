"""Fuzz target `orchestrator_config`: the orchestrator's config file, settings and `[[app]]`
tables together (orchestrator/config.py).

Input: the file's bytes. Properties: see `tests.fuzz._config`; besides, every application of a
loaded configuration has a launch fingerprint.
"""

from __future__ import annotations

from tessera.orchestrator.config import load_orchestrator_config
from tests.fuzz._config import TOML_TOKENS, load
from tests.fuzz._toml import mutator
from tests.fuzz.fuzz_manifest import APP_KEYS, APP_TOKENS, check_app

KEYS = ("orchestrator", *APP_KEYS)
TOKENS = (*TOML_TOKENS, *APP_TOKENS, b"[orchestrator]")
mutate = mutator(KEYS)


def one_input(data: bytes) -> None:
    config = load(data, load_orchestrator_config)
    if config is not None:
        for app in config.apps:
            check_app(app)
