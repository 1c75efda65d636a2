"""What every authenticator shares: the identity it proves and the interface it offers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tessera.trust.peer import PeerCredentials
from tessera.wire.opcodes import AuthType


@dataclass(frozen=True, slots=True)
class Application:
    """A proven application identity.

    Keys are owned by (name, auth type), as in Parsec: the same name proven by two different
    authenticators is two different applications.
    """

    name: str
    auth_type: AuthType
    is_admin: bool = False


class Authenticator(Protocol):
    """Checks one kind of authentication payload."""

    auth_type: AuthType
    description: str

    def authenticate(self, payload: bytes, peer: PeerCredentials | None) -> str:
        """Return the application name the payload proves, or raise StatusError."""
        ...
