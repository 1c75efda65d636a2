"""Direct authentication (auth type 1): the payload is the application name, taken on trust.

Only safe where every client that can reach the socket is trusted to name itself honestly
(Parsec's secure-deployment guide says the same).
"""

from __future__ import annotations

from tessera.trust.peer import PeerCredentials
from tessera.wire.opcodes import AuthType
from tessera.wire.status import Status, StatusError


class DirectAuthenticator:
    """Accepts any non-empty UTF-8 application name."""

    auth_type = AuthType.DIRECT
    description = "Direct authentication: the client states its application name"

    def authenticate(self, payload: bytes, peer: PeerCredentials | None) -> str:
        if not payload:
            raise StatusError(Status.AUTHENTICATION_ERROR, "empty application name")
        try:
            name = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise StatusError(Status.AUTHENTICATION_ERROR, "name is not UTF-8") from None
        if "\x00" in name:
            raise StatusError(Status.AUTHENTICATION_ERROR, "name contains a NUL character")
        return name
