"""A repeated warning is logged once per interval, with a count of what it held back."""

from __future__ import annotations

import logging

import pytest

from tessera.daemon.ratelimit import RateLimitedLog


def test_floods_become_a_line_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("t"), 10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for _ in range(1000):
            limited.warning("refusing %s", "x")
        now[0] = 10.5
        limited.warning("refusing %s", "y")
    assert [r.getMessage() for r in caplog.records] == [
        "refusing x",
        "refusing y (and 999 more like it since the last such line)",
    ]
