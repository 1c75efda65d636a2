"""Tessera: a host security service speaking Parsec's wire protocol, and its client library.

The client library is re-exported here (`tessera.Client`, `tessera.ECDSA_P256`, ...); the
daemons live in `tessera.service` and are started with the `tessera` command.
"""

from tessera import client
from tessera._version import __version__
from tessera.client import *  # noqa: F403 (the names are listed once, in tessera.client.__all__)

__all__ = ["__version__"]
__all__ += client.__all__
