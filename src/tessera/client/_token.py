"""Identity-provider tokens (auth type 2): fetched, cached until half their life, refreshed.

The identity provider recognises the calling process (the orchestrator proved it) and returns a
JWT-SVID. Just after an application starts, the orchestrator may not have proven it yet; while
the identity provider restarts, nobody answers, and then it is not trusted by the service yet:
the call's flow (`_protocol.flow`) waits all of these out, so the application never sees them.
"""

from __future__ import annotations

import time
from _thread import allocate_lock  # threading.Lock itself, without importing threading
from collections import namedtuple
from collections.abc import Callable

from tessera.client import _messages
from tessera.client._errors import ProtocolError
from tessera.client._protocol import (
    Call,
    Credentials,
    Encoded,
    Exchange,
    Flow,
    Target,
    decode_reply,
    encode_call,
)
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.protowire import encode

DEFAULT_AUDIENCE = "tessera"


TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    class Token(NamedTuple):
        """FetchToken's result: the token (not verified here: the service does), when it expires
        (seconds since the epoch) and the SPIFFE ID it names."""

        token: str
        expires_at: int
        spiffe_id: str

else:
    Token = namedtuple("Token", ("token", "expires_at", "spiffe_id"))
    Token.__doc__ = """FetchToken's result: the token (not verified here: the service does), when
    it expires (seconds since the epoch) and the SPIFFE ID it names."""


def fetch_token_call(audience: str) -> Call[Token]:
    """FetchToken (encoded without protobuf: the `tessera` command's start-up)."""

    def parse(result: dict[str, Any]) -> Token:
        return Token(result["token"], result["expires_at"], result["spiffe_id"])

    body = Encoded(encode(_messages.FETCH_TOKEN_OPERATION, {"audience": audience}))
    return Call(Opcode.FETCH_TOKEN, body, parse, result=_messages.FETCH_TOKEN_RESULT)


class TokenAuth:
    """Authenticate with tokens from Tessera's identity provider.

    A fetch is one exchange; driven by a call's flow it is sent again while the identity
    provider restarts or the orchestrator has not proven this process yet (the call's
    `restart_wait`); driven alone (a probe), it is asked once.
    """

    __slots__ = ("__weakref__", "_lock", "_refresh_at", "_token", "audience", "clock")
    __hash__ = None  # type: ignore[assignment]  # mutable (its cached token)

    def __init__(
        self, audience: str = DEFAULT_AUDIENCE, clock: Callable[[], float] = time.time
    ) -> None:
        self.audience = audience
        self.clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = allocate_lock()

    def __eq__(self, other: object) -> bool:
        # As the dataclass it was: every field compared, its own lock included (so only itself).
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self is other

    def __repr__(self) -> str:
        return f"TokenAuth(audience={self.audience!r})"

    def credentials(self) -> Flow[Credentials | None]:
        """The cached token, or a fresh one once half its life has passed."""
        with self._lock:
            if self._token is not None and self.clock() < self._refresh_at:
                return Credentials(AuthType.JWT, self._token.encode("ascii"))
        call = fetch_token_call(self.audience)
        frame = yield Exchange(Target.IDENTITY, encode_call(call, None))
        if frame is None:
            raise ProtocolError("the driver sent no frame for FetchToken")
        result = decode_reply(call, frame)
        now = self.clock()
        with self._lock:
            self._token = result.token
            self._refresh_at = now + max(result.expires_at - now, 0) / 2
        return Credentials(AuthType.JWT, result.token.encode("ascii"))

    def invalidate(self) -> bool:
        """Drop the cached token: the next call fetches a fresh one."""
        with self._lock:
            self._token = None
        return True
