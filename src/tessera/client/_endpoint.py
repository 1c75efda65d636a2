"""Where the security service is: an explicit endpoint, `PARSEC_SERVICE_ENDPOINT`, or defaults.

Endpoints are URIs as Parsec's clients write them: `unix:/path/to/socket` (also `unix:///path`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tessera._paths import PARSEC_DEFAULT_SOCKET, default_socket_path
from tessera.client._errors import UsageError

SERVICE_ENDPOINT_ENV = "PARSEC_SERVICE_ENDPOINT"


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
    if explicit is not None:
        text = os.fspath(explicit)
        return parse_endpoint(text) if ":" in text.split("/", 1)[0] else Path(text)
    from_env = os.environ.get(SERVICE_ENDPOINT_ENV)
    if from_env:
        return parse_endpoint(from_env)
    tessera_default = default_socket_path()
    if tessera_default.exists():
        return tessera_default
    return PARSEC_DEFAULT_SOCKET
