"""Client definitions map to SPIFFE IDs by the configured rules; the first match wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.config import ConfigError
from tessera.identity.config import load_identity_config


def config_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "identity.toml"
    path.write_text(text)
    return path


def test_default_rule_is_the_application_name(tmp_path: Path) -> None:
    config = load_identity_config(None)
    assert config.spiffe_id_for({"name": "billing"}) == "spiffe://tessera.local/billing"


def test_rules_match_by_glob_and_render_templates(tmp_path: Path) -> None:
    config = load_identity_config(
        config_with(
            tmp_path,
            """
[identity]
trust_domain = "prod.example"

[[identity.rule]]
name = "web-*"
user = "www-data"
path = "/web/{name}"

[[identity.rule]]
user = "batch"
path = "/jobs/{user}/{name}"
""",
        )
    )
    assert config.spiffe_id_for({"name": "web-1", "user": "www-data"}) == (
        "spiffe://prod.example/web/web-1"
    )
    assert config.spiffe_id_for({"name": "web-1", "user": "batch"}) == (
        "spiffe://prod.example/jobs/batch/web-1"
    )
    # No rule matches: the default, the name.
    assert config.spiffe_id_for({"name": "db", "user": "postgres"}) == "spiffe://prod.example/db"
    # The identity does not depend on the executable: upgrades keep it.
    old = {"name": "web-1", "user": "www-data", "digest": "sha256:aa"}
    new = old | {"digest": "sha256:bb"}
    assert config.spiffe_id_for(old) == config.spiffe_id_for(new)


@pytest.mark.parametrize(
    "rule",
    [
        'path = "relative"',
        'path = "/{unknown}"',
        'colour = "blue"',
    ],
)
def test_bad_rules_fail_at_start_up(tmp_path: Path, rule: str) -> None:
    with pytest.raises(ConfigError):
        load_identity_config(config_with(tmp_path, f"[identity]\n[[identity.rule]]\n{rule}\n"))


def test_a_bad_trust_domain_fails_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_identity_config(config_with(tmp_path, '[identity]\ntrust_domain = "Not Valid"\n'))
