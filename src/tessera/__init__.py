"""Tessera: a host security service speaking Parsec's wire protocol, and its client library.

The client library is re-exported here (`tessera.Client`, `tessera.ECDSA_P256`, ...); the
daemons live in `tessera.service` and are started with the `tessera` command.
"""

from tessera import client  # cheap: tessera.client imports its modules on first use
from tessera._version import __version__

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up

if TYPE_CHECKING:
    from tessera.client import *  # noqa: F403 (the names are listed once, in tessera.client)
del TYPE_CHECKING  # not a public name

__all__ = ["__version__"]
__all__ += client.__all__


def __getattr__(name: str) -> object:
    """The client library's public names, imported from `tessera.client` on first use (the
    `tessera` command starts faster)."""
    if name not in client.__all__:
        raise AttributeError(f"module 'tessera' has no attribute {name!r}")
    value: object = getattr(client, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
