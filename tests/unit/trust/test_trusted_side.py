"""The trusted side against a real trust store, its link to the peer a direct call.

These pin properties that are hard to time with real daemons: a replay that itself needs to
synchronize again must not deadlock, and a peer that lost our root gets everything re-shared.
"""

from __future__ import annotations

import asyncio

import pytest

from tessera.trust.trusted_side import TrustedSide
from tests.unit.trust.helpers import TrustingPeer


@pytest.fixture
def peer() -> TrustingPeer:
    return TrustingPeer()


def test_first_synchronization_shares_root_and_intermediate(peer: TrustingPeer) -> None:
    replays: list[bool] = []

    async def replay(everything: bool) -> None:
        replays.append(everything)

    async def scenario() -> None:
        side = TrustedSide(peer, rotation_period=60, name="test", on_reshared=replay)
        await side.synchronize()
        assert side.current is not None
        assert peer.store.current_kid == side.current.kid
        assert replays == [False]  # nothing was told before: replay only what waited

    asyncio.run(scenario())


def test_a_replay_that_synchronizes_again_does_not_deadlock(peer: TrustingPeer) -> None:
    async def scenario() -> None:
        side: TrustedSide
        restarted_during_replay = False

        async def replay(everything: bool) -> None:
            nonlocal restarted_during_replay
            if everything and not restarted_during_replay:
                restarted_during_replay = True
                # The peer restarts again during the replay: the replay's call synchronizes.
                peer.restart()
                await side.synchronize()

        side = TrustedSide(peer, rotation_period=60, name="test", on_reshared=replay)
        await side.synchronize()
        peer.restart()
        await asyncio.wait_for(side.synchronize(), timeout=5)
        assert side.current is not None
        assert peer.store.current_kid == side.current.kid

    asyncio.run(scenario())


def test_an_unreachable_peer_is_tried_again_until_it_trusts_us(peer: TrustingPeer) -> None:
    async def scenario() -> None:
        side = TrustedSide(peer, rotation_period=60, name="test")
        peer.down = 3
        keeper = asyncio.create_task(side.keep_trusted(heartbeat=0.05))
        try:
            assert await side.wait_trusted(timeout=5)
        finally:
            keeper.cancel()
        assert peer.down == 0
        assert side.current is not None
        assert peer.store.current_kid == side.current.kid

    asyncio.run(scenario())
