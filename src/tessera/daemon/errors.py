"""Errors every daemon reports the same way."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""
