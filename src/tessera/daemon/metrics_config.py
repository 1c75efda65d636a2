"""The metrics endpoint's settings, shared by every daemon's config (no prometheus import here:
config loading stays light)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.daemon.errors import ConfigError, config_path


@dataclass(frozen=True)
class MetricsConfig:
    """Where the metrics endpoint listens (at least one of the two)."""

    socket: Path | None = None
    port: int | None = None  # on 127.0.0.1 only


def parse_metrics(table: Mapping[str, Any], section: str) -> MetricsConfig | None:
    """`metrics_socket` / `metrics_port` of a daemon's config table; None when neither is set."""
    socket_value = table.get("metrics_socket")
    port = table.get("metrics_port")
    if socket_value is None and port is None:
        return None
    socket_path = None
    if socket_value is not None:
        if not isinstance(socket_value, str) or not socket_value:
            raise ConfigError(f"{section}.metrics_socket must be a path")
        socket_path = config_path(socket_value, f"{section}.metrics_socket")
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535
    ):
        raise ConfigError(f"{section}.metrics_port must be a port number (1-65535)")
    return MetricsConfig(socket=socket_path, port=port)
