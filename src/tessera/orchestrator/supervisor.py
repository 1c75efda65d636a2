"""The applications the orchestrator runs: the manifest's, and one-off launches.

Each instance has one task that owns its life (lifecycle.keep_running, with the hooks of
app_runner.py): start (or adopt, after an orchestrator restart), register with the identity
provider, wait for the exit, withdraw, and restart per policy with backoff. This module keeps
the set: which instances exist, which one-off applications should run, and the requests that
change them (launch, stop, restart), one at a time per application.

One-off applications (`tessera orchestrator run`) are recorded with the running instances, so
a restarted orchestrator takes them back like the manifest's: re-attached while they run, else
started again per their restart policy. An application stopped on request stays stopped until
it is restarted on request (a manifest application: or until the orchestrator next starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from tessera.config import ConfigError
from tessera.daemon.lifecycle import ENDED, State, keep_running, signal_group
from tessera.orchestrator import app_output
from tessera.orchestrator.app_runner import AppRunner
from tessera.orchestrator.config import AppSpec, OrchestratorConfig, parse_app
from tessera.orchestrator.instances import Instance
from tessera.orchestrator.refusals import Reason, RefusalError
from tessera.orchestrator.registrar import Registrar
from tessera.orchestrator.state import (
    RecordedInstance,
    RecordedLaunch,
    load_launches,
    load_state,
    save_state,
)
from tessera.trust.peer import Incarnation, is_alive

log = logging.getLogger(__name__)

HALT_GRACE = 10.0  # seconds an instance's task gets to withdraw it after its process ended
# Seconds a launch or restart waits for the identity provider to register what it started (or
# for its end); after that it returns with the identity pending (registered once it can be).
# Well under the control socket's own limit (control.LAUNCH_TIMEOUT).
REGISTRATION_WAIT = 20.0


class Supervisor:
    """Runs the applications and keeps the identity provider told."""

    def __init__(self, config: OrchestratorConfig, registrar: Registrar) -> None:
        self._config = config
        self._instances: dict[str, Instance] = {}
        self._apps: dict[str, AppSpec] = {app.name: app for app in config.apps}
        self._manifest = frozenset(self._apps)
        self._wanted: dict[str, bool] = {}  # one-off applications: whether they should run
        self._locks: dict[str, asyncio.Lock] = {}  # one request at a time per application
        self._runner = AppRunner(config, registrar, on_change=self._save, on_ended=self._ended)

    @property
    def instances(self) -> list[Instance]:
        """Every instance, in start order."""
        return list(self._instances.values())

    def apps(self) -> list[AppSpec]:
        """Every application (manifest and one-off launches)."""
        return list(self._apps.values())

    def is_one_off(self, name: str) -> bool:
        """True for an application launched with `run`, not from the manifest."""
        return name in self._wanted

    def instances_of(self, name: str) -> list[Instance]:
        """The instances of one application, by replica."""
        return [i for i in self._instances.values() if i.app.name == name]

    def log_file(self, name: str, replica: int = 0) -> Path:
        """Where an instance's output goes."""
        app = self._app(name)
        if replica >= max(app.replicas, 1):
            raise RefusalError(
                Reason.INVALID_REQUEST, f"{name!r} has no replica {replica} ({app.replicas} run)"
            )
        return app_output.log_file(self._config.state_dir, name, replica)

    def _app(self, name: str) -> AppSpec:
        app = self._apps.get(name)
        if app is None:
            raise RefusalError(Reason.NO_SUCH_APP, f"no app named {name!r}")
        return app

    async def start(self) -> None:
        """Re-attach to what a previous incarnation left running, then start the rest."""
        self._warn_about_shared_users()
        recorded = {r.client_id: r for r in load_state(self._config.state_file)}
        for app in self._config.apps:
            for replica in range(app.replicas):
                self._resume(Instance(app, replica), recorded.pop(f"{app.name}/{replica}", None))
        for launch in load_launches(self._config.state_file):
            self._resume_launch(launch, recorded)
        for leftover in recorded.values():
            # No longer in the manifest but still running: stop it rather than orphan it.
            if is_alive(leftover.incarnation):
                log.info("stopping %s: no longer in the manifest", leftover.client_id)
                signal_group(leftover.incarnation.pid, signal.SIGTERM)
        self._save()

    def _resume(self, instance: Instance, previous: RecordedInstance | None) -> None:
        """Start an instance, or re-attach to the process a previous incarnation recorded."""
        if previous is None or not is_alive(previous.incarnation):
            self._spawn_task(instance)
        elif previous.fingerprint in ("", instance.app.fingerprint):
            self._spawn_task(instance, previous)
        else:
            # Started from an older manifest (an upgrade): replace it, same identity.
            log.info(
                "replacing %s (pid %d): the manifest changed how it starts",
                instance.client_id,
                previous.incarnation.pid,
            )
            self._spawn_task(instance, replace=previous.incarnation)

    def _resume_launch(self, launch: RecordedLaunch, recorded: dict[str, RecordedInstance]) -> None:
        """Take back a recorded one-off application: re-attach, start or list it as stopped."""
        if launch.name in self._manifest:
            log.info("%s was launched with run but is now in the manifest", launch.name)
            return
        try:
            app = parse_app(launch.entry())
        except ConfigError as error:
            log.warning("dropping the one-off application %s: %s", launch.name, error)
            return
        self._apps[app.name] = app
        instance = Instance(app, 0, exit_status=launch.exit_status)
        previous = recorded.pop(instance.client_id, None)
        running = previous is not None and is_alive(previous.incarnation)
        if launch.wanted and not running:
            instance.exit_status = None  # it ended unseen: a failure, for its restart policy
        if launch.wanted and (running or app.restart != "never"):
            self._wanted[app.name] = True
            self._resume(instance, previous)
            return
        if previous is not None and running:  # we died while stopping it
            log.info("stopping %s: it was being stopped", instance.client_id)
            signal_group(previous.incarnation.pid, signal.SIGTERM)
        self._wanted[app.name] = False
        instance.state = State.STOPPED
        self._instances[instance.client_id] = instance

    def _warn_about_shared_users(self) -> None:
        """Applications running as the service's own user could read its key-encryption key:
        fine for development, not for isolation (docs/security.md)."""
        try:
            service_uid = self._config.service_socket.stat().st_uid
        except OSError:
            return
        shared = [app.name for app in self._config.apps if app.uid == service_uid]
        if shared:
            log.warning(
                "%s run as the security service's user: they are not isolated from its key "
                "store (set user= in the manifest; see docs/security.md)",
                ", ".join(shared),
            )

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def launch(self, app: AppSpec) -> Instance:
        """Start a one-off application (development); returns once it runs and is registered,
        once its first run ended (refused by the caller), or after REGISTRATION_WAIT.

        A name may be launched again once its previous one-off run has ended. A launch that
        could not start the process leaves nothing behind."""
        async with self._lock(app.name):
            if app.name in self._manifest:
                raise RefusalError(
                    Reason.NAME_IN_MANIFEST, f"an app named {app.name!r} is already in the manifest"
                )
            live = [i for i in self.instances_of(app.name) if i.state not in ENDED]
            if live:
                pid = live[0].incarnation.pid if live[0].incarnation else 0
                where = f" (pid {pid})" if pid else f" ({live[0].state})"
                raise RefusalError(
                    Reason.ALREADY_RUNNING,
                    f"an app named {app.name!r} is already running{where}: stop it first, "
                    "or choose another name",
                )
            before = (self._apps.get(app.name), self._instances.get(f"{app.name}/0"))
            self._apps[app.name] = app
            self._wanted[app.name] = True
            instance = Instance(app, 0)
            started = asyncio.Event()
            self._spawn_task(instance, started=started)
            await _until_registered([started])
            if instance.state is State.FAILED:
                self._forget_launch(app.name, *before)
                raise RefusalError(
                    Reason.START_FAILED, f"cannot start {app.name!r}: {instance.error}"
                )
            return instance

    def _forget_launch(self, name: str, app: AppSpec | None, instance: Instance | None) -> None:
        """Undo a launch that did not start: what was there before it comes back."""
        if app is None or instance is None:
            self._apps.pop(name, None)
            self._wanted.pop(name, None)
            self._instances.pop(f"{name}/0", None)
        else:
            self._apps[name] = app
            self._wanted[name] = False
            self._instances[instance.client_id] = instance
        self._save()

    async def stop_app(self, name: str) -> AppSpec:
        """Stop every instance of an application, and keep it stopped."""
        app = self._app(name)
        async with self._lock(name):
            await asyncio.gather(*(self._halt(i) for i in self.instances_of(name)))
            if name in self._wanted:
                self._wanted[name] = False
            self._save()
        return app

    async def restart_app(self, name: str) -> AppSpec:
        """Stop an application if it runs, then start each instance again; returns once they
        run and are registered, ended, or REGISTRATION_WAIT passed (or failed to start:
        RefusalError)."""
        app = self._app(name)
        async with self._lock(name):
            instances = self.instances_of(name)
            await asyncio.gather(*(self._halt(i) for i in instances))
            starts = []
            for instance in instances:
                instance.stopping = False
                instance.state = State.STARTING
                started = asyncio.Event()
                starts.append(started)
                self._spawn_task(instance, started=started)
            if name in self._wanted:
                self._wanted[name] = True
            await _until_registered(starts)
            failed = [i for i in instances if i.state is State.FAILED]
            if failed:
                raise RefusalError(Reason.START_FAILED, f"cannot start {name!r}: {failed[0].error}")
            for instance in instances:
                refusal = ended_unregistered(name, instance)
                if refusal is not None:
                    raise refusal
        return app

    async def _halt(self, instance: Instance) -> None:
        """Stop one instance for good: its process, then its task (withdrawing it)."""
        instance.stopping = True
        await self._runner.stop(instance)
        task = instance.task
        if task is not None and not task.done():
            # Its task withdraws the exited process; in backoff it only sleeps: cancel it.
            if instance.state is not State.BACKOFF:
                await asyncio.wait({task}, timeout=HALT_GRACE)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        await self._runner.stop(instance)  # a process its task started meanwhile
        if instance.state is not State.FAILED:
            instance.state = State.STOPPED
        instance.incarnation = None
        instance.process = None

    async def stop_all(self) -> None:
        """Stop every application (SIGTERM, then SIGKILL after the stop timeout)."""
        # What runs now runs again at the next start: the manifest, and the one-off
        # applications that restart "always" (the others were ended by us, not by a failure).
        wanted_next = {
            name: wanted and self._apps[name].restart == "always"
            for name, wanted in self._wanted.items()
        }
        for instance in self._instances.values():
            instance.stopping = True
        await asyncio.gather(*(self._runner.stop(i) for i in self._instances.values()))
        tasks = [i.task for i in self._instances.values() if i.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A process that started as the first pass looked (its task then cancelled) goes too.
        await asyncio.gather(*(self._runner.stop(i) for i in self._instances.values()))
        for instance in self._instances.values():
            instance.incarnation = None
            instance.process = None
            if instance.state not in ENDED:
                instance.state = State.STOPPED
        self._wanted = wanted_next
        self._save()

    async def replay(self, *, everything: bool) -> None:
        """Tell the identity provider about running instances: all of them after it restarted
        (`everything`), else those never registered (trust came after they started)."""
        for instance in list(self._instances.values()):
            if instance.state is not State.RUNNING or instance.incarnation is None:
                continue
            if everything or not (instance.spiffe_id or instance.registering):
                await self._runner.register(instance)

    def _spawn_task(
        self,
        instance: Instance,
        adopt: RecordedInstance | None = None,
        *,
        started: asyncio.Event | None = None,
        replace: Incarnation | None = None,
    ) -> None:
        self._instances[instance.client_id] = instance
        instance.adopt = adopt.incarnation if adopt is not None else None
        instance.outdated = replace
        instance.started = started
        instance.task = asyncio.create_task(keep_running(instance, self._runner))

    def _ended(self, instance: Instance) -> None:
        """An instance's task is over: a one-off application no longer wants to run."""
        if instance.app.name in self._wanted and not instance.stopping:
            self._wanted[instance.app.name] = False
        self._save()

    def _save(self) -> None:
        records = [
            RecordedInstance(i.app.name, i.client_id, i.incarnation, i.app.fingerprint)
            for i in self._instances.values()
            if i.incarnation is not None and i.state is State.RUNNING
        ]
        launches = []
        for name, wanted in self._wanted.items():
            app = self._apps[name]
            instance = self._instances.get(f"{name}/0")
            launches.append(
                RecordedLaunch(
                    name,
                    app.command,
                    str(app.working_dir) if app.working_dir else None,
                    app.env,
                    app.restart,
                    wanted,
                    instance.exit_status if instance is not None else None,
                )
            )
        save_state(self._config.state_file, records, launches)


async def _until_registered(started: list[asyncio.Event]) -> None:
    """Wait until every instance is registered or ended, for REGISTRATION_WAIT at most."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(REGISTRATION_WAIT):
            await asyncio.gather(*(event.wait() for event in started))


def ended_unregistered(name: str, instance: Instance) -> RefusalError | None:
    """START_FAILED for an instance whose run ended before it was registered, else None."""
    if instance.incarnation is not None or instance.spiffe_id:
        return None
    after = "" if instance.state in (State.STOPPED, State.FAILED) else "; it will be restarted"
    return RefusalError(
        Reason.START_FAILED,
        f"cannot start {name!r}: it exited with status {instance.exit_status} before it was "
        f"registered{after} (see: tessera orchestrator logs {name})",
    )
