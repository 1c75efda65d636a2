"""Unix peer-credential authentication (auth type 3).

The payload is the client's uid as 4 little-endian bytes; it must equal the uid the kernel
reports for the connection. The application name is the uid in decimal, as in Parsec.
"""

from __future__ import annotations

from tessera.trust.peer import PeerCredentials
from tessera.wire.opcodes import AuthType
from tessera.wire.status import Status, StatusError


class UnixPeerAuthenticator:
    """Trusts the kernel's view of the peer, and checks the client claims the same uid."""

    auth_type = AuthType.UNIX_PEER_CREDENTIALS
    description = "Unix peer credentials: the kernel-reported uid of the connecting process"

    def authenticate(self, payload: bytes, peer: PeerCredentials | None) -> str:
        if len(payload) != 4:
            raise StatusError(Status.AUTHENTICATION_ERROR, "payload is not a 4-byte uid")
        if peer is None:
            raise StatusError(Status.AUTHENTICATION_ERROR, "peer credentials are unavailable")
        claimed = int.from_bytes(payload, "little")
        if claimed != peer.uid:
            raise StatusError(Status.AUTHENTICATION_ERROR, "claimed uid differs from the peer's")
        return str(peer.uid)
