"""The CLI's per-command context: the clients it makes are closed, whichever came first."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tessera.cli._common import Context


def test_the_operation_client_made_first_is_closed_when_the_client_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = Context(argparse.Namespace(endpoint=f"unix:{tmp_path / 'absent.sock'}"))
    first = context.operations  # as a command on a key looks the key up
    closed: list[object] = []
    monkeypatch.setattr(first, "close", lambda: closed.append(first))
    client = context.client  # then needs the idiomatic client
    assert closed == [first]
    assert context.operations is client.operations
    context.close()
