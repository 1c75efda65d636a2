"""The trusted side of a trust relationship: the identity provider towards the security
service, and the orchestrator towards the identity provider (DESIGN.md §3).

Root once per incarnation, intermediates on a schedule. A new intermediate is shared first and
used for signing only once the service accepted it; a token never outlives the scheduled
retirement of the intermediate that signed it. A heartbeat (TrustStatus) notices a service that
restarted (and lost our root) and re-shares everything. An `attach` hook may add, to every
intermediate shared, what must be installed with it (the identity provider's revocation list,
signed by that intermediate), so a restarted service is never without it.

The channel to the trusting daemon is passed in (`PeerLink`; the daemons give it
`tessera.daemon.link.Link`, one socket connection per request), so this module does no I/O of
its own and tests drive it against a real trust store directly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from google.protobuf.message import Message

from tessera.trust._clock import utc_now
from tessera.trust.authority import Intermediate, RootAuthority, thumbprint
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import share_trust_bundle_pb2, trust_status_pb2
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

# How long an intermediate's certificate is valid, in rotation periods: a small multiple, so a
# stalled rotation does not strand the service with an expired intermediate at once.
INTERMEDIATE_LIFETIME_PERIODS = 3
RETRY_DELAY = 0.5
MIN_TOKEN_LIFETIME = timedelta(milliseconds=50)  # less is not worth sending


class PeerLink(Protocol):
    """One request to the trusting daemon and its result.

    Raises ConnectionError when the peer cannot be reached (it may be restarting) and
    StatusError carrying the peer's status when it refuses.
    """

    @property
    def name(self) -> str:
        """What to call the peer in logs."""
        ...

    async def call(self, opcode: Opcode, body: Message) -> Message:
        """Send one operation; the peer's result."""
        ...


