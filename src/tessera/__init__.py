"""Tessera: a Python implementation of the Parsec security service."""
