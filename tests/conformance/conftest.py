"""The conformance suite's fixtures, all defined in harness.py (the one module to adapt)."""

import pytest

from tests.conformance.harness import daemon, provider, software

__all__ = ["daemon", "provider", "software"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "capability(name, ...): the case needs these provider capabilities"
    )
