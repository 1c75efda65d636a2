"""The interface between the front end and a daemon's request path."""

from __future__ import annotations

from typing import Protocol, TypeVar

from tessera.trust.peer import PeerCredentials
from tessera.wire.framing import Frame, FramingError


class Prepared(Protocol):
    """A request that passed authentication and routing.

    It may also have a `tenant` attribute (hashable): whose turn a slow request takes on the
    worker pool. Without one, the connecting peer's uid is the tenant.
    """

    @property
    def blocking(self) -> bool:
        """True when running it may block the event loop for long."""
        ...


P = TypeVar("P", bound=Prepared)


class RequestHandler(Protocol[P]):
    """Turns frames into response bytes, in two steps so slow work can leave the event loop."""

    def framing_error(self, error: FramingError) -> bytes:
        """The response to a request that could not be framed."""
        ...

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> P | bytes:
        """Authenticate and route; an early failure comes back as response bytes."""
        ...

    def execute(self, request: P) -> bytes:
        """Run an admitted request and encode its response."""
        ...
