"""Fuzz target `service_config`: the security service's config file, in Tessera's schema or as
Parsec's own `config.toml` (service/config.py, service/parsec_config.py, and the settings of
providers, quotas, metrics... in the config modules they import).

Input: the file's bytes. Properties: see `tests.fuzz._config`; besides, what a configuration
derives at start-up (administrators, key store path) does not raise.
"""

from __future__ import annotations

from tessera.service.config import load_config
from tests.fuzz._config import TOML_TOKENS, key_tokens, load, schema_words
from tests.fuzz._toml import mutator

KEYS, VALUES = schema_words("tessera.service.config", "tessera.service.parsec_config")
TOKENS = (
    *TOML_TOKENS,
    *(f"[{name}]".encode() for name in ("core_settings", "listener", "authenticator", "trust")),
    b"[[key_manager]]",
    b"[[provider]]",
    b'"hex:',
    b'"str:',
    *(f'"{value}"'.encode() for value in VALUES),
    *key_tokens(*KEYS),
)
mutate = mutator(KEYS, VALUES)


def one_input(data: bytes) -> None:
    config = load(data, load_config)
    if config is not None:
        config.admin_identities()
        assert config.key_store_path.name
