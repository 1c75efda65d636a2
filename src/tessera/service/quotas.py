"""Per-application quotas, checked when a request is admitted, before any work is done.

An application is the authenticated identity (authenticator and name), the tenant the fair
scheduler shares workers by. Limits:
- requests per second: a token bucket per application; over it, PsaErrorInsufficientMemory
  (the service's "no room for this now, try again" status, as when its queues are full);
- keys and bytes stored: read from the key store's per-owner usage row before a key is created
  (PsaErrorInsufficientStorage); the key store checks again in the insert's transaction, so
  concurrent creations cannot overshoot either limit.
Concurrent requests are bounded by the fair scheduler (daemon/scheduler.py), the only place
where one application's requests overlap: fast requests run one at a time on the event loop.
Unauthenticated requests (Ping, GenerateRandom, hashes) belong to no application; the
listener's connection limits per uid bound them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from tessera.service.authenticators import Application
from tessera.service.config import QuotaConfig
from tessera.service.keystore import KeyStore, Owner, StorageLimits
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status, StatusError

CREATING_OPCODES = frozenset({Opcode.PSA_GENERATE_KEY, Opcode.PSA_IMPORT_KEY})

# Buckets are forgotten once full again; the sweep runs when this many are held, so names that
# anyone may claim (direct authentication) cannot grow the table without bound.
_SWEEP_AT = 4096


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class Quotas:
    """Admission checks for one service; runs on the event loop (no locking)."""

    def __init__(
        self,
        config: QuotaConfig,
        keystore: KeyStore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._keystore = keystore
        self._clock = clock
        self._rate = float(config.requests_per_second)
        self._burst = float(config.requests_per_second)  # one second's worth
        self._buckets: dict[tuple[int, str], _Bucket] = {}
        keystore.limits = StorageLimits(config.max_keys, config.max_bytes)

    def check(self, app: Application | None, opcode: Opcode, operation: Message) -> None:
        """Raise StatusError if `app` may not make this request now."""
        if app is None:
            return
        self._take_token(app)
        if opcode in CREATING_OPCODES:
            self._check_storage(app, operation)

    def _take_token(self, app: Application) -> None:
        now = self._clock()
        key = (int(app.auth_type), app.name)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _SWEEP_AT:
                self._sweep(now)
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if bucket.tokens < 1:
            raise StatusError(
                Status.PSA_ERROR_INSUFFICIENT_MEMORY,
                f"over {self._config.requests_per_second} requests per second",
            )
        bucket.tokens -= 1

    def _sweep(self, now: float) -> None:
        refill = self._burst / self._rate
        for key, bucket in list(self._buckets.items()):
            if now - bucket.updated >= refill:
                del self._buckets[key]  # full again: same as a new bucket

    def _check_storage(self, app: Application, operation: Message) -> None:
        usage = self._keystore.usage(Owner(app.name, int(app.auth_type)))
        if usage.keys >= self._config.max_keys:
            raise StatusError(
                Status.PSA_ERROR_INSUFFICIENT_STORAGE,
                f"the application has {usage.keys} keys (quota {self._config.max_keys})",
            )
        # The size of an imported key is known now; a generated one is checked at insert.
        incoming = len(getattr(operation, "data", b""))
        if usage.bytes + incoming >= self._config.max_bytes:
            raise StatusError(
                Status.PSA_ERROR_INSUFFICIENT_STORAGE,
                f"the application stores {usage.bytes} bytes (quota {self._config.max_bytes})",
            )
