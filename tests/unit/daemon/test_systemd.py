"""The systemd protocols' edges that need no daemon: whose LISTEN_FDS, and where notices go.

The daemon taking a passed socket and notifying READY=1/STOPPING=1 is tested with real sockets
in tests/integration/test_systemd.py.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tessera.daemon import systemd


def test_descriptors_meant_for_another_process_are_left_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert systemd.inherited_listener(tmp_path / "s.sock") is None
    # Read once and forgotten: applications the daemon starts never see them.
    assert "LISTEN_PID" not in os.environ
    assert "LISTEN_FDS" not in os.environ


def test_no_variables_no_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LISTEN_PID", raising=False)
    monkeypatch.delenv("LISTEN_FDS", raising=False)
    assert systemd.inherited_listener(tmp_path / "s.sock") is None


def test_malformed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LISTEN_PID", "self")
    monkeypatch.setenv("LISTEN_FDS", "1")
    assert systemd.inherited_listener(tmp_path / "s.sock") is None


def test_notify_sends_one_datagram(monkeypatch: pytest.MonkeyPatch, short_tmp: Path) -> None:
    address = os.fspath(short_tmp / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(address)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        assert systemd.notify("READY=1")
        assert receiver.recv(100) == b"READY=1"


def test_notify_without_systemd_or_with_nonsense_is_silent(
    monkeypatch: pytest.MonkeyPatch, short_tmp: Path
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not systemd.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/path")
    assert not systemd.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", os.fspath(short_tmp / "nobody-listens"))
    assert not systemd.notify("READY=1")  # logged, never raised: the daemon keeps serving
