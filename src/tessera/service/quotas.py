"""Per-application quotas: the request rate, checked when a request is admitted.

An application is the authenticated identity (authenticator and name), the tenant the fair
scheduler shares workers by. Limits:
- requests per second: one token bucket per application, shared by all the service's worker
  processes (a table in the run's live directory, `live_file.py`); over it,
  PsaErrorInsufficientMemory (the service's "no room for this now, try again" status, as when
  its queues are full). A process takes tokens from the shared bucket a lease at a time (at
  most 1/100 of the rate, kept 10 ms; what is left of an expired lease goes back at the next
  take), so the bucket is touched about once per lease rather than once per request. Over any
  interval an application is admitted at most the bucket's burst plus the rate times the
  interval, plus one lease per process;
- keys and bytes stored: one rule, enforced by the key store inside the insert's transaction
  (`KeyStore.insert`, PsaErrorInsufficientStorage), exact whichever process inserts and
  however many do at once. `Quotas` only hands the store its limits.
Concurrent requests are bounded by the fair scheduler (daemon/scheduler.py), the only place
where one application's requests overlap: fast requests run one at a time on the event loop.
Unauthenticated requests (Ping, GenerateRandom, hashes) belong to no application; the
listener's connection limits per uid bound them.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable
from pathlib import Path

from tessera.service.authenticators import Application
from tessera.service.config import QuotaConfig
from tessera.service.keystore import KeyStore, StorageLimits
from tessera.service.live_file import LiveFile
from tessera.wire.status import Status, StatusError

#: The shared bucket table's file in the live directory.
BUCKETS_FILE_NAME = "quota-buckets"
#: Leases a second's worth of rate is cut into; also how long (1 / this, seconds) one is kept.
LEASES_PER_SECOND = 100

# Slots of the shared table: an application's digest (16 bytes, zero = free), its tokens and
# when they were counted. An application looks in PROBE slots from the one its digest names;
# with all of them held by other applications, the one closest to full is given up (it gets a
# full bucket when next seen: only with more than SLOTS applications active at once).
_SLOT = struct.Struct("<16sdd")
SLOTS = 8192
_PROBE = 8
_FREE = bytes(16)
# Leases held by this process are forgotten once this many are held (expired ones first).
_SWEEP_AT = 4096

_Tenant = tuple[str, int]


class Quotas:
    """Admission checks for one service process, called on its event loop: the process's leases
    are not locked (one thread); the shared table is (every process, and any thread)."""

    def __init__(
        self,
        config: QuotaConfig,
        keystore: KeyStore,
        *,
        live: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        _table: LiveFile | None = None,
    ) -> None:
        """With `live` (the run's live directory), the buckets are shared by every process
        that opens the same directory; without, they are this process's own."""
        self._config = config
        self._keystore = keystore
        self._clock = clock
        self._rate = float(config.requests_per_second)
        self._burst = float(config.requests_per_second)  # one second's worth
        self._lease_size = max(1, config.requests_per_second // LEASES_PER_SECOND)
        self._lease_time = 1 / LEASES_PER_SECOND
        # application -> [tokens left in its lease, when the lease expires]
        self._leases: dict[_Tenant, list[float]] = {}
        if _table is None:
            _table = LiveFile(live / BUCKETS_FILE_NAME if live is not None else None, _table_size())
        self._table = _table
        keystore.limits = StorageLimits(config.max_keys, config.max_bytes)

    def reconfigured(self, config: QuotaConfig) -> Quotas:
        """The quotas of `config` over the same shared buckets (a reload)."""
        return Quotas(config, self._keystore, clock=self._clock, _table=self._table)

    def close(self) -> None:
        """Release the shared table (the file stays for the other processes)."""
        self._table.close()

    def check(self, app: Application | None) -> None:
        """PsaErrorInsufficientMemory if `app` may not make a request now."""
        if app is None:
            return
        tenant = (app.name, app.auth_type)
        now = self._clock()
        lease = self._leases.get(tenant)
        if lease is not None and lease[0] >= 1 and now < lease[1]:
            lease[0] -= 1
            return
        returned = lease[0] if lease is not None else 0.0
        granted = self._take(tenant, now, returned)
        if granted < 1:
            self._leases.pop(tenant, None)
            raise StatusError(
                Status.PSA_ERROR_INSUFFICIENT_MEMORY,
                f"over {self._config.requests_per_second} requests per second",
            )
        if lease is None:
            if len(self._leases) >= _SWEEP_AT:
                self._sweep(now)
            self._leases[tenant] = [granted - 1, now + self._lease_time]
        else:
            lease[0], lease[1] = granted - 1, now + self._lease_time

    def _sweep(self, now: float) -> None:
        for tenant, lease in list(self._leases.items()):
            if now >= lease[1]:
                del self._leases[tenant]
        if len(self._leases) >= _SWEEP_AT:
            self._leases.clear()  # unexpired leases given up: fewer admissions, never more

    def _take(self, tenant: _Tenant, now: float, returned: float) -> int:
        """Give back `returned` tokens and take up to a lease from the tenant's shared bucket."""
        name, auth_type = tenant
        digest = hashlib.blake2b(
            name.encode("utf-8", "surrogatepass"),
            digest_size=16,
            person=b"tessera-quota",
            salt=int(auth_type).to_bytes(16, "big"),
        ).digest()
        start = int.from_bytes(digest[:4], "big") % SLOTS
        memory = self._table.memory
        self._table.lock()
        try:
            slot = -1
            spare = -1
            spare_tokens = -1.0
            for step in range(_PROBE):
                index = (start + step) % SLOTS
                held, tokens, updated = _SLOT.unpack_from(memory, index * _SLOT.size)
                if held == digest:
                    slot = index
                    tokens = min(self._burst, self._refilled(tokens, updated, now) + returned)
                    break
                level = self._burst if held == _FREE else self._refilled(tokens, updated, now)
                if level > spare_tokens:
                    spare, spare_tokens = index, level
            if slot < 0:
                slot, tokens = spare, self._burst  # a new application: a full bucket
            granted = int(min(tokens, self._lease_size))
            _SLOT.pack_into(memory, slot * _SLOT.size, digest, tokens - granted, now)
            return granted
        finally:
            self._table.unlock()

    def _refilled(self, tokens: float, updated: float, now: float) -> float:
        # `now` is read before the table's lock is taken, so a worker that waited for it may
        # find a later update by another: time has not gone back, nothing refills. (The table
        # lives in the live directory, emptied at every start: one clock for all of it.)
        elapsed = max(0.0, now - updated)
        return min(self._burst, tokens + elapsed * self._rate)


def _table_size() -> int:
    return SLOTS * _SLOT.size
