"""The key-name rule shared by the service (refusal) and the client (explanation)."""

from __future__ import annotations

import pytest

from tessera.psa.key_names import MAX_KEY_NAME_BYTES, key_name_problem


@pytest.mark.parametrize("name", ["k", "signing key", "é" * (MAX_KEY_NAME_BYTES // 2)])
def test_acceptable_names(name: str) -> None:
    assert key_name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "a\x00", "k" * (MAX_KEY_NAME_BYTES + 1), "é" * (MAX_KEY_NAME_BYTES // 2 + 1)]
)
def test_refused_names(name: str) -> None:
    assert key_name_problem(name) is not None
