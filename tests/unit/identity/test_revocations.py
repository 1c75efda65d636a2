"""The identity provider's side of revocation: grants in the registry, and a list that reaches
the service at once, survives its restart and follows rotations. The service is a real trust
store; the trusted side's link to it is a direct call (as in tests/unit/trust/test_trusted_side.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from typing import Any

import pytest

from tessera.identity.registry import Registry
from tessera.identity.revocations import Revocations
from tessera.trust.errors import TrustError
from tessera.trust.payloads import ClientDefinition
from tessera.trust.peer import Incarnation, incarnation_of
from tessera.trust.trusted_side import TrustedSide
from tessera.wire.status import Status, StatusError
from tests.unit.trust.helpers import TrustingPeer

SUBJECT = "spiffe://tessera.local/app"


class Service(TrustingPeer):
    """The trusting service."""

    name = "service"

    def accepts(self, token: str) -> bool:
        try:
            self.store.verify_token(token, audience="tessera")
        except TrustError as error:
            assert error.status is Status.TRUST_STALE_PAYLOAD, error
            return False
        return True


@pytest.fixture
def service() -> Service:
    return Service()


def issue(side: TrustedSide, grant: str) -> str:
    token, _ = side.issue_token(SUBJECT, "tessera", 300, token_id=f"{grant}.t")
    return token


async def until(condition: Any, timeout: float = 1.0) -> float:
    """Seconds until `condition()` held (fails after `timeout`)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "not within the time allowed"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def test_revoked_tokens_are_refused_at_once_and_after_a_service_restart(
    service: Service,
) -> None:
    async def scenario() -> None:
        revocations = Revocations(300)
        side = TrustedSide(service, rotation_period=60, name="test", attach=revocations.signed_for)
        await side.synchronize()
        pusher = asyncio.create_task(revocations.keep_service_told(side))
        try:
            gone, kept = issue(side, "gone"), issue(side, "kept")
            assert service.accepts(gone) and service.accepts(kept)
            revocations.revoke(["gone"], side.current)
            await until(lambda: not service.accepts(gone))
            assert service.accepts(kept)

            # A restarted service gets root, intermediate and list again, in that order: the
            # tokens of the current intermediate pass again, the revoked one never does.
            service.restart()
            await side.synchronize()
            assert service.accepts(kept)
            assert not service.accepts(gone)
        finally:
            pusher.cancel()

    asyncio.run(scenario())


def test_a_list_the_service_could_not_take_is_sent_again(service: Service) -> None:
    async def scenario() -> None:
        revocations = Revocations(300)
        side = TrustedSide(service, rotation_period=60, name="test", attach=revocations.signed_for)
        await side.synchronize()
        pusher = asyncio.create_task(revocations.keep_service_told(side))
        try:
            gone = issue(side, "gone")
            service.down = 2
            revocations.revoke(["gone"], side.current)
            await until(lambda: not service.accepts(gone), timeout=2.0)
            assert service.down == 0
        finally:
            pusher.cancel()

    asyncio.run(scenario())


def test_a_rotation_needs_no_list_for_older_tokens(service: Service) -> None:
    async def scenario() -> None:
        revocations = Revocations(300)
        side = TrustedSide(service, rotation_period=60, name="test", attach=revocations.signed_for)
        await side.synchronize()
        revocations.revoke(["gone"], side.current)
        await side.rotate()  # the old intermediate's tokens are refused anyway
        assert service.store.revocation_serial == revocations.serial
        assert service.accepts(issue(side, "other"))
        assert side.current is not None
        assert '"gone"' not in _payload(revocations.signed_for(side.current))

    asyncio.run(scenario())


def _payload(jws: str) -> str:
    import base64

    body = jws.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_nothing_to_revoke_before_any_intermediate() -> None:
    revocations = Revocations(300)
    revocations.revoke(["gone"], None)
    assert revocations.serial == 0


# -- the registry's grants ------------------------------------------------------------------------


@pytest.fixture
def sleeper() -> Any:
    child = subprocess.Popen(["sleep", "30"])
    try:
        incarnation = None
        while incarnation is None:
            incarnation = incarnation_of(child.pid)
        yield child, incarnation
    finally:
        child.kill()
        child.wait()


def test_each_proven_process_has_its_own_grant_until_it_is_withdrawn(sleeper: Any) -> None:
    child, incarnation = sleeper
    registry = Registry()
    registry.define("app/0", ClientDefinition("app/0", "app"), SUBJECT)
    registry.prove("app/0", incarnation, os.getuid())
    grant = registry.resolve(child.pid, os.getuid()).grant
    assert grant and "." not in grant
    registry.prove("app/0", incarnation, os.getuid())  # a replay keeps it: tokens stay valid
    assert registry.resolve(child.pid, os.getuid()).grant == grant
    assert registry.define("app/0", ClientDefinition("app/0", "app", digest="new"), SUBJECT) == []
    assert registry.remove("app/0", incarnation) == [grant]
    with pytest.raises(StatusError):
        registry.resolve(child.pid, os.getuid())


def test_withdrawing_a_client_or_its_identity_returns_every_grant(sleeper: Any) -> None:
    child, incarnation = sleeper
    registry = Registry()
    registry.define("app/0", ClientDefinition("app/0", "app"), SUBJECT)
    registry.prove("app/0", incarnation, os.getuid())
    grant = registry.resolve(child.pid, os.getuid()).grant
    assert registry.define(
        "app/0", ClientDefinition("app/0", "app"), "spiffe://tessera.local/other"
    ) == [grant]
    registry.prove("app/0", incarnation, os.getuid())
    second = registry.resolve(child.pid, os.getuid()).grant
    assert second != grant
    assert registry.remove("app/0") == [second]


def test_exited_processes_give_back_their_grants() -> None:
    registry = Registry()
    registry.define("app/0", ClientDefinition("app/0", "app"), SUBJECT)
    child = subprocess.Popen(["true"])
    incarnation = incarnation_of(child.pid) or Incarnation(child.pid, 0)
    registry.prove("app/0", incarnation, os.getuid())
    child.wait()
    assert len(registry.purge_dead()) == 1
