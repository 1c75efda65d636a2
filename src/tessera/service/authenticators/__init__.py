"""Authenticators: turn a request's auth field (and the peer's credentials) into an identity."""

from tessera.service.authenticators.base import Application, Authenticator
from tessera.service.authenticators.direct import DirectAuthenticator
from tessera.service.authenticators.unix_peer import UnixPeerAuthenticator
from tessera.trust.peer import PeerCredentials

__all__ = [
    "Application",
    "Authenticator",
    "DirectAuthenticator",
    "PeerCredentials",
    "UnixPeerAuthenticator",
]
