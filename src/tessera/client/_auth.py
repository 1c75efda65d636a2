"""Ways a client proves who it is, and the automatic choice among them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tessera.client._errors import UsageError
from tessera.client._protocol import Credentials, Flow
from tessera.wire.opcodes import AuthType


@dataclass(frozen=True)
class DirectAuth:
    """Direct authentication: the application states its name (trusted deployments only)."""

    app_name: str

    def __post_init__(self) -> None:
        if not self.app_name or "\x00" in self.app_name:
            raise UsageError("app_name must be a non-empty string without NUL")

    def credentials(self) -> Flow[Credentials | None]:
        """The name as the auth payload."""
        return Credentials(AuthType.DIRECT, self.app_name.encode("utf-8"))
        yield  # a flow that needs no exchange

    def invalidate(self) -> bool:
        """A refused name stays refused."""
        return False


@dataclass(frozen=True)
class UnixPeerAuth:
    """Unix peer credentials: the service checks our uid with the kernel."""

    uid: int = field(default_factory=os.getuid)

    def credentials(self) -> Flow[Credentials | None]:
        """Our uid, 4 bytes little-endian."""
        return Credentials(AuthType.UNIX_PEER_CREDENTIALS, self.uid.to_bytes(4, "little"))
        yield  # a flow that needs no exchange

    def invalidate(self) -> bool:
        """A refused uid stays refused."""
        return False


@dataclass(frozen=True)
class NoAuth:
    """No authentication: only the operations Parsec serves to anyone will work."""

    def credentials(self) -> Flow[Credentials | None]:
        """Nothing."""
        return None
        yield  # a flow that needs no exchange

    def invalidate(self) -> bool:
        """Nothing to refresh."""
        return False
