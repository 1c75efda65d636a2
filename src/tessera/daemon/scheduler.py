"""Slow requests shared fairly between tenants, and dropped when their client has gone.

Requests that may block (key generation, PKCS#11 and TPM calls) leave the event loop for a
small pool of threads. A first-come queue in front of that pool lets one tenant starve every
other (two hundred RSA-4096 generations delay a neighbour's ECC key by minutes) and does work
for clients that are no longer there. Here each tenant has its own bounded queue; a free worker
takes the next job of the tenant with the fewest jobs running, and among those the one served
least recently (so a newcomer goes before a tenant that has just had a turn); and a request
whose connection closed before it started is never run.

Runs on the event loop; only `fn` runs on the pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

# Slow requests one tenant may have in flight (waiting or running); more are refused at once.
# The service sets it from [quotas] max_concurrent. Each connection holds at most one.
DEFAULT_IN_FLIGHT_PER_TENANT = 64


class QueueFullError(Exception):
    """The tenant already has as many slow requests in flight as it may."""


@dataclass(slots=True)
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]


class FairScheduler:
    """Fair turns between tenants over `workers` threads of `executor`."""

    def __init__(
        self,
        executor: Executor,
        workers: int,
        *,
        in_flight_per_tenant: int = DEFAULT_IN_FLIGHT_PER_TENANT,
    ) -> None:
        self._executor = executor
        self._workers = workers
        self._limit = in_flight_per_tenant
        self._queues: dict[Hashable, deque[_Job]] = {}
        self._running_by: dict[Hashable, int] = {}
        self._last_start: dict[Hashable, int] = {}  # tenant -> sequence number of its last start
        self._starts = 0
        self._running = 0

    @property
    def in_flight_per_tenant(self) -> int:
        """Slow requests one tenant may have waiting or running."""
        return self._limit

    @in_flight_per_tenant.setter
    def in_flight_per_tenant(self, limit: int) -> None:
        # A reload may change it; jobs already queued beyond a lower limit still run.
        self._limit = limit

    @property
    def running(self) -> int:
        """Jobs on the pool now."""
        return self._running

    def waiting(self, tenant: Hashable) -> int:
        """Jobs of `tenant` not yet started (cancelled ones included until skipped)."""
        queue = self._queues.get(tenant)
        return len(queue) if queue is not None else 0

    def submit(self, tenant: Hashable, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Queue `fn` for `tenant`; cancelling the future before it starts drops the job.

        Raises QueueFullError when the tenant has its limit of jobs waiting or running.
        """
        queue = self._queues.setdefault(tenant, deque())
        in_flight = len(queue) + self._running_by.get(tenant, 0)
        if in_flight >= self._limit:
            # Jobs whose clients have gone do not count against the tenant.
            live = deque(job for job in queue if not job.future.cancelled())
            in_flight -= len(queue) - len(live)
            self._queues[tenant] = queue = live
            if in_flight >= self._limit:
                raise QueueFullError(f"{in_flight} slow requests already in flight")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue.append(_Job(fn, future))
        self._start_more()
        return future

    def _next_tenant(self) -> Hashable | None:
        best: Hashable | None = None
        best_key = (0, 0)
        for tenant, queue in list(self._queues.items()):
            while queue and queue[0].future.cancelled():
                queue.popleft()  # its client has gone: never run
            if not queue:
                del self._queues[tenant]
                continue
            key = (self._running_by.get(tenant, 0), self._last_start.get(tenant, -1))
            if best is None or key < best_key:
                best, best_key = tenant, key
        return best

    def _start_more(self) -> None:
        while self._running < self._workers:
            tenant = self._next_tenant()
            if tenant is None:
                return
            job = self._queues[tenant].popleft()
            self._running += 1
            self._running_by[tenant] = self._running_by.get(tenant, 0) + 1
            self._last_start[tenant] = self._starts
            self._starts += 1
            work = asyncio.get_running_loop().run_in_executor(self._executor, job.fn)
            work.add_done_callback(functools.partial(self._finished, tenant, job))

    def _finished(self, tenant: Hashable, job: _Job, done: asyncio.Future[Any]) -> None:
        self._running -= 1
        remaining = self._running_by[tenant] - 1
        if remaining:
            self._running_by[tenant] = remaining
        else:
            del self._running_by[tenant]
            if tenant not in self._queues:
                self._last_start.pop(tenant, None)  # idle: keep no state for it
        error = None if done.cancelled() else done.exception()  # always retrieved
        if not job.future.done():  # else its client has gone: the answer is dropped
            if done.cancelled():
                job.future.cancel()
            elif error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(done.result())
        self._start_more()
