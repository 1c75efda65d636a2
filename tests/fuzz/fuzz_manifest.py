"""Fuzz target `manifest`: an application manifest (`[[app]]` tables; orchestrator/config.py),
as `tessera up --manifest` and the orchestrator's `launch` read it.

Input: the file's bytes. Properties: see `tests.fuzz._config`; besides, every application has a
launch fingerprint, a uid and a user name.
"""

from __future__ import annotations

from tessera.orchestrator.config import AppSpec, load_manifest
from tests.fuzz._config import TOML_TOKENS, key_tokens, load, schema_words
from tests.fuzz._toml import mutator

# The orchestrator's words come along: the manifest is read by the same module.
APP_KEYS = ("app", *schema_words("tessera.orchestrator.config")[0])
APP_TOKENS = (
    b"[[app]]",
    b'"on-failure"',
    b'"always"',
    b'"never"',
    b'"root"',
    b'"nobody"',
    *key_tokens(*APP_KEYS),
)
TOKENS = (*TOML_TOKENS, *APP_TOKENS)
mutate = mutator(APP_KEYS)


def check_app(app: AppSpec) -> None:
    """What the supervisor reads from every application before starting it."""
    assert len(app.fingerprint) == 64
    assert app.uid >= 0 and app.user_name
    assert app.command and app.replicas >= 0


def one_input(data: bytes) -> None:
    apps = load(data, load_manifest)
    for app in apps or ():
        check_app(app)
