"""Live reload (SIGHUP): a new request path from a re-read configuration, swapped in atomically.

The configuration is read, validated and its new parts built off the event loop; a failure
leaves everything as it was, with one log line. The swap happens on the event loop, between two
requests: a request admitted before it finishes on the request path that admitted it, later ones
use the new one. The key store, trust store (the identity provider's root), audit log and every
provider whose `[[provider]]` table is unchanged are shared by both paths; a removed provider is
closed once no request admitted by an older path is left.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from tessera.service.authenticators import Authenticator, PeerCredentials
from tessera.service.builder import (
    Assembly,
    Built,
    build_authenticators,
    build_dispatcher,
    build_providers,
)
from tessera.service.config import (
    AUTHENTICATOR_NAMES,
    ConfigError,
    ServiceConfig,
    running_config,
)
from tessera.service.dispatch import Admitted, Dispatcher
from tessera.service.providers.base import Provider
from tessera.service.quotas import Quotas
from tessera.wire.framing import Frame, FramingError
from tessera.wire.opcodes import AuthType

log = logging.getLogger(__name__)

_NAMES = {auth_type: name for name, auth_type in AUTHENTICATOR_NAMES.items()}  # as in the file
_DRAIN_POLL = 0.05  # seconds between checks that old request paths have finished


class _Generation:
    """One request path and how many requests it has admitted that are not finished."""

    __slots__ = ("_lock", "dispatcher", "in_flight")

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.in_flight = 0
        self._lock = threading.Lock()  # released from worker threads too

    def hold(self) -> None:
        with self._lock:
            self.in_flight += 1

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Bound:
    """A slow request tied to the request path that admitted it.

    It counts as in flight until it has run, or, unrun (its client went away, its tenant's
    queue was full), until it is dropped: so no path keeps a count for requests never executed.
    """

    __slots__ = ("done", "generation", "request")

    def __init__(self, generation: _Generation, request: Admitted) -> None:
        generation.hold()
        self.generation = generation
        self.request = request
        self.done = False

    def finish(self) -> None:
        if not self.done:
            self.done = True
            self.generation.release()

    def __del__(self) -> None:
        self.finish()

    @property
    def blocking(self) -> bool:
        return self.request.blocking

    @property
    def tenant(self) -> Hashable:
        return self.request.tenant


class LiveRequestPath:
    """The handler the front end holds: routes each request to the current dispatcher."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._current = _Generation(dispatcher)
        self._older: list[_Generation] = []

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher new requests go to."""
        return self._current.dispatcher

    def framing_error(self, error: FramingError) -> bytes:
        return self._current.dispatcher.framing_error(error)

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> _Bound | Admitted | bytes:
        generation = self._current
        admitted = generation.dispatcher.admit(frame, peer)
        if isinstance(admitted, bytes) or not admitted.blocking:
            # A fast request runs in the event-loop callback that admitted it (the front end
            # executes it at once), so no swap can come between: only slow ones, which wait
            # for a worker thread, need counting against the path that admitted them.
            return admitted
        return _Bound(generation, admitted)

    def execute(self, request: _Bound | Admitted) -> bytes:
        if not isinstance(request, _Bound):
            return self._current.dispatcher.execute(request)
        try:
            return request.generation.dispatcher.execute(request.request)
        finally:
            request.finish()

    def swap(self, dispatcher: Dispatcher) -> None:
        """New requests go to `dispatcher` from now on (call on the event loop)."""
        self._older.append(self._current)
        self._current = _Generation(dispatcher)

    def drained(self) -> bool:
        """True when no request admitted by an older dispatcher is unfinished."""
        self._older = [g for g in self._older if g.in_flight > 0]
        return not self._older

    async def wait_drained(self) -> None:
        """Return once every request admitted by an older dispatcher has finished."""
        while not self.drained():
            await asyncio.sleep(_DRAIN_POLL)


@dataclass
class Plan:
    """A validated new configuration with its new parts built, not yet in use."""

    config: ServiceConfig  # as it will run: restart-only settings kept from the running one
    kept_back: list[str]  # restart-only settings the file changed
    active: list[Built]
    added: list[Provider]
    removed: list[Provider]
    authenticators: dict[AuthType, Authenticator]

    def discard(self) -> None:
        """Close what was built for a plan that will not be used."""
        for provider in self.added:
            provider.close()


def prepare(assembly: Assembly, new: ServiceConfig) -> Plan:
    """Validate `new` against the running service and build its new parts (blocking: off the
    event loop). Raises ConfigError (or what a provider raises) and leaves nothing open."""
    config, kept_back = running_config(assembly.config, new)
    assert assembly.trust is not None
    kept = {provider.provider_id: (entry, provider) for entry, provider in assembly.active}
    active, added = build_providers(config, assembly.keystore, kept)
    try:
        authenticators = build_authenticators(config, assembly.trust)
    except BaseException:
        for provider in added:
            provider.close()
        raise
    now = {id(provider) for _, provider in active}
    removed = [provider for _, provider in assembly.active if id(provider) not in now]
    return Plan(config, kept_back, active, added, removed, authenticators)


def commit(assembly: Assembly, plan: Plan) -> Dispatcher:
    """Make `plan` the assembly's configuration and return its dispatcher (on the event loop)."""
    quotas = assembly.quotas
    if quotas is None:
        quotas = Quotas(plan.config.quotas, assembly.keystore, live=plan.config.live_directory)
    elif assembly.config.quotas != plan.config.quotas:
        quotas = quotas.reconfigured(plan.config.quotas)  # the shared buckets carry on
    assert assembly.trust is not None
    dispatcher = build_dispatcher(
        plan.config,
        assembly.keystore,
        [provider for _, provider in plan.active],
        plan.authenticators,
        trust=assembly.trust,
        audit=assembly.audit,
        quotas=quotas,
    )
    assembly.config = plan.config
    assembly.quotas = quotas
    assembly.active = plan.active
    assembly.providers.extend(plan.added)
    assembly.dispatcher = dispatcher
    return dispatcher


