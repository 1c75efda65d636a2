"""Authenticators: turn a request's auth field (and the peer's credentials) into an identity."""

from tessera.daemon.peer import PeerCredentials
from tessera.service.authenticators.base import Application, Authenticator
from tessera.service.authenticators.direct import DirectAuthenticator
from tessera.service.authenticators.unix_peer import UnixPeerAuthenticator

__all__ = [
    "Application",
    "Authenticator",
    "DirectAuthenticator",
    "PeerCredentials",
    "UnixPeerAuthenticator",
]