class TrustedSide:
    """Holds the root and the current intermediate; shares them with one trusting daemon."""

    def __init__(
        self,
        link: PeerLink,
        *,
        rotation_period: float,
        name: str,
        on_reshared: Callable[[bool], Awaitable[None]] | None = None,
        attach: Callable[[Intermediate], str] | None = None,
    ) -> None:
        self._link = link
        self._on_reshared = on_reshared
        self._attach = attach
        self._period = timedelta(seconds=rotation_period)
        subject = f"Tessera {name} on {socket.gethostname()} (pid {os.getpid()})"
        self.root = RootAuthority.generate(subject)
        self.root_kid = thumbprint(self.root.der)
        self._current: Intermediate | None = None
        self._retire_at = utc_now()
        self._lock = asyncio.Lock()  # one intermediate change at a time
        self._sync_lock = asyncio.Lock()  # one synchronization at a time
        self._trusted = asyncio.Event()
        # Plain counts, read by the metrics endpoint when scraped (daemon/metrics.py).
        self.rotations = 0
        self.peer_restarts = 0  # the peer had lost our root: it restarted
        self.tokens_issued = 0

    @property
    def current(self) -> Intermediate | None:
        """The intermediate the peer accepted last (None before the first success)."""
        return self._current

    @property
    def link(self) -> PeerLink:
        """The channel to the trusting daemon (for what else is sent to it)."""
        return self._link

    @property
    def retire_at(self) -> datetime:
        """When the current intermediate is scheduled to be replaced."""
        return self._retire_at

    def _new_intermediate(self) -> Intermediate:
        return self.root.issue_intermediate(self._period * INTERMEDIATE_LIFETIME_PERIODS)

    async def _share(self, certificate: bytes, *, root: bool, revocations: str = "") -> None:
        body = share_trust_bundle_pb2.Operation(
            certificate=certificate, root=root, revocations=revocations
        )
        await self._link.call(Opcode.SHARE_TRUST_BUNDLE, body)

    async def _share_intermediate(self, intermediate: Intermediate) -> None:
        attached = self._attach(intermediate) if self._attach is not None else ""
        await self._share(intermediate.der, root=False, revocations=attached)

    async def _share_root(self) -> None:
        try:
            await self._share(self.root.der, root=True)
        except StatusError as error:
            if error.status is not Status.TRUST_ROOT_ALREADY_SHARED:
                raise
            # Our own earlier share went through (its answer was lost): nothing to do.

    async def wait_trusted(self, timeout: float) -> bool:
        """Wait until the peer accepted an intermediate of ours; False on timeout."""
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # arrives as the wait completes, and the daemon's task would then never stop.
            async with asyncio.timeout(timeout):
                await self._trusted.wait()
        except TimeoutError:
            return False
        return True

    async def rotate(self) -> None:
        """Share a fresh intermediate; sign with it once the peer accepted it."""
        async with self._lock:
            fresh = self._new_intermediate()
            await self._share_intermediate(fresh)
            self._current = fresh
            self._retire_at = utc_now() + self._period
            self._trusted.set()
            self.rotations += 1
            log.info("rotated to a new intermediate")

    async def synchronize(self) -> None:
        """Make sure the peer trusts our root and current intermediate (re-share if not)."""
        replay: bool | None = None
        async with self._sync_lock:
            status = await self._link.call(Opcode.TRUST_STATUS, trust_status_pb2.Operation())
            assert isinstance(status, trust_status_pb2.Result)
            if status.root_kid != self.root_kid:
                was_trusted = self._trusted.is_set()
                self.peer_restarts += was_trusted
                log.info("the peer does not hold our root: sharing root and intermediate")
                await self._share_root()
                await self._reshare_current()
                replay = was_trusted
            elif self._current is None or status.intermediate_kid != self._current.kid:
                await self._reshare_current()
        if replay is not None and self._on_reshared is not None:
            # Outside the lock: the replay's own calls may need to synchronize again (the peer
            # restarting once more meanwhile). A peer that lost our root lost all we told it:
            # replay everything; the first time, only what could not be told before.
            await self._on_reshared(replay)

    async def _reshare_current(self) -> None:
        async with self._lock:
            if self._current is not None and self._current.not_after > utc_now() + self._period:
                try:
                    await self._share_intermediate(self._current)
                    return
                except StatusError as error:
                    log.info("re-sharing the intermediate failed (%s): rotating", error.status.name)
        await self.rotate()

    async def keep_trusted(self, heartbeat: float) -> None:
        """Forever: check the peer's trust every `heartbeat` seconds, rotate on schedule."""
        while True:
            try:
                await self.synchronize()
                if utc_now() >= self._retire_at:
                    await self.rotate()
                delay = min(heartbeat, max((self._retire_at - utc_now()).total_seconds(), 0.0))
            except (ConnectionError, StatusError) as error:
                log.info("peer %s not trusting us yet: %s", self._link.name, error)
                delay = min(heartbeat, RETRY_DELAY)
            await asyncio.sleep(max(delay, 0.01))

    def issue_token(
        self, subject: str, audience: str, lifetime: float, token_id: str | None = None
    ) -> tuple[str, datetime]:
        """A JWT-SVID for `subject` (`jti` = `token_id`, if given); it expires by the
        intermediate's scheduled retirement.

        Right at a rotation (the current intermediate retiring, its successor not yet accepted)
        there is nothing to sign with: TrustNoRoot, which clients wait out briefly.
        """
        current = self._current
        if current is None:
            raise StatusError(
                Status.TRUST_NO_ROOT, "the security service does not trust this provider yet"
            )
        now = utc_now()
        expires = min(now + timedelta(seconds=lifetime), self._retire_at, current.not_after)
        if expires - now < MIN_TOKEN_LIFETIME:
            raise StatusError(Status.TRUST_NO_ROOT, "a rotation is under way: retry shortly")
        try:
            token = current.issue_token(
                subject=subject,
                audience=audience,
                lifetime=expires - now,
                not_after=expires,
                token_id=token_id,
            )
        except StatusError:
            raise StatusError(Status.TRUST_NO_ROOT, "a rotation is under way") from None
        self.tokens_issued += 1
        return token, expires
