"""Where the daemons are: an explicit endpoint, an environment variable, or defaults.

Endpoints are URIs as Parsec's clients write them: `unix:/path/to/socket` (also `unix:///path`).

The client resolves them as text (`service_endpoint`, `identity_endpoint`): `pathlib`, with the
`urllib.parse` and `ipaddress` it brings, costs every `tessera` command milliseconds at start.
Each text is what `str()` of the `Path` the `resolve_*` functions return writes, so messages
name the same paths; those functions keep the `Path` API.
"""

from __future__ import annotations

import os

from tessera._paths import (
    IDENTITY_SOCKET_NAME,
    PARSEC_DEFAULT_SOCKET_TEXT,
    SERVICE_SOCKET_NAME,
    STATE_DIR_ENV,
)
from tessera.client._errors import UsageError

TYPE_CHECKING = False  # pathlib and urllib load on first use: the `tessera` command's start-up
if TYPE_CHECKING:
    from pathlib import Path

SERVICE_ENDPOINT_ENV = "PARSEC_SERVICE_ENDPOINT"
IDENTITY_ENDPOINT_ENV = "TESSERA_IDENTITY_ENDPOINT"

# In a `unix:` URI, these need `urllib.parse` (a query, a fragment, an escape, characters it
# removes, an IPv6 host); an ASCII URI without them is read here, as urlsplit would read it.
_NEEDS_URLLIB = frozenset("?#%[]\t\r\n")


def normal_path(text: str) -> str:
    """`text` as `str(PurePosixPath(text))` writes it: no empty or `.` components, no trailing
    slash, a leading `//` kept (POSIX leaves its meaning to the system), `.` for nothing."""
    stripped = text.lstrip("/")
    root = "//" if len(text) - len(stripped) == 2 else ("/" if stripped != text else "")
    parts = [part for part in stripped.split("/") if part and part != "."]
    return root + "/".join(parts) if root or parts else "."


def _join(base: str, *names: str) -> str:
    """`str(Path(base).joinpath(*names))` for a normal `base` and names without slashes."""
    if base == ".":
        return "/".join(names)
    return base + ("" if base.endswith("/") else "/") + "/".join(names)


def _expand_user(text: str) -> str:
    """`str(Path(text).expanduser())`: RuntimeError when the home directory is unknown."""
    normal = normal_path(text)
    if not normal.startswith("~"):
        return normal
    first, _, rest = normal.partition("/")
    home = os.path.expanduser(first)
    if home.startswith("~"):
        raise RuntimeError("Could not determine home directory.")
    home = normal_path(home)
    return _join(home, *rest.split("/")) if rest else home


def state_dir() -> str:
    """`tessera._paths.default_state_dir()`, as text."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return _expand_user(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = normal_path(xdg) if xdg else _join(_expand_user("~"), ".local", "state")
    return _join(base, "tessera")


def endpoint_path(uri: str) -> str:
    """The socket path of a `unix:` endpoint URI; UsageError for anything else."""
    if (
        uri[:5].lower() == "unix:"
        and uri.isascii()
        and uri[-1] > " "  # (urlsplit strips control characters and spaces at the ends)
        and not _NEEDS_URLLIB.intersection(uri)
    ):
        scheme, netloc, path = "unix", "", uri[5:]
        if path.startswith("//"):  # unix://host/path: what follows // up to / is the host
            netloc, slash, rest = path[2:].partition("/")
            path = slash + rest
    else:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(uri)
        scheme, netloc, path = parts.scheme, parts.netloc, unquote(parts.path)
    if scheme.lower() != "unix":
        raise UsageError(f"endpoint {uri!r} is not a unix: URI (e.g. unix:/run/tessera.sock)")
    if netloc not in ("", "localhost"):
        raise UsageError(f"endpoint {uri!r} names a host; only local sockets are supported")
    if not path.startswith("/"):
        raise UsageError(f"endpoint {uri!r} must hold an absolute socket path")
    return normal_path(path)


def service_endpoint(explicit: str | os.PathLike[str] | None = None) -> str:
    """The service socket to use.

    In order: the explicit argument (a URI or a path), `PARSEC_SERVICE_ENDPOINT`, Tessera's
    default socket (under the default state directory) if it exists, then Parsec's default
    `/run/parsec/parsec.sock`.
    """
    given = _given(explicit, SERVICE_ENDPOINT_ENV)
    if given is not None:
        return given
    tessera_default = _default(SERVICE_SOCKET_NAME)
    if tessera_default is not None and _present(tessera_default, unsure=True):
        return tessera_default
    return PARSEC_DEFAULT_SOCKET_TEXT


def identity_endpoint(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """The identity provider's socket: the argument, `TESSERA_IDENTITY_ENDPOINT` (which the
    orchestrator sets for the applications it starts), or the default socket under the state
    directory when it exists. None: no identity provider here."""
    given = _given(explicit, IDENTITY_ENDPOINT_ENV)
    if given is not None:
        return given
    default = _default(IDENTITY_SOCKET_NAME)
    # One we may not even look at is one we could not use: no identity provider for us.
    return default if default is not None and _present(default, unsure=False) else None


def parse_endpoint(uri: str) -> Path:
    """The socket path of a `unix:` endpoint URI; UsageError for anything else."""
    return _path(endpoint_path(uri))


def resolve_service_endpoint(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`service_endpoint` as a Path."""
    return _path(service_endpoint(explicit))


def resolve_identity_endpoint(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """`identity_endpoint` as a Path (None: no identity provider here)."""
    found = identity_endpoint(explicit)
    return None if found is None else _path(found)


def _path(text: str) -> Path:
    from pathlib import Path

    return Path(text)


def _default(name: str) -> str | None:
    """A default socket under the state directory; None if there is no home to find it in."""
    try:
        return _join(state_dir(), "run", name)
    except (RuntimeError, KeyError, OSError):  # no $HOME and no passwd entry (containers)
        return None


def _present(path: str, *, unsure: bool) -> bool:
    """Whether a socket file is at `path`; `unsure` when a directory above it is closed to us.

    A closed directory (EACCES) must not escape as a raw PermissionError at construction: for
    the service it is taken as present, so the first call fails with a TransportError that
    says whose permission is missing (see `_connections.cannot_connect`).
    """
    try:
        os.stat(path)
    except PermissionError:
        return unsure
    except (OSError, ValueError):  # absent, ENAMETOOLONG and the like, an embedded NUL
        return False
    return True


def _given(explicit: str | os.PathLike[str] | None, variable: str) -> str | None:
    """An explicit endpoint (URI or path), else the environment variable's, else None."""
    if explicit is not None:
        text = os.fspath(explicit)
        return endpoint_path(text) if ":" in text.split("/", 1)[0] else normal_path(text)
    from_env = os.environ.get(variable)
    if not from_env:
        return None
    try:
        return endpoint_path(from_env)
    except UsageError as error:
        raise UsageError(f"{variable}: {error}") from None
