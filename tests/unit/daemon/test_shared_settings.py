"""The settings the daemons share are read by one reader each (daemon/config_schema.py): the
listener's timeouts and connection shares, the socket group, the command-line overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tessera.config import ConfigError
from tessera.daemon.config_schema import (
    ConnectionSettings,
    Table,
    given_overrides,
    read_connections,
)
from tessera.daemon.runner import ListenerSettings
from tessera.identity.config import load_identity_config
from tessera.orchestrator.config import load_orchestrator_config
from tessera.service.config import load_config

NO_SUCH_GROUP = "no-such-group-tessera"


def test_an_empty_table_gives_the_default_connection_settings() -> None:
    # The file's defaults (milliseconds) and the dataclass's (seconds) are written apart.
    assert read_connections(Table({})) == ConnectionSettings()


def test_connection_settings_are_read_in_milliseconds() -> None:
    table = Table({"timeout": 250, "idle_timeout": 2000, "first_byte_timeout": 100})
    read = read_connections(table)
    assert (read.request_timeout, read.idle_timeout, read.first_byte_timeout) == (0.25, 2, 0.1)


@pytest.mark.parametrize(
    ("loader", "section"),
    [(load_config, "listener"), (load_identity_config, "identity")],
)
def test_an_unknown_socket_group_is_refused_naming_the_setting(
    tmp_path: Path, loader: Callable[[Path], object], section: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[{section}]\nsocket_group = "{NO_SUCH_GROUP}"\n')
    with pytest.raises(ConfigError, match=f"{section}.socket_group: no group named"):
        loader(path)


def test_the_service_and_identity_provider_listen_as_configured(tmp_path: Path) -> None:
    service_file, identity_file = tmp_path / "service.toml", tmp_path / "identity.toml"
    service_file.write_text("[listener]\nmax_connections = 7\ntimeout = 300\n")
    identity_file.write_text("[identity]\nmax_connections = 7\ntimeout = 300\n")
    service = ListenerSettings.configured(load_config(service_file))
    identity = ListenerSettings.configured(load_identity_config(identity_file))
    assert service.connections == identity.connections
    assert (service.connections.max_connections, service.connections.request_timeout) == (7, 0.3)


def test_overrides_not_given_are_dropped_and_sockets_follow_the_state_dir(tmp_path: Path) -> None:
    sockets = {"a_socket": lambda state: state / "a.sock", "b_socket": lambda state: state / "b"}
    assert given_overrides({"log_level": None, "heartbeat": 2.0}, sockets) == {"heartbeat": 2.0}
    given = given_overrides({"state_dir": tmp_path, "b_socket": Path("/given")}, sockets)
    assert given == {
        "state_dir": tmp_path,
        "a_socket": tmp_path / "a.sock",
        "b_socket": Path("/given"),
    }


def test_the_identity_provider_and_orchestrator_move_their_sockets_with_the_state_dir(
    tmp_path: Path,
) -> None:
    identity = load_identity_config(None).with_overrides(state_dir=tmp_path)
    assert identity.socket_path.parent == identity.service_socket.parent == tmp_path / "run"
    orchestrator = load_orchestrator_config(None).with_overrides(state_dir=tmp_path)
    sockets = (orchestrator.identity_socket, orchestrator.service_socket)
    assert {s.parent for s in (*sockets, orchestrator.control_socket)} == {tmp_path / "run"}
