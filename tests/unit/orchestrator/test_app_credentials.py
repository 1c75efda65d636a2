"""Who a manifest application runs as: its user, that user's groups, or the groups named."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd

import pytest

from tessera.config import ConfigError
from tessera.orchestrator.config import parse_app

ROOT = pwd.getpwuid(0)


def test_a_user_runs_with_its_own_groups() -> None:
    app = parse_app({"name": "a", "command": ["x"], "user": ROOT.pw_name})
    credentials = app.credentials()
    assert credentials is not None
    assert credentials.uid == 0 and credentials.gid == ROOT.pw_gid
    assert credentials.groups == tuple(sorted(set(os.getgrouplist(ROOT.pw_name, ROOT.pw_gid))))
    assert parse_app({"name": "a", "command": ["x"]}).credentials() is None


def test_named_groups_replace_the_users() -> None:
    other = next(g for g in grp.getgrall() if g.gr_gid != ROOT.pw_gid)
    app = parse_app(
        {"name": "a", "command": ["x"], "user": ROOT.pw_name, "group": other.gr_name, "groups": []}
    )
    credentials = app.credentials()
    assert credentials is not None
    assert (credentials.gid, credentials.groups) == (other.gr_gid, (other.gr_gid,))


def test_the_fingerprint_of_an_app_without_groups_is_unchanged() -> None:
    """Instances recorded before groups existed are re-attached after an upgrade, not replaced;
    naming groups is a change of how the app starts."""
    entry = {"name": "a", "command": ["x", "y"], "user": ROOT.pw_name, "env": {"K": "v"}}
    before = [["x", "y"], "", [["K", "v"]], ROOT.pw_name]
    expected = hashlib.sha256(json.dumps(before).encode()).hexdigest()
    assert parse_app(entry).fingerprint == expected
    assert parse_app(entry | {"groups": []}).fingerprint != expected


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"group": "no-such-group-ts"}, "no group named 'no-such-group-ts'"),
        ({"groups": ["root", "no-such-group-ts"]}, "no group named 'no-such-group-ts'"),
        ({"groups": "root"}, "groups must be a list of group names"),
        ({"group": 0}, "group must be a group name"),
    ],
)
def test_groups_must_exist(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_app({"name": "a", "command": ["x"], "user": ROOT.pw_name} | extra)
