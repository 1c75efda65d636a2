"""The [containers] section: validation, rule matching and application names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tessera.config import ConfigError
from tessera.containers.config import (
    DEFAULT_ENGINE,
    ContainerRule,
    RuleError,
    image_base,
    parse_containers,
)
from tessera.containers.engine import ContainerInfo

DIGEST = "sha256:" + "0123456789ab" + "c" * 52


def container(image: str = "localhost/shop/web:1.2", **labels: str) -> ContainerInfo:
    return ContainerInfo("f" * 64, "web-1", image, DIGEST, dict(labels), True, 42)


def test_no_section_follows_no_engine_and_an_empty_one_the_default() -> None:
    assert parse_containers(None) is None
    config = parse_containers({})
    assert config is not None
    assert config.engine == DEFAULT_ENGINE and config.rules == ()


@pytest.mark.parametrize(
    ("given", "socket"),
    [
        ("/run/docker.sock", "/run/docker.sock"),
        ("unix:///run/podman/podman.sock", "/run/podman/podman.sock"),
        ("unix:/run/podman/podman.sock", "/run/podman/podman.sock"),
    ],
)
def test_engine_is_a_path_or_unix_uri(given: str, socket: str) -> None:
    config = parse_containers({"engine": given})
    assert config is not None and config.engine == Path(socket)


@pytest.mark.parametrize(
    "section",
    [
        {"engine": "tcp://10.0.0.1:2375"},
        {"engine": "relative.sock"},
        {"engine": 3},
        {"unknown": 1},
        {"reconcile_period": 0},
        {"reconcile_period": float("nan")},
        {"rule": {"app": "x"}},
        {"rule": [{"image": "x"}]},  # no app
        {"rule": [{"app": "{label}"}]},
        {"rule": [{"app": "{nope}"}]},
        {"rule": [{"app": "x}"}]},
        {"rule": [{"app": "x", "labels": {"a": 1}}]},
        {"rule": [{"app": "x", "digests": ["sha256:short"]}]},
        {"rule": [{"app": "x", "exec": "yes"}]},
        {"rule": [{"app": "x", "user": "root"}]},
    ],
)
def test_bad_sections_are_refused(section: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_containers(section)


def test_first_matching_rule_wins_and_no_match_is_none() -> None:
    config = parse_containers(
        {
            "rule": [
                {"app": "pinned", "digests": ["sha256:" + "d" * 64]},
                {"app": "{label:app}", "image": "localhost/shop/*", "labels": {"app": "w*"}},
                {"app": "fallback-{image}", "labels": {"tier": "*"}},
            ]
        }
    )
    assert config is not None
    matched = config.rule_for(container(app="web"))
    assert matched is not None and matched[0] == 1
    assert matched[1].application(container(app="web")) == "web"
    other = config.rule_for(container("docker.io/library/web:2", app="web", tier="front"))
    assert other is not None and other[0] == 2
    assert other[1].application(container("docker.io/library/web:2")) == "fallback-web"
    assert config.rule_for(container(app="db")) is None  # label glob fails, no tier label


def test_templates_name_applications_from_labels_image_digest_and_name() -> None:
    info = container(app="web", team="shop")
    assert ContainerRule("{label:team}-{label:app}").application(info) == "shop-web"
    assert ContainerRule("{image}").application(info) == "web"
    assert ContainerRule("web-{digest}").application(info) == "web-0123456789ab"
    assert ContainerRule("{name}").application(info) == "web-1"


@pytest.mark.parametrize("value", ["../admin", "a/b", "", "x" * 64, "sp ace"])
def test_label_values_that_are_no_names_give_no_application(value: str) -> None:
    with pytest.raises(RuleError):
        ContainerRule("{label:app}").application(container(app=value))


def test_a_missing_label_in_the_template_gives_no_application() -> None:
    with pytest.raises(RuleError):
        ContainerRule("{label:app}").application(container())


def test_image_base_drops_registry_path_tag_and_digest() -> None:
    assert image_base("registry:5000/shop/web:1.2@sha256:" + "a" * 64) == "web"
    assert image_base("web") == "web"
