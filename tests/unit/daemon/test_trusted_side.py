"""The trusted side against a real trust store, with the socket hop replaced by a direct call.

These pin properties that are hard to time with real daemons: a replay that itself needs to
synchronize again must not deadlock, and a peer that lost our root gets everything re-shared.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from tessera.daemon import link
from tessera.daemon.trust_ops import handle_trust
from tessera.daemon.trusted_side import TrustedSide
from tessera.trust.peer import PeerCredentials
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.opcodes import Opcode

ME = PeerCredentials(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())


class Peer:
    """A trusting daemon: a real store; `restart()` forgets everything, as a new process."""

    def __init__(self) -> None:
        self.store = TrustStore(TrustPolicy(uid=os.getuid()))

    def restart(self) -> None:
        self.store = TrustStore(TrustPolicy(uid=os.getuid()))

    async def call(self, path: Path, opcode: Opcode, body: Message, **_: Any) -> Message:
        await asyncio.sleep(0)
        return handle_trust(self.store, opcode, body, ME)


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch) -> Peer:
    fake = Peer()
    monkeypatch.setattr(link, "call", fake.call)  # trusted_side looks it up at each call
    return fake


def test_first_synchronization_shares_root_and_intermediate(peer: Peer) -> None:
    replays: list[bool] = []

    async def replay(everything: bool) -> None:
        replays.append(everything)

    async def scenario() -> None:
        side = TrustedSide(Path("/peer"), rotation_period=60, name="test", on_reshared=replay)
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

        side = TrustedSide(Path("/peer"), rotation_period=60, name="test", on_reshared=replay)
        await side.synchronize()
        peer.restart()
        await asyncio.wait_for(side.synchronize(), timeout=5)
        assert side.current is not None
        assert peer.store.current_kid == side.current.kid

    asyncio.run(scenario())
