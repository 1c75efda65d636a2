"""Tests of the PSA types and policy layer."""
