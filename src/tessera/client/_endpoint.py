"""Where the daemons are: an explicit endpoint, an environment variable, or defaults.

Endpoints are URIs as Parsec's clients write them: `unix:/path/to/socket` (also `unix:///path`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tessera._paths import PARSEC_DEFAULT_SOCKET, default_identity_socket, default_socket_path
from tessera.client._errors import UsageError

SERVICE_ENDPOINT_ENV = "PARSEC_SERVICE_ENDPOINT"
IDENTITY_ENDPOINT_ENV = "TESSERA_IDENTITY_ENDPOINT"


def parse_endpoint(uri: str) -> Path:
    """The socket path of a `unix:` endpoint URI; UsageError for anything else."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "unix":
        raise UsageError(f"endpoint {uri!r} is not a unix: URI (e.g. unix:/run/tessera.sock)")
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"endpoint {uri!r} names a host; only local sockets are supported")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise UsageError(f"endpoint {uri!r} must hold an absolute socket path")
    return Path(path)


def resolve_service_endpoint(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The service socket to use.

    In order: the explicit argument (a URI or a path), `PARSEC_SERVICE_ENDPOINT`, Tessera's
    default socket (under the default state directory) if it exists, then Parsec's default
    `/run/parsec/parsec.sock`.
    """
    given = _given(explicit, SERVICE_ENDPOINT_ENV)
    if given is not None:
        return given
    tessera_default = _default(default_socket_path)
    if tessera_default is not None and _present(tessera_default, unsure=True):
        return tessera_default
    return PARSEC_DEFAULT_SOCKET


def resolve_identity_endpoint(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The identity provider's socket: the argument, `TESSERA_IDENTITY_ENDPOINT` (which the
    orchestrator sets for the applications it starts), or the default socket under the state
    directory when it exists. None: no identity provider here."""
    given = _given(explicit, IDENTITY_ENDPOINT_ENV)
    if given is not None:
        return given
    default = _default(default_identity_socket)
    # One we may not even look at is one we could not use: no identity provider for us.
    return default if default is not None and _present(default, unsure=False) else None


def _default(where: Callable[[], Path]) -> Path | None:
    """A default socket under the state directory; None if there is no home to find it in."""
    try:
        return where()
    except (RuntimeError, KeyError, OSError):  # no $HOME and no passwd entry (containers)
        return None


def _present(path: Path, *, unsure: bool) -> bool:
    """Whether a socket file is at `path`; `unsure` when a directory above it is closed to us.

    A closed directory (EACCES) must not escape as a raw PermissionError at construction: for
    the service it is taken as present, so the first call fails with a TransportError that
    says whose permission is missing (see `_connections.cannot_connect`).
    """
    try:
        return path.exists()
    except PermissionError:
        return unsure
    except OSError:  # ENAMETOOLONG and the like: nothing usable there
        return False


def _given(explicit: str | os.PathLike[str] | None, variable: str) -> Path | None:
    """An explicit endpoint (URI or path), else the environment variable's, else None."""
    if explicit is not None:
        text = os.fspath(explicit)
        return parse_endpoint(text) if ":" in text.split("/", 1)[0] else Path(text)
    from_env = os.environ.get(variable)
    if not from_env:
        return None
    try:
        return parse_endpoint(from_env)
    except UsageError as error:
        raise UsageError(f"{variable}: {error}") from None
