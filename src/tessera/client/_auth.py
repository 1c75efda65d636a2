"""Ways a client proves who it is, and the automatic choice among them."""

from __future__ import annotations

import os

from tessera.client._errors import UsageError
from tessera.client._protocol import Credentials, Flow
from tessera.wire._values import Frozen, _set
from tessera.wire.opcodes import AuthType


class DirectAuth(Frozen):
    """Direct authentication: the application states its name (trusted deployments only)."""

    __slots__ = ("app_name",)
    _fields = ("app_name",)
    app_name: str

    def __init__(self, app_name: str) -> None:
        if not app_name or "\x00" in app_name:
            raise UsageError("app_name must be a non-empty string without NUL")
        _set(self, "app_name", app_name)

    def credentials(self) -> Flow[Credentials | None]:
        """The name as the auth payload."""
        return Credentials(AuthType.DIRECT, self.app_name.encode("utf-8"))
        yield  # a flow that needs no exchange

    def invalidate(self) -> bool:
        """A refused name stays refused."""
        return False


class UnixPeerAuth(Frozen):
    """Unix peer credentials: the service checks our uid with the kernel."""

    __slots__ = ("uid",)
    _fields = ("uid",)
    uid: int

    def __init__(self, uid: int | None = None) -> None:
        _set(self, "uid", os.getuid() if uid is None else uid)

    def credentials(self) -> Flow[Credentials | None]:
        """Our uid, 4 bytes little-endian."""
        return Credentials(AuthType.UNIX_PEER_CREDENTIALS, self.uid.to_bytes(4, "little"))
        yield  # a flow that needs no exchange

    def invalidate(self) -> bool:
        """A refused uid stays refused."""
        return False


class NoAuth(Frozen):
    """No authentication: only the operations Parsec serves to anyone will work."""

    __slots__ = ()

    def credentials(self) -> Flow[Credentials | None]:
        """Nothing."""
        return None
        yield  # a flow that needs no exchange

    def invalidate(self) -> bool:
        """Nothing to refresh."""
        return False
