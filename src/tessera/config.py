"""What every configuration reader shares: the daemons' loaders, the providers' and
authenticators' own tables, the orchestrator's manifest.

It sits below every package that reads a setting (it imports nothing of Tessera), so a provider
can refuse its configuration without knowing about sockets (DESIGN.md §5: providers and
authenticators do not import `daemon`).
"""

from pathlib import Path

__all__ = ["ConfigError", "config_path"]


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
