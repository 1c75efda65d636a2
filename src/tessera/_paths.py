"""Default locations, shared by the daemons and the client library.

Everything lives under one state directory: `$TESSERA_STATE_DIR`, else `$XDG_STATE_HOME/tessera`,
else `~/.local/state/tessera`.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "TESSERA_STATE_DIR"
SERVICE_SOCKET_NAME = "parsec.sock"
IDENTITY_SOCKET_NAME = "identity.sock"
PARSEC_DEFAULT_SOCKET = Path("/run/parsec/parsec.sock")


def default_state_dir() -> Path:
    """The state directory when nothing else is configured."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "tessera"


def default_socket_path(state_dir: Path | None = None) -> Path:
    """The security service's socket under a state directory."""
    return (state_dir or default_state_dir()) / "run" / SERVICE_SOCKET_NAME


def default_identity_socket(state_dir: Path | None = None) -> Path:
    """The identity provider's socket under a state directory."""
    return (state_dir or default_state_dir()) / "run" / IDENTITY_SOCKET_NAME
