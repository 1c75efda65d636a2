"""Errors every daemon reports the same way."""

from pathlib import Path


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


def config_path(value: str, setting: str) -> Path:
    """A path read from a config file, `~` expanded; ConfigError where it cannot be one (a NUL
    byte, a `~user` with no home: pathlib raises RuntimeError there)."""
    if "\x00" in value:
        raise ConfigError(f"{setting} must not contain a NUL character")
    try:
        return Path(value).expanduser()
    except RuntimeError:
        head = value.split("/", 1)[0]
        raise ConfigError(f"{setting}: {head!r} names no home directory") from None
