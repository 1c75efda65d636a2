"""Parsec wire protocol: framing and operation contracts."""
