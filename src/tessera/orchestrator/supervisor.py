"""Starting, watching, restarting and stopping the applications of the manifest.

Each instance has one task that owns its life: start (or adopt, after an orchestrator restart),
register with the identity provider, wait for the exit, withdraw, and restart per policy with
exponential backoff. Applications run in their own session, so stopping one stops its whole
process group, and a terminal's Ctrl-C reaches the orchestrator only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field

from tessera.orchestrator.config import AppSpec, OrchestratorConfig
from tessera.orchestrator.registrar import Registrar
from tessera.orchestrator.state import RecordedInstance, load_state, save_state
from tessera.trust.peer import Incarnation, incarnation_of, is_alive

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 10.0  # seconds of running that reset the backoff
ADOPTED_POLL = 0.2
_ENDED = frozenset({"stopped", "failed"})  # an instance's task is over


@dataclass
class Instance:
    """One replica of an application."""

    app: AppSpec
    replica: int
    state: str = "starting"
    restarts: int = 0
    incarnation: Incarnation | None = None
    spiffe_id: str = ""
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    stopping: bool = False
    registering: bool = False

    @property
    def client_id(self) -> str:
        """The identity provider's name for this replica."""
        return f"{self.app.name}/{self.replica}"


class Supervisor:
    """Runs the applications and keeps the identity provider told."""

    def __init__(self, config: OrchestratorConfig, registrar: Registrar) -> None:
        self._config = config
        self._registrar = registrar
        self._instances: dict[str, Instance] = {}
        self._apps: dict[str, AppSpec] = {app.name: app for app in config.apps}
        self._manifest = frozenset(self._apps)

    @property
    def instances(self) -> list[Instance]:
        """Every instance, in start order."""
        return list(self._instances.values())

    def apps(self) -> list[AppSpec]:
        """Every application (manifest and one-off launches)."""
        return list(self._apps.values())

    async def start(self) -> None:
        """Re-attach to what a previous incarnation left running, then start the rest."""
        self._warn_about_shared_users()
        recorded = {r.client_id: r for r in load_state(self._config.state_file)}
        for app in self._config.apps:
            for replica in range(app.replicas):
                instance = Instance(app, replica)
                previous = recorded.pop(instance.client_id, None)
                if previous is None or not is_alive(previous.incarnation):
                    self._spawn_task(instance, None)
                elif previous.fingerprint in ("", app.fingerprint):
                    self._spawn_task(instance, previous)
                else:
                    # Started from an older manifest (an upgrade): replace it, same identity.
                    log.info(
                        "replacing %s (pid %d): the manifest changed how it starts",
                        instance.client_id,
                        previous.incarnation.pid,
                    )
                    self._spawn_task(instance, None, replace=previous.incarnation)
        for leftover in recorded.values():
            # No longer in the manifest but still running: stop it rather than orphan it.
            if is_alive(leftover.incarnation):
                log.info("stopping %s: no longer in the manifest", leftover.client_id)
                _signal_group(leftover.incarnation.pid, signal.SIGTERM)
        self._save()

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

    async def launch(self, app: AppSpec) -> Instance:
        """Start a one-off application (development); returns once it runs and is registered.

        A name may be launched again once its previous one-off run has ended."""
        if app.name in self._manifest:
            raise ValueError(f"an application named {app.name!r} is in the manifest")
        if any(i.app.name == app.name and i.state not in _ENDED for i in self._instances.values()):
            raise ValueError(f"an application named {app.name!r} already runs")
        self._apps[app.name] = app
        instance = Instance(app, 0)
        started = asyncio.Event()
        self._spawn_task(instance, None, started)
        await started.wait()
        return instance

    async def stop_all(self) -> None:
        """Stop every application (SIGTERM, then SIGKILL after the stop timeout)."""
        for instance in self._instances.values():
            instance.stopping = True
        await asyncio.gather(*(self._stop(i) for i in self._instances.values()))
        tasks = [i.task for i in self._instances.values() if i.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A process that started as the first pass looked (its task then cancelled) goes too.
        await asyncio.gather(*(self._stop(i) for i in self._instances.values()))
        self._instances.clear()
        self._save()

    async def replay(self, *, everything: bool) -> None:
        """Tell the identity provider about running instances: all of them after it restarted
        (`everything`), else those never registered (trust came after they started)."""
        for instance in list(self._instances.values()):
            if instance.state != "running" or instance.incarnation is None:
                continue
            if everything or not (instance.spiffe_id or instance.registering):
                await self._register(instance)

    def _spawn_task(
        self,
        instance: Instance,
        adopt: RecordedInstance | None,
        started: asyncio.Event | None = None,
        *,
        replace: Incarnation | None = None,
    ) -> None:
        self._instances[instance.client_id] = instance
        instance.task = asyncio.create_task(self._keep_running(instance, adopt, started, replace))

    async def _keep_running(
        self,
        instance: Instance,
        adopt: RecordedInstance | None,
        started: asyncio.Event | None,
        replace: Incarnation | None,
    ) -> None:
        backoff = BACKOFF_START
        loop = asyncio.get_running_loop()
        if replace is not None:  # an outdated process of this instance: it goes first
            await self._terminate(replace, None)
            await self._registrar.unregister(instance.client_id, replace)
        while not instance.stopping:
            began = loop.time()
            if adopt is not None:
                instance.incarnation = adopt.incarnation
                instance.process = None
                adopt = None
                log.info("re-attached to %s (pid %d)", instance.client_id, instance.incarnation.pid)
            elif not await self._start_process(instance):
                if started is not None:
                    started.set()
                return
            instance.state = "running"
            self._save()
            await self._register(instance)
            if started is not None:
                started.set()
                started = None
            failed = await self._wait_exit(instance)
            instance.state = "exited"
            await self._registrar.unregister(instance.client_id, instance.incarnation)
            instance.incarnation = None
            self._save()
            policy = instance.app.restart
            if instance.stopping or policy == "never" or (policy == "on-failure" and not failed):
                instance.state = "stopped"
                return
            if loop.time() - began > STABLE_AFTER:
                backoff = BACKOFF_START
            instance.state = "backoff"
            instance.restarts += 1
            log.info("restarting %s in %.1f s", instance.client_id, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _environment(self, instance: Instance) -> dict[str, str]:
        """The environment an instance's process starts with."""
        env = dict(os.environ)
        env.update(
            PARSEC_SERVICE_ENDPOINT=f"unix:{self._config.service_socket}",
            TESSERA_IDENTITY_ENDPOINT=f"unix:{self._config.identity_socket}",
            TESSERA_APP_NAME=instance.app.name,
            TESSERA_CLIENT_ID=instance.client_id,
        )
        env.update(dict(self._config.extra_env))
        env.update(dict(instance.app.env))
        return env

    async def _start_process(self, instance: Instance) -> bool:
        app = instance.app
        env = self._environment(instance)
        try:
            if app.user:  # only the standard event loop can switch users (see daemon.py)
                process = await asyncio.create_subprocess_exec(
                    *app.command,
                    cwd=app.working_dir,
                    env=env,
                    start_new_session=True,
                    user=app.user,
                )
            else:
                process = await asyncio.create_subprocess_exec(
                    *app.command, cwd=app.working_dir, env=env, start_new_session=True
                )
        except (OSError, ValueError) as error:
            log.error("cannot start %s: %s", instance.client_id, error)
            instance.state = "failed"
            return False
        instance.process = process
        instance.incarnation = incarnation_of(process.pid)
        if instance.incarnation is None:  # it already exited: its wait() returns at once
            instance.incarnation = Incarnation(process.pid, 0)
        log.info("started %s (pid %d)", instance.client_id, process.pid)
        return True

    async def _register(self, instance: Instance) -> None:
        incarnation = instance.incarnation
        if incarnation is None:
            return
        app = instance.app
        instance.registering = True
        try:
            spiffe_id = await self._registrar.register(
                instance.client_id,
                name=app.name,
                command=list(app.command),
                user=app.user_name,
                uid=app.uid,
                process=incarnation,
                search_path=self._environment(instance).get("PATH"),
                cwd=app.working_dir,
            )
        finally:
            instance.registering = False
        if spiffe_id:
            instance.spiffe_id = spiffe_id

    async def _wait_exit(self, instance: Instance) -> bool:
        """Wait for the instance to exit; True if it failed (non-zero, or unknown for adoptees)."""
        if instance.process is not None:
            return await instance.process.wait() != 0
        incarnation = instance.incarnation
        while incarnation is not None and is_alive(incarnation):
            await asyncio.sleep(ADOPTED_POLL)
        return True

    async def _stop(self, instance: Instance) -> None:
        incarnation = instance.incarnation
        if incarnation is None or not is_alive(incarnation):
            return
        await self._terminate(incarnation, instance.process)
        await self._registrar.unregister(instance.client_id, incarnation)

    async def _terminate(
        self, incarnation: Incarnation, process: asyncio.subprocess.Process | None
    ) -> None:
        """SIGTERM the process group, SIGKILL it after the stop timeout; wait for the end."""
        _signal_group(incarnation.pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.stop_timeout
        while is_alive(incarnation) and loop.time() < deadline:
            if process is not None and process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        if is_alive(incarnation):
            _signal_group(incarnation.pid, signal.SIGKILL)
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                await process.wait()

    def _save(self) -> None:
        records = [
            RecordedInstance(i.app.name, i.client_id, i.incarnation, i.app.fingerprint)
            for i in self._instances.values()
            if i.incarnation is not None and i.state == "running"
        ]
        save_state(self._config.state_file, records)


def _signal_group(pid: int, signum: int) -> None:
    """Signal the process group the application leads (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
