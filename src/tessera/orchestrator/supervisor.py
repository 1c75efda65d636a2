"""Starting, watching, restarting and stopping the applications of the manifest.

Each instance has one task that owns its life: start (or adopt, after an orchestrator restart),
register with the identity provider, wait for the exit, withdraw, and restart per policy with
exponential backoff. Applications run in their own session, so stopping one stops its whole
process group, and a terminal's Ctrl-C reaches the orchestrator only. Their output goes to a log
file per instance (app_output).

One-off applications (`tessera orchestrator run`) are recorded with the running instances, so
a restarted orchestrator takes them back like the manifest's: re-attached while they run, else
started again per their restart policy. An application stopped on request stays stopped until
it is restarted on request (a manifest application: or until the orchestrator next starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.config import ConfigError
from tessera.orchestrator import app_output
from tessera.orchestrator.config import AppSpec, OrchestratorConfig, parse_app
from tessera.orchestrator.refusals import Reason, RefusalError
from tessera.orchestrator.registrar import Registrar
from tessera.orchestrator.state import (
    RecordedInstance,
    RecordedLaunch,
    load_launches,
    load_state,
    save_state,
)
from tessera.trust.peer import Incarnation, incarnation_of, is_alive

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 10.0  # seconds of running that reset the backoff
ADOPTED_POLL = 0.2
HALT_GRACE = 10.0  # seconds an instance's task gets to withdraw it after its process ended
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
    exit_status: int | None = None  # the last run's (< 0: killed by that signal); None: unseen
    error: str = ""  # why the last start failed

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
        self._wanted: dict[str, bool] = {}  # one-off applications: whether they should run
        self._locks: dict[str, asyncio.Lock] = {}  # one request at a time per application
        self._copier = app_output.Copier()
        self._followers: set[asyncio.Task[None]] = set()

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
                _signal_group(leftover.incarnation.pid, signal.SIGTERM)
        self._save()

    def _resume(self, instance: Instance, previous: RecordedInstance | None) -> None:
        """Start an instance, or re-attach to the process a previous incarnation recorded."""
        if previous is None or not is_alive(previous.incarnation):
            self._spawn_task(instance, None)
        elif previous.fingerprint in ("", instance.app.fingerprint):
            self._spawn_task(instance, previous)
        else:
            # Started from an older manifest (an upgrade): replace it, same identity.
            log.info(
                "replacing %s (pid %d): the manifest changed how it starts",
                instance.client_id,
                previous.incarnation.pid,
            )
            self._spawn_task(instance, None, replace=previous.incarnation)

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
            _signal_group(previous.incarnation.pid, signal.SIGTERM)
        self._wanted[app.name] = False
        instance.state = "stopped"
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
        """Start a one-off application (development); returns once it runs and is registered.

        A name may be launched again once its previous one-off run has ended. A launch that
        could not start the process leaves nothing behind."""
        async with self._lock(app.name):
            if app.name in self._manifest:
                raise RefusalError(
                    Reason.NAME_IN_MANIFEST, f"an app named {app.name!r} is already in the manifest"
                )
            live = [i for i in self.instances_of(app.name) if i.state not in _ENDED]
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
            self._spawn_task(instance, None, started)
            await started.wait()
            if instance.state == "failed":
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
        run and are registered (or failed to start: RefusalError)."""
        app = self._app(name)
        async with self._lock(name):
            instances = self.instances_of(name)
            await asyncio.gather(*(self._halt(i) for i in instances))
            starts = []
            for instance in instances:
                instance.stopping = False
                instance.state = "starting"
                started = asyncio.Event()
                starts.append(started.wait())
                self._spawn_task(instance, None, started)
            if name in self._wanted:
                self._wanted[name] = True
            await asyncio.gather(*starts)
            failed = [i for i in instances if i.state == "failed"]
            if failed:
                raise RefusalError(Reason.START_FAILED, f"cannot start {name!r}: {failed[0].error}")
        return app

    async def _halt(self, instance: Instance) -> None:
        """Stop one instance for good: its process, then its task (withdrawing it)."""
        instance.stopping = True
        await self._stop(instance)
        task = instance.task
        if task is not None and not task.done():
            # Its task withdraws the exited process; in backoff it only sleeps: cancel it.
            if instance.state != "backoff":
                await asyncio.wait({task}, timeout=HALT_GRACE)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        await self._stop(instance)  # a process its task started meanwhile
        instance.state = "failed" if instance.state == "failed" else "stopped"
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
        await asyncio.gather(*(self._stop(i) for i in self._instances.values()))
        tasks = [i.task for i in self._instances.values() if i.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A process that started as the first pass looked (its task then cancelled) goes too.
        await asyncio.gather(*(self._stop(i) for i in self._instances.values()))
        for instance in self._instances.values():
            instance.incarnation = None
            instance.process = None
            if instance.state not in _ENDED:
                instance.state = "stopped"
        self._wanted = wanted_next
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
                offset = self._log_size(instance)
                log.info("re-attached to %s (pid %d)", instance.client_id, instance.incarnation.pid)
            else:
                start = await self._start_process(instance)
                if start is None:
                    if started is not None:
                        started.set()
                    self._ended(instance)
                    return
                offset = start
            instance.state = "running"
            instance.error = ""
            self._save()
            output_done = self._follow(instance, offset)
            try:
                await self._register(instance)
                if started is not None:
                    started.set()
                    started = None
                instance.exit_status = await self._wait_exit(instance)
            finally:
                output_done.set()
            instance.state = "exited"
            await self._registrar.unregister(instance.client_id, instance.incarnation)
            instance.incarnation = None
            self._save()
            policy = instance.app.restart
            failed = instance.exit_status != 0  # unseen (None): a failure
            if instance.stopping or policy == "never" or (policy == "on-failure" and not failed):
                break
            if loop.time() - began > STABLE_AFTER:
                backoff = BACKOFF_START
            instance.state = "backoff"
            instance.restarts += 1
            log.info("restarting %s in %.1f s", instance.client_id, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        instance.state = "stopped"
        self._ended(instance)

    def _ended(self, instance: Instance) -> None:
        """An instance's task is over: a one-off application no longer wants to run."""
        if instance.app.name in self._wanted and not instance.stopping:
            self._wanted[instance.app.name] = False
        self._save()

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

    def _instance_log(self, instance: Instance) -> Path:
        return app_output.log_file(self._config.state_dir, instance.app.name, instance.replica)

    def _log_size(self, instance: Instance) -> int:
        try:
            return self._instance_log(instance).stat().st_size
        except OSError:
            return 0

    def _follow(self, instance: Instance, offset: int) -> asyncio.Event:
        """Copy the instance's new output onto our stdout until the returned event is set."""
        done = asyncio.Event()
        task = asyncio.create_task(self._copier.follow(self._instance_log(instance), offset, done))
        self._followers.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._followers.discard)
        return done

    async def _start_process(self, instance: Instance) -> int | None:
        """Start the instance's process; the size its log had before (where its output
        starts), or None if it could not start (`instance.error` says why)."""
        app = instance.app
        env = self._environment(instance)
        try:
            output = app_output.open_for_append(self._instance_log(instance))
        except (OSError, ConfigError) as error:
            self._not_started(instance, f"its log file: {error}")
            return None
        try:
            offset = os.fstat(output).st_size
            process = await asyncio.create_subprocess_exec(
                *app.command,
                cwd=app.working_dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
                **_switch_user(app),
            )
        except KeyError as error:  # the user or a group was deleted since the manifest was read
            self._not_started(instance, f"no user or group named {error}")
            return None
        except (OSError, ValueError) as error:
            self._not_started(instance, _why_not_started(app, error))
            return None
        finally:
            os.close(output)
        instance.process = process
        instance.incarnation = incarnation_of(process.pid)
        if instance.incarnation is None:  # it already exited: its wait() returns at once
            instance.incarnation = Incarnation(process.pid, 0)
        log.info("started %s (pid %d)", instance.client_id, process.pid)
        return offset

    def _not_started(self, instance: Instance, why: str) -> None:
        log.error("cannot start %s: %s", instance.client_id, why)
        instance.state = "failed"
        instance.error = why

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

    async def _wait_exit(self, instance: Instance) -> int | None:
        """Wait for the instance to exit; its exit status (None for an adopted process, which
        is not our child)."""
        if instance.process is not None:
            return await instance.process.wait()
        incarnation = instance.incarnation
        while incarnation is not None and is_alive(incarnation):
            await asyncio.sleep(ADOPTED_POLL)
        return None

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


def _why_not_started(app: AppSpec, error: OSError | ValueError) -> str:
    """One line on why a command did not start (uvloop's errors name no file: look)."""
    if not isinstance(error, OSError):
        return str(error)
    reason = error.strerror or str(error)
    directory = app.working_dir
    if directory is not None and (error.filename == str(directory) or not directory.is_dir()):
        return f"its working directory {directory}: {reason}"
    program = app.command[0]
    if isinstance(error, FileNotFoundError) and "/" not in program:
        return f"no executable {program!r} on its PATH"
    return f"{program}: {reason}"


def _switch_user(app: AppSpec) -> dict[str, Any]:
    """How the child becomes the manifest's user (only the standard event loop can do it).

    The user's own groups, never the orchestrator's (root's): uid, primary gid and
    supplementary groups all change in the child before exec. Without root a user can only
    "switch" to itself and cannot set groups: then only the uid is passed (unless the manifest
    names groups, which then fail to start with a clear error)."""
    credentials = app.credentials()
    if credentials is None:
        return {}
    if os.geteuid() != 0 and app.group is None and app.groups is None:
        return {"user": credentials.uid}
    return {
        "user": credentials.uid,
        "group": credentials.gid,
        "extra_groups": list(credentials.groups),
    }


def _signal_group(pid: int, signum: int) -> None:
    """Signal the process group the application leads (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)