class Reloader:
    """Re-reads the configuration with `load` and swaps the request path of `path`."""

    def __init__(
        self, assembly: Assembly, path: LiveRequestPath, load: Callable[[], ServiceConfig]
    ) -> None:
        self._assembly = assembly
        self._path = path
        self._load = load
        self._closing: set[asyncio.Task[None]] = set()

    async def reload(self) -> ServiceConfig | None:
        """Apply the configuration file now; the configuration in force, or None if refused."""
        try:
            new = await asyncio.to_thread(self._load)
            plan = await asyncio.to_thread(prepare, self._assembly, new)
        except ConfigError as error:
            log.error("configuration reload refused, the running one stays: %s", error)
            return None
        except Exception as error:  # a provider that cannot be opened, say
            log.error("configuration reload failed, the running one stays: %s", error)
            return None
        self._path.swap(commit(self._assembly, plan))  # no await since the check: atomic
        config = plan.config
        logging.getLogger().setLevel(config.log_level.upper())
        for warning in config.warnings:
            logging.getLogger("tessera.service.config").warning("%s", warning)
        if plan.kept_back:
            log.warning("configuration reload: kept until a restart: %s", ", ".join(plan.kept_back))
        log.info(
            "configuration reloaded: authenticators %s; providers %s (added %s, removed %s)",
            ", ".join(_NAMES[t] for t in config.authenticators) or "none",
            _ids(provider for _, provider in plan.active),
            _ids(plan.added),
            _ids(plan.removed),
        )
        if plan.removed:
            task = asyncio.create_task(self._close_when_drained(plan.removed))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return config

    async def _close_when_drained(self, removed: list[Provider]) -> None:
        await self._path.wait_drained()
        for provider in removed:
            if provider in self._assembly.providers:  # else already closed at shutdown
                self._assembly.providers.remove(provider)
                try:
                    provider.close()
                except Exception:
                    log.exception("closing removed provider %d failed", provider.provider_id)
        log.info("removed providers closed: %s", _ids(removed))


def _ids(providers: Iterable[Provider]) -> str:
    return ", ".join(str(p.provider_id) for p in providers) or "none"
