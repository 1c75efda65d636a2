"""Smart defaults decided from what the service says about itself (no I/O here)."""

from __future__ import annotations

from tessera.client._auth import DirectAuth, NoAuth, UnixPeerAuth
from tessera.client._errors import UsageError
from tessera.client._protocol import Authentication
from tessera.wire.opcodes import AuthType

CORE_PROVIDER = 0


def choose_authentication(
    active: list[int], *, app_name: str | None, token_auth: Authentication | None = None
) -> Authentication:
    """The strongest authenticator both sides can use.

    Identity-provider tokens when the service accepts them and we can fetch one, else Unix peer
    credentials, else direct authentication with the name the caller gave.
    """
    if token_auth is not None and (AuthType.JWT in active or AuthType.JWT_SVID in active):
        return token_auth
    if AuthType.UNIX_PEER_CREDENTIALS in active:
        return UnixPeerAuth()
    if AuthType.DIRECT in active:
        if app_name is None:
            raise UsageError(
                "the service only accepts direct authentication: pass app_name=... to the client"
            )
        return DirectAuth(app_name)
    return NoAuth()
