"""Withdrawing tokens at the security service when the processes they were issued to go.

Every token carries the grant of the process it was issued to (identity/registry.py). When a
process is withdrawn (RemoveClient, its exit, a redefinition as another identity), its grants
are revoked here and the service is sent the whole live list (RevokeTokens, signed by the
current intermediate) at once, so a token stolen from a removed application stops working
within a moment instead of at its expiry.

The list is kept per intermediate: tokens of an intermediate the service no longer holds are
refused anyway, so a list only names grants revoked while its signer was current. Entries last
until every token of their grant has expired (the token lifetime). The list also travels with
every intermediate shared (TrustedSide's `attach`), so a restarted service gets it back in the
same step that makes the tokens valid again. A send that fails is retried; one that crosses a
newer list on the wire is ignored by the service (lists carry a growing serial).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

from tessera.trust.authority import Intermediate
from tessera.trust.revocation import MAX_REVOKED, grant_of, revocation_claims
from tessera.trust.trusted_side import TrustedSide
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import revoke_tokens_pb2
from tessera.wire.status import StatusError

log = logging.getLogger(__name__)

RETRY_START = 0.1  # seconds before a failed send is tried again (doubling)
RETRY_MAX = 2.0
_MARGIN = 1.0  # seconds beyond the token lifetime an entry is kept (rounding of `exp`)


class Revocations:
    """The grants this identity provider revoked, until their tokens have expired."""

    def __init__(self, token_lifetime: float, *, clock: Callable[[], float] = time.time) -> None:
        self._lifetime = token_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, float]] = {}  # grant -> (signer's kid, until)
        self._serial = 0
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def serial(self) -> int:
        """Grows with every revocation."""
        with self._lock:
            return self._serial

    def revoke(self, grants: Iterable[str], current: Intermediate | None) -> None:
        """Revoke the tokens issued under `grants` (`current` signs tokens now), and have the
        service told."""
        revoked = list(grants)
        if current is None or not revoked:
            return  # without an intermediate no token was ever issued
        until = self._clock() + self._lifetime + _MARGIN
        with self._lock:
            for grant in revoked:
                self._entries[grant] = (current.kid, until)
            self._serial += 1
        log.info("revoking the tokens of %d withdrawn process(es)", len(revoked))
        if self._loop is None:
            self._changed.set()  # nobody waits yet: the sender sees it when it starts
        else:
            self._loop.call_soon_threadsafe(self._changed.set)

    def covers(self, token_id: str | None) -> bool:
        """True if a token with this `jti` was issued under a grant revoked since (and still
        able to pass, so still listed)."""
        if token_id is None:
            return False
        with self._lock:
            entry = self._entries.get(grant_of(token_id))
        return entry is not None and entry[1] > self._clock()

    def _live_for(self, kid: str) -> tuple[int, dict[str, float]]:
        now = self._clock()
        with self._lock:
            self._entries = {g: e for g, e in self._entries.items() if e[1] > now}
            live = {
                grant: until for grant, (signer, until) in self._entries.items() if signer == kid
            }
            return self._serial, live

    def signed_for(self, intermediate: Intermediate) -> str:
        """The live list for the tokens `intermediate` signed, signed by it (the `attach`
        hook: installed at the service together with that intermediate)."""
        serial, live = self._live_for(intermediate.kid)
        return intermediate.sign_jws(revocation_claims(serial, live))

    async def keep_service_told(self, issuer: TrustedSide) -> None:
        """Forever: send the list to the service whenever it changed, until it is taken."""
        self._loop = asyncio.get_running_loop()
        told = 0
        delay = RETRY_START
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_MAX):
                    await self._changed.wait()
            self._changed.clear()
            serial, current = self.serial, issuer.current
            if serial == told or current is None:
                continue
            try:
                await self._send(issuer, current)
            except (ConnectionError, StatusError) as error:  # see trusted_side.PeerLink
                log.info("the service did not take the revocations yet (%s): retrying", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                self._changed.set()
                continue
            told, delay = serial, RETRY_START

    async def _send(self, issuer: TrustedSide, current: Intermediate) -> None:
        _, live = self._live_for(current.kid)
        if len(live) > MAX_REVOKED:
            # More than a service keeps: a new intermediate makes every token revoked so far
            # worthless at once (and applications simply fetch new ones).
            log.warning("%d revocations pending: rotating the intermediate instead", len(live))
            await issuer.rotate()
            return
        body = revoke_tokens_pb2.Operation(revocations=self.signed_for(current))
        await issuer.link.call(Opcode.REVOKE_TOKENS, body)
