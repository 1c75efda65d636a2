"""Applications started as a manifest `user` run with that user's groups, never root's.

The orchestrator must be root to switch users (CI runs the tests as root; elsewhere the test
that switches is skipped). Each application's groups are read from /proc/<pid>/status.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import list_apps_pb2
from tests.support import (
    RunningService,
    call,
    start_identity,
    start_orchestrator,
    start_service,
    stop_service,
)

SLEEP = shutil.which("sleep") or "/bin/sleep"


def app_user() -> pwd.struct_passwd:
    """A non-root user, one with supplementary groups if there is one (initgroups shows)."""
    users = [u for u in pwd.getpwall() if u.pw_uid != 0]
    with_groups = [u for u in users if len(set(os.getgrouplist(u.pw_name, u.pw_gid))) > 1]
    named = [u for u in users if u.pw_name == "nobody"]
    chosen = (with_groups or named or users)[:1]
    if not chosen:
        pytest.skip("no non-root user on this machine")
    return chosen[0]


def other_groups(user: pwd.struct_passwd) -> list[grp.struct_group]:
    """Two groups that are neither root's nor the user's own."""
    own = set(os.getgrouplist(user.pw_name, user.pw_gid))
    found = [g for g in grp.getgrall() if g.gr_gid != 0 and g.gr_gid not in own][:2]
    if len(found) < 2:
        pytest.skip("this machine has too few groups")
    return found


def groups_of(pid: int) -> tuple[list[int], list[int], list[int]]:
    """(uids, gids, supplementary groups) from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = [int(v) for v in value.split()] if key in ("Uid", "Gid", "Groups") else []
    return fields["Uid"], fields["Gid"], sorted(fields["Groups"])


def pids(control: Path) -> dict[str, int]:
    response = call(control, Opcode.LIST_APPS, list_apps_pb2.Operation())
    apps = list_apps_pb2.Result.FromString(response.body).apps
    return {a.name: a.instances[0].pid for a in apps if a.instances and a.instances[0].pid}


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ts-grp-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running_apps(base: Path, apps: str) -> Iterator[dict[str, int]]:
    """The three daemons running the manifest `apps`; the pids of its applications."""
    manifest = base / "manifest.toml"
    manifest.write_text(apps)
    expected = apps.count("[[app]]")
    daemons: list[RunningService] = []
    try:
        daemons.append(start_service(base / "svc", "--auth", "jwt"))
        daemons.append(start_identity(base / "idp", daemons[0].socket_path))
        daemons.append(
            start_orchestrator(
                base / "orch",
                service_socket=daemons[0].socket_path,
                identity_socket=daemons[1].socket_path,
                manifest=manifest,
            )
        )
        deadline = time.monotonic() + 20
        while len(running := pids(daemons[2].socket_path)) < expected:
            assert time.monotonic() < deadline, daemons[2].log()
            time.sleep(0.05)
        yield running
    finally:
        for daemon in reversed(daemons):
            stop_service(daemon)


AS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching users needs root (CI runs the tests as root)"
)


@AS_ROOT
def test_an_app_runs_with_its_users_groups_not_roots(base: Path) -> None:
    user = app_user()
    app = f'[[app]]\nname = "own"\ncommand = ["{SLEEP}", "300"]\nuser = "{user.pw_name}"\n'
    with running_apps(base, app) as running:
        uids, gids, groups = groups_of(running["own"])
    assert set(uids) == {user.pw_uid}
    assert set(gids) == {user.pw_gid}  # not 0: not root's group
    assert groups == sorted(set(os.getgrouplist(user.pw_name, user.pw_gid)))  # initgroups
    assert 0 not in groups or user.pw_gid == 0


@AS_ROOT
def test_an_app_runs_with_the_groups_its_manifest_names(base: Path) -> None:
    user = app_user()
    primary, extra = other_groups(user)
    app = f"""
[[app]]
name = "named"
command = ["{SLEEP}", "300"]
user = "{user.pw_name}"
group = "{primary.gr_name}"
groups = ["{extra.gr_name}"]
"""
    with running_apps(base, app) as running:
        uids, gids, groups = groups_of(running["named"])
    assert set(uids) == {user.pw_uid}
    assert set(gids) == {primary.gr_gid}
    assert groups == sorted({primary.gr_gid, extra.gr_gid})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('user = "no-such-user-ts"', "app x: no user named 'no-such-user-ts'"),
        ('user = "root"\ngroup = "no-such-group-ts"', "app x: no group named 'no-such-group-ts'"),
        (
            'user = "root"\ngroups = ["no-such-group-ts"]',
            "app x: no group named 'no-such-group-ts'",
        ),
        ('group = "root"', "app x: group and groups need user"),
    ],
)
def test_a_manifest_naming_a_missing_user_or_group_is_refused_in_one_line(
    base: Path, entry: str, message: str
) -> None:
    manifest = base / "manifest.toml"
    manifest.write_text(f'[[app]]\nname = "x"\ncommand = ["{SLEEP}"]\n{entry}\n')
    state = base / "orch"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "tessera.cli.main", "orchestrator", "--allow-root"),
            *("--state-dir", str(state), "--manifest", str(manifest)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    # One line: the file and line of the [[app]] entry, then the reason.
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"tessera: {manifest}:") and line.endswith(message), line
