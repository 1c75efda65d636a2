"""The fair scheduler: tenants take turns, vanished work never runs, queues are bounded."""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tessera.daemon.scheduler import FairScheduler, QueueFullError


def test_tenants_take_turns_on_one_worker() -> None:
    async def scenario() -> list[str]:
        order: list[str] = []
        gate = threading.Event()

        def job(name: str) -> str:
            gate.wait(5)
            order.append(name)
            return name

        with ThreadPoolExecutor(1) as pool:
            scheduler = FairScheduler(pool, 1)
            flood = [scheduler.submit("flooder", functools.partial(job, f"f{i}")) for i in range(5)]
            victim = scheduler.submit("victim", lambda: job("v"))
            gate.set()
            assert await victim == "v"
            await asyncio.gather(*flood)
        return order

    order = asyncio.run(scenario())
    # The flooder's first job was already running; the victim's comes right after it.
    assert order[:2] == ["f0", "v"]
    assert sorted(order[2:]) == ["f1", "f2", "f3", "f4"]


def test_work_cancelled_before_it_starts_never_runs() -> None:
    async def scenario() -> list[int]:
        ran: list[int] = []
        gate = threading.Event()

        def job(i: int) -> None:
            gate.wait(5)
            ran.append(i)

        with ThreadPoolExecutor(1) as pool:
            scheduler = FairScheduler(pool, 1)
            futures = [scheduler.submit("gone", functools.partial(job, i)) for i in range(4)]
            for future in futures[1:]:
                future.cancel()  # their connections closed
            gate.set()
            await futures[0]
            after = scheduler.submit("next", lambda: job(99))
            await after
        return ran

    assert asyncio.run(scenario()) == [0, 99]


def test_a_tenants_queue_is_bounded_and_errors_reach_the_caller() -> None:
    async def scenario() -> None:
        gate = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            scheduler = FairScheduler(pool, 1, in_flight_per_tenant=3)
            first = scheduler.submit("t", lambda: gate.wait(5))  # running: counts too
            queued = [scheduler.submit("t", lambda: None) for _ in range(2)]
            with pytest.raises(QueueFullError):
                scheduler.submit("t", lambda: None)
            other = scheduler.submit("u", lambda: 1 / 0)  # another tenant is not affected
            gate.set()
            await first
            await asyncio.gather(*queued)
            with pytest.raises(ZeroDivisionError):
                await other
            assert scheduler.running == 0

    asyncio.run(scenario())


def test_jobs_of_gone_clients_do_not_count_against_the_limit() -> None:
    async def scenario() -> None:
        gate = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            scheduler = FairScheduler(pool, 1, in_flight_per_tenant=2)
            first = scheduler.submit("t", lambda: gate.wait(5))
            scheduler.submit("t", lambda: None).cancel()  # its connection closed
            later = scheduler.submit("t", lambda: 7)  # room again
            with pytest.raises(QueueFullError):
                scheduler.submit("t", lambda: None)
            gate.set()
            await first
            assert await later == 7

    asyncio.run(scenario())
