"""Following the container engine and keeping the identity provider in step with it.

Events are hints, not facts: any event about a container (and every full re-read of the running
containers) queues that container, and one worker brings the identity provider in line with what
the engine and /proc say now. So a missed, repeated or reordered event changes nothing, a
container is registered once per run of its first process (no duplicates), and replays (the
identity provider restarted) go through the same queue, never blocking the trust heartbeat.

The containers registered are recorded (`containers.json`: ids, application names, pids, start
times; nothing secret): a restarted orchestrator re-registers those still running, under the same
client ids, and withdraws those that stopped meanwhile (nothing orphaned).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from tessera.containers.claims import (
    CLIENT_PREFIX,
    client_id_of,
    container_definition,
    container_proof,
)
from tessera.containers.config import ContainersConfig, RuleError
from tessera.containers.engine import ContainerInfo, Engine, EngineError
from tessera.daemon import link
from tessera.orchestrator.registrar import Registrar
from tessera.orchestrator.state import RecordedInstance, load_state, save_state
from tessera.trust.payloads import Removal
from tessera.trust.peer import Incarnation, incarnation_of, is_alive
from tessera.wire.proto import prove_client_pb2
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

# Events after which a container may have started or stopped running a (new) first process.
_LIFECYCLE = frozenset(
    {"start", "restart", "die", "died", "stop", "destroy", "remove", "cleanup", "exited"}
)
_CONTAINER_ID = re.compile(r"^[0-9a-f]{64}$")
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
_NOBODY = Incarnation(0, 0)  # a recorded container not re-registered yet


@dataclass
class Tracked:
    """A container this orchestrator told the identity provider about (or must, or must
    withdraw): its application and the first process it was proven with."""

    container_id: str
    app: str
    first: Incarnation | None = None
    spiffe_id: str = ""
    name: str = ""


class ContainerWatcher:
    """Follows one engine; registers matching containers, withdraws stopped ones."""

    def __init__(self, config: ContainersConfig, registrar: Registrar, state_file: Path) -> None:
        self._config = config
        self._registrar = registrar
        self._state_file = state_file
        self._engine = Engine(config.engine)
        self._tracked: dict[str, Tracked] = {}
        self._unmatched: dict[str, Incarnation] = {}  # told "no rule" once per first process
        self._queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

    async def run(self) -> None:
        """Forever: follow the engine, re-read it periodically, apply every change."""
        for record in load_state(self._state_file):
            container_id = record.client_id.removeprefix(CLIENT_PREFIX)
            if _CONTAINER_ID.match(container_id):
                self._tracked[container_id] = Tracked(container_id, record.app)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._work())
            tasks.create_task(self._follow())
            tasks.create_task(self._reconcile_periodically())

    async def replay(self, *, everything: bool) -> None:
        """Register again what the identity provider may not know: everything after it
        restarted, else what could not be registered before (queued, not awaited: this is
        called from the trust heartbeat, which registrations may need)."""
        for tracked in self._tracked.values():
            if everything or not tracked.spiffe_id:
                self._queue.put_nowait((tracked.container_id, everything))

    async def _follow(self) -> None:
        backoff = BACKOFF_START
        warned = False  # once per outage, not at every retry
        while True:
            try:
                stream = await self._engine.subscribe()
                try:
                    await self._reconcile()  # after subscribing: nothing falls in between
                    log.info("following the container engine at %s", self._engine.socket_path)
                    backoff, warned = BACKOFF_START, False
                    while True:
                        self._note(await stream.next())
                finally:
                    stream.close()
            except EngineError as error:
                level = logging.DEBUG if warned else logging.WARNING
                log.log(level, "container engine: %s (retrying)", error)
                warned = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _note(self, event: dict[str, object]) -> None:
        actor = event.get("Actor")
        container_id = actor.get("ID") if isinstance(actor, dict) else event.get("id")
        action = event.get("Action") or event.get("status")
        if not isinstance(container_id, str) or not _CONTAINER_ID.match(container_id):
            return
        if isinstance(action, str) and action in _LIFECYCLE:
            self._queue.put_nowait((container_id, False))

    async def _reconcile_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._config.reconcile_period)
            try:
                await self._reconcile()
            except EngineError as error:
                log.debug("container engine: %s", error)

    async def _reconcile(self) -> None:
        """Queue every running container that may need work, and every one tracked."""
        running = set(await self._engine.running())
        for container_id in running - set(self._tracked):
            known = self._unmatched.get(container_id)
            if known is None or not is_alive(known):
                self._queue.put_nowait((container_id, False))
        for container_id in self._tracked:
            self._queue.put_nowait((container_id, False))

    async def _work(self) -> None:
        while True:
            container_id, force = await self._queue.get()
            try:
                await self._sync(container_id, force=force)
            except EngineError as error:
                log.info("container %s: %s", container_id[:12], error)

    async def _sync(self, container_id: str, *, force: bool) -> None:
        """Make the identity provider agree with the engine and /proc about one container."""
        info = await self._engine.inspect(container_id)
        tracked = self._tracked.get(container_id)
        first = incarnation_of(info.pid) if info is not None and info.running and info.pid else None
        if info is None or first is None:
            self._unmatched.pop(container_id, None)
            if tracked is not None:
                await self._withdraw(tracked)
            return
        if tracked is not None and tracked.first == first and tracked.spiffe_id and not force:
            return  # registered for this very process already
        app = self._application(info, first)
        if app is None:
            if tracked is not None:
                await self._withdraw(tracked)
            return
        if tracked is not None and tracked.first not in (None, first):
            # Restarted under the same id: the previous process's tokens go at once.
            await self._registrar.unregister(client_id_of(container_id), tracked.first)
        tracked = Tracked(container_id, app[0], first, name=info.name)
        self._tracked[container_id] = tracked
        tracked.spiffe_id = await self._register(info, first, app) or ""
        self._save()

    def _application(self, info: ContainerInfo, first: Incarnation) -> tuple[str, int] | None:
        """The application name and rule index for a container; None (logged once) for none."""
        matched = self._config.rule_for(info)
        try:
            if matched is not None:
                return matched[1].application(info), matched[0]
            reason = "matches no rule"
        except RuleError as error:
            reason = f"matches rule {matched[0] if matched else '?'}, but {error}"
        if self._unmatched.get(info.id) != first:
            self._unmatched[info.id] = first
            log.info("container %s (%s) %s: no identity", info.name, info.id[:12], reason)
        return None

    async def _register(
        self, info: ContainerInfo, first: Incarnation, app: tuple[str, int]
    ) -> str | None:
        """Define and prove one container; its SPIFFE ID, or None if not possible now."""
        rule = self._config.rules[app[1]]
        definition = container_definition(info, app=app[0], rule_index=app[1], rule=rule)
        try:
            if await self._registrar.send(definition) is None:
                return None
            proof = await asyncio.to_thread(container_proof, info.id, first)
            proven = await self._registrar.send(proof)
        except (link.LinkError, StatusError, OSError, RuntimeError) as error:
            log.warning("could not register container %s (%s): %s", info.name, info.id[:12], error)
            return None
        if not isinstance(proven, prove_client_pb2.Result):
            return None
        log.info("container %s (%s) is %s", info.name, info.id[:12], proven.spiffe_id)
        return proven.spiffe_id

    async def _withdraw(self, tracked: Tracked) -> None:
        """Remove a container client; kept (and retried on the next re-read) if the identity
        provider cannot be told now. Waits for trust: a restarted orchestrator's leftovers."""
        client_id = client_id_of(tracked.container_id)
        try:
            told = await self._registrar.send(Removal(client_id))
            done = told is not None
        except StatusError as error:
            done = error.status is Status.IDENTITY_CLIENT_UNKNOWN  # it forgot it already
        except link.LinkError:
            done = False
        if not done:
            tracked.first, tracked.spiffe_id = None, ""
            return
        log.info("container %s withdrawn", tracked.name or tracked.container_id[:12])
        self._tracked.pop(tracked.container_id, None)
        self._save()

    def _save(self) -> None:
        records = [
            RecordedInstance(t.app, client_id_of(t.container_id), t.first or _NOBODY)
            for t in self._tracked.values()
        ]
        try:
            save_state(self._state_file, records)
        except OSError as error:
            log.warning("cannot record the containers in %s: %s", self._state_file, error)
