"""The state directory a client here uses, as PARSEC_SERVICE_ENDPOINT names it.

The README has a user export the endpoint of a `tessera up` running on another state
directory; the commands that look at the whole system (`status`, `down`, `doctor`) then look
there too, as the client commands do, without a --state-dir.
"""

from __future__ import annotations

import os
from pathlib import Path


def exported_service_socket() -> Path | None:
    """The service socket PARSEC_SERVICE_ENDPOINT names (None when unset or not a unix: URI)."""
    from tessera.client._endpoint import parse_endpoint
    from tessera.client._errors import UsageError

    value = os.environ.get("PARSEC_SERVICE_ENDPOINT")
    if not value:
        return None
    try:
        return parse_endpoint(value)
    except UsageError:
        return None  # the commands then report where they looked


def exported_state_dir() -> Path | None:
    """STATE when the exported socket is STATE/run/SOCKET and STATE holds a Tessera system
    (a `tessera up` holds it, or a service's key store is there)."""
    from tessera.up.instance import is_held

    socket = exported_service_socket()
    if socket is None or socket.parent.name != "run":
        return None
    state = socket.parent.parent
    if state == state.parent:
        return None
    try:
        if is_held(state) or (state / "keys.sqlite3").exists():
            return state
    except OSError:  # closed to this user: still the directory the endpoint points into
        return state
    return None
