"""Default locations, shared by the daemons and the client library.

Everything lives under one state directory: `$TESSERA_STATE_DIR`, else `$XDG_STATE_HOME/tessera`,
else `~/.local/state/tessera`.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # pathlib loads on first use: the `tessera` command's start-up
if TYPE_CHECKING:
    from pathlib import Path

    PARSEC_DEFAULT_SOCKET: Path

STATE_DIR_ENV = "TESSERA_STATE_DIR"
SERVICE_SOCKET_NAME = "parsec.sock"
IDENTITY_SOCKET_NAME = "identity.sock"
PARSEC_DEFAULT_SOCKET_TEXT = "/run/parsec/parsec.sock"


def __getattr__(name: str) -> Path:
    """`PARSEC_DEFAULT_SOCKET`, the Path of `PARSEC_DEFAULT_SOCKET_TEXT`, made on first use."""
    if name == "PARSEC_DEFAULT_SOCKET":
        from pathlib import Path

        return Path(PARSEC_DEFAULT_SOCKET_TEXT)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_state_dir() -> Path:
    """The state directory when nothing else is configured."""
    from pathlib import Path

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
