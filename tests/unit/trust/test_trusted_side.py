"""The trusted side against a real trust store, its link to the peer a direct call.

These pin properties that are hard to time with real daemons: a replay that itself needs to
synchronize again must not deadlock, and a peer that lost our root gets everything re-shared.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from google.protobuf.message import Message

from tessera.trust.peer import PeerCredentials
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.trust.trusted_side import TrustedSide
from tessera.trust.trusting_side import handle_trust
from tessera.wire.opcodes import Opcode

ME = PeerCredentials(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())


class Peer:
    """A trusting daemon as the trusted side's link: a real store; `restart()` forgets
    everything, as a new process; while `down`, calls fail as an unreachable socket does."""

    name = "peer"

    def __init__(self) -> None:
        self.store = TrustStore(TrustPolicy(uid=os.getuid()))
        self.down = 0

    def restart(self) -> None:
        self.store = TrustStore(TrustPolicy(uid=os.getuid()))

    async def call(self, opcode: Opcode, body: Message) -> Message:
        await asyncio.sleep(0)
        if self.down:
            self.down -= 1
            raise ConnectionRefusedError("the peer is restarting")
        return handle_trust(self.store, opcode, body, ME)


@pytest.fixture
def peer() -> Peer:
    return Peer()


def test_first_synchronization_shares_root_and_intermediate(peer: Peer) -> None:
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


def test_a_replay_that_synchronizes_again_does_not_deadlock(peer: Peer) -> None:
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


def test_an_unreachable_peer_is_tried_again_until_it_trusts_us(peer: Peer) -> None:
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
