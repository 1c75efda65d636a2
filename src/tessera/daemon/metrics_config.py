"""The metrics endpoint's settings, shared by every daemon's config (no prometheus import here:
config loading stays light)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tessera.daemon.config_schema import Table


@dataclass(frozen=True)
class MetricsConfig:
    """Where the metrics endpoint listens (at least one of the two)."""

    socket: Path | None = None
    port: int | None = None  # on 127.0.0.1 only


def parse_metrics(table: Table) -> MetricsConfig | None:
    """`metrics_socket` / `metrics_port` of a daemon's config table; None when neither is set."""
    socket_path = table.optional_path("metrics_socket")
    port = table.optional_integer("metrics_port", minimum=1, maximum=65535)
    if socket_path is None and port is None:
        return None
    return MetricsConfig(socket=socket_path, port=port)
