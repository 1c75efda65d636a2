"""SPIFFE ID syntax."""

from __future__ import annotations

import pytest

from tessera.trust.spiffe import parse_spiffe_id, spiffe_id, workload_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("spiffe://example.org/app", ("example.org", "/app")),
        ("spiffe://example.org", ("example.org", "")),
        ("spiffe://a-b_c.9/ns/Prod/sa/web.v2", ("a-b_c.9", "/ns/Prod/sa/web.v2")),
        ("spiffe://td/..a/b..", ("td", "/..a/b..")),
        ("spiffe://td/" + "a" * 2030, ("td", "/" + "a" * 2030)),
    ],
)
def test_valid_ids(value: str, expected: tuple[str, str]) -> None:
    assert parse_spiffe_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "spiffe://",
        "spiffe:///path",
        "SPIFFE://example.org/app",
        "https://example.org/app",
        "spiffe:/example.org/app",
        "spiffe://Example.org/app",
        "spiffe://example.org:8080/app",
        "spiffe://user@example.org/app",
        "spiffe://example.org/app?x=1",
        "spiffe://example.org/app#frag",
        "spiffe://example.org/",
        "spiffe://example.org/app/",
        "spiffe://example.org//app",
        "spiffe://example.org/./app",
        "spiffe://example.org/a/../b",
        "spiffe://example.org/a%20b",
        "spiffe://example.org/a b",
        "spiffe://exämple.org/app",
        "spiffe://example.org/" + "a" * 2030,
        "spiffe://" + "a" * 256 + "/app",
    ],
)
def test_invalid_ids(value: str) -> None:
    with pytest.raises(ValueError):
        parse_spiffe_id(value)


def test_non_strings_are_refused() -> None:
    with pytest.raises(ValueError):
        parse_spiffe_id(b"spiffe://example.org/app")  # type: ignore[arg-type]


def test_build_ids() -> None:
    assert spiffe_id("example.org", "ns/app") == "spiffe://example.org/ns/app"
    assert spiffe_id("example.org", "/ns/app") == "spiffe://example.org/ns/app"
    assert spiffe_id("example.org", "") == "spiffe://example.org"
    for bad in (("Example.org", "app"), ("example.org", "a//b"), ("", "app")):
        with pytest.raises(ValueError):
            spiffe_id(*bad)


def test_workload_ids_need_a_path() -> None:
    assert workload_id("spiffe://example.org/app") == ("example.org", "/app")
    with pytest.raises(ValueError):
        workload_id("spiffe://example.org")
