"""The life of one application instance, on the shared lifecycle (daemon/lifecycle.py), with the
identity provider told of it: each start is defined and proven (the registrar), each exit
withdrawn. Its output is copied onto our standard output while it runs (app_output).

An instance left running by a previous orchestrator is re-attached rather than started again;
one started from an older manifest (an upgrade) is stopped first, and its successor keeps its
identity.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from tessera.daemon.lifecycle import terminate, wait_exit
from tessera.orchestrator import app_output
from tessera.orchestrator.config import OrchestratorConfig
from tessera.orchestrator.instances import Instance, start_process
from tessera.orchestrator.registrar import Registrar
from tessera.trust.peer import Incarnation, is_alive

log = logging.getLogger(__name__)


class AppRunner:
    """The lifecycle hooks of application instances (`Hooks[Instance]`)."""

    def __init__(
        self,
        config: OrchestratorConfig,
        registrar: Registrar,
        *,
        on_change: Callable[[], None],
        on_ended: Callable[[Instance], None],
    ) -> None:
        self._config = config
        self._registrar = registrar
        self._on_change = on_change  # what runs changed: record it
        self._on_ended = on_ended
        self._copier = app_output.Copier()
        self._followers: set[asyncio.Task[None]] = set()

    # -- the hooks ---------------------------------------------------------------------------

    async def start(self, instance: Instance) -> bool:
        """Start the instance's process, or re-attach to the one recorded for it."""
        if instance.outdated is not None:  # an outdated process of this instance goes first
            await self.terminate(instance.outdated, None, instance.label)
            await self._registrar.unregister(instance.client_id, instance.outdated)
            instance.outdated = None
        if instance.adopt is not None:
            instance.incarnation, instance.adopt = instance.adopt, None
            instance.process = None
            instance.output_offset = self._log_size(instance)
            log.info("re-attached to %s (pid %d)", instance.client_id, instance.incarnation.pid)
            return True
        return await start_process(instance, self.environment(instance), self.log_path(instance))

    async def watch(self, instance: Instance) -> int | None:
        """Record it, follow its output and register it; its exit status once it ended."""
        self._on_change()
        output_done = self._follow(instance)
        try:
            await self.register(instance)
            return await wait_exit(instance)
        finally:
            output_done.set()

    async def exited(self, instance: Instance) -> None:
        """Withdraw the run that ended (a launch waiting for its registration goes on)."""
        await self._registrar.unregister(instance.client_id, instance.incarnation)
        instance.incarnation = None
        self._on_change()
        if instance.started is not None:
            instance.started.set()

    def restart_wanted(self, instance: Instance) -> bool:
        """As its restart policy says (an exit nobody saw counts as a failure)."""
        policy = instance.app.restart
        return policy == "always" or (policy == "on-failure" and instance.exit_status != 0)

    def ended(self, instance: Instance) -> None:
        """Its task is over: a launch waiting for it goes on."""
        if instance.started is not None:
            instance.started.set()
        self._on_ended(instance)

    # -- what the supervisor asks of an instance -----------------------------------------------

    async def register(self, instance: Instance) -> None:
        """Define and prove the running process at the identity provider (as far as it can
        be now: what is missed is replayed once trust exists)."""
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
                search_path=self.environment(instance).get("PATH"),
                cwd=app.working_dir,
            )
        finally:
            instance.registering = False
        if spiffe_id:
            instance.spiffe_id = spiffe_id
            if instance.started is not None:  # a launch waiting for it goes on
                instance.started.set()

    async def stop(self, instance: Instance) -> None:
        """Stop the instance's process if it runs, and withdraw it."""
        incarnation = instance.incarnation
        if incarnation is None or not is_alive(incarnation):
            return
        await self.terminate(incarnation, instance.process, instance.label)
        await self._registrar.unregister(instance.client_id, incarnation)

    async def terminate(
        self, incarnation: Incarnation, process: asyncio.subprocess.Process | None, label: str
    ) -> None:
        """SIGTERM its process group, SIGKILL after the configured stop timeout."""
        await terminate(incarnation, process, self._config.stop_timeout, label)

    def environment(self, instance: Instance) -> dict[str, str]:
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

    def log_path(self, instance: Instance) -> Path:
        """Where the instance's output goes."""
        return app_output.log_file(self._config.state_dir, instance.app.name, instance.replica)

    def _log_size(self, instance: Instance) -> int:
        try:
            return self.log_path(instance).stat().st_size
        except OSError:
            return 0

    def _follow(self, instance: Instance) -> asyncio.Event:
        """Copy the instance's new output onto our stdout until the returned event is set."""
        done = asyncio.Event()
        follow = self._copier.follow(self.log_path(instance), instance.output_offset, done)
        task = asyncio.create_task(follow)
        self._followers.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._followers.discard)
        return done
