"""Fuzz target `identity_config`: the identity provider's config file (identity/config.py).

Input: the file's bytes. Properties: see `tests.fuzz._config`; besides, a loaded configuration
maps a client definition to a SPIFFE ID, or says why not with ValueError (never anything else).
"""

from __future__ import annotations

import contextlib

from tessera.identity.config import load_identity_config
from tests.fuzz._config import TOML_TOKENS, key_tokens, load, schema_words
from tests.fuzz._toml import mutator

KEYS, VALUES = schema_words("tessera.identity.config")
TOKENS = (
    *TOML_TOKENS,
    b"[identity]",
    b"[[identity.rule]]",
    b"{name}",
    b"{user}",
    b"{host}",
    b'"/',
    b'"*"',
    *key_tokens(*KEYS),
)
mutate = mutator(KEYS, VALUES)


def one_input(data: bytes) -> None:
    config = load(data, load_identity_config)
    if config is not None:
        # A rule may render an invalid SPIFFE ID for some client: AddClient refuses it then.
        with contextlib.suppress(ValueError):
            config.spiffe_id_for({"name": "app", "user": "alice", "host": "host-1"})
