"""One replica of an application, and how its process starts: the manifest's command, user,
working directory and environment, its output into its log file, in a session of its own (so
stopping it stops its whole process group, and a terminal's Ctrl-C reaches the orchestrator
only)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.config import ConfigError
from tessera.daemon.lifecycle import Supervised
from tessera.orchestrator import app_output
from tessera.orchestrator.config import AppSpec
from tessera.trust.peer import Incarnation

log = logging.getLogger(__name__)


@dataclass
class Instance(Supervised):
    """One replica of an application."""

    app: AppSpec
    replica: int
    spiffe_id: str = ""
    registering: bool = False
    adopt: Incarnation | None = None  # left running by a previous orchestrator: re-attach
    outdated: Incarnation | None = None  # started from an older manifest: stopped first
    output_offset: int = 0  # where the current run's output starts in its log file
    # Set once it runs and is registered, or once a run or its task is over (a launch waits
    # for it, REGISTRATION_WAIT at most).
    started: asyncio.Event | None = field(default=None, repr=False)

    @property
    def client_id(self) -> str:
        """The identity provider's name for this replica."""
        return f"{self.app.name}/{self.replica}"

    @property
    def label(self) -> str:
        return self.client_id


async def start_process(instance: Instance, env: Mapping[str, str], log_path: Path) -> bool:
    """Start the instance's process, its output going to `log_path`; False if it could not
    start (`error` says why)."""
    app = instance.app
    new_log = not log_path.exists()
    try:
        output = app_output.open_for_append(log_path)
    except (OSError, ConfigError) as error:
        return _not_started(instance, f"its log file: {error}")
    try:
        instance.output_offset = os.fstat(output).st_size
        process = await asyncio.create_subprocess_exec(
            *app.command,
            cwd=app.working_dir,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
            **_switch_user(app),
        )
    except KeyError as error:  # the user or a group was deleted since the manifest was read
        why = f"no user or group named {error}"
    except (OSError, ValueError) as error:
        why = _why_not_started(app, error)
    else:
        instance.attach(process)
        log.info("started %s (pid %d)", instance.client_id, process.pid)
        return True
    finally:
        os.close(output)
    if new_log:  # a start that was refused leaves nothing behind
        app_output.remove_if_empty(log_path)
    return _not_started(instance, why)


def _not_started(instance: Instance, why: str) -> bool:
    log.error("cannot start %s: %s", instance.client_id, why)
    instance.error = why
    return False


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
