"""The conformance suite's fixtures, all defined in harness.py (the one module to adapt)."""

from tests.conformance.harness import software

__all__ = ["software"]
