"""Identity-provider tokens (auth type 2): fetched, cached until half their life, refreshed.

The identity provider recognises the calling process (the orchestrator proved it) and returns a
JWT-SVID. Just after an application starts, the orchestrator may not have proven it yet, and
after a restart the identity provider may not yet be trusted by the service: both are waited
out briefly inside the library, so the application never sees them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tessera.client._errors import ServiceError
from tessera.client._protocol import (
    Call,
    Credentials,
    Exchange,
    Flow,
    Pause,
    Target,
    decode_reply,
    encode_call,
)
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import fetch_token_pb2
from tessera.wire.status import Status

DEFAULT_AUDIENCE = "tessera"

# Statuses that mean "not yet": the orchestrator has not proven us, or the identity provider
# is not trusted yet. Waited out with backoff for up to `wait` seconds.
_NOT_YET = frozenset({Status.IDENTITY_CLIENT_NOT_PROVEN, Status.TRUST_NO_ROOT})


def fetch_token_call(audience: str) -> Call[fetch_token_pb2.Result]:
    """FetchToken."""

    def parse(result: object) -> fetch_token_pb2.Result:
        assert isinstance(result, fetch_token_pb2.Result)
        return result

    return Call(Opcode.FETCH_TOKEN, fetch_token_pb2.Operation(audience=audience), parse)


@dataclass
class TokenAuth:
    """Authenticate with tokens from Tessera's identity provider.

    `wait` bounds how long a fetch waits for the orchestrator to prove this process (or for the
    identity provider to be trusted) before the error reaches the caller.
    """

    audience: str = DEFAULT_AUDIENCE
    wait: float = 10.0
    clock: Callable[[], float] = field(default=time.time, repr=False)
    _token: str | None = field(default=None, init=False, repr=False)
    _refresh_at: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def credentials(self) -> Flow[Credentials | None]:
        """The cached token, or a fresh one once half its life has passed."""
        with self._lock:
            if self._token is not None and self.clock() < self._refresh_at:
                return Credentials(AuthType.JWT, self._token.encode("ascii"))
        call = fetch_token_call(self.audience)
        give_up = time.monotonic() + self.wait
        pause = 0.05
        while True:
            frame = yield Exchange(Target.IDENTITY, encode_call(call, None))
            try:
                assert frame is not None
                result = decode_reply(call, frame)
                break
            except ServiceError as error:
                if error.status not in _NOT_YET or time.monotonic() + pause > give_up:
                    raise
            yield Pause(pause)
            pause = min(pause * 2, 0.5)
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
