"""`-v`: what the client chose, in words (which socket, why that one, which authentication)."""

from __future__ import annotations

import os

from tessera.client._auth import DirectAuth, NoAuth, UnixPeerAuth
from tessera.client._endpoint import SERVICE_ENDPOINT_ENV, resolve_identity_endpoint
from tessera.client._errors import TesseraError
from tessera.client._operations import OperationClient
from tessera.client._protocol import Authentication
from tessera.client._token import TokenAuth


def _endpoint_source(explicit: str | None) -> str:
    if explicit is not None:
        return "given by --endpoint"
    if os.environ.get(SERVICE_ENDPOINT_ENV):
        return f"from ${SERVICE_ENDPOINT_ENV}"
    return "the default: Tessera's socket where it exists, else Parsec's"


def describe_authentication(auth: Authentication) -> str:
    """The authentication as a user would name it."""
    if isinstance(auth, TokenAuth):
        identity = resolve_identity_endpoint()
        where = f" at unix:{identity}" if identity is not None else ""
        return f"tokens from the identity provider{where} (JWT)"
    if isinstance(auth, UnixPeerAuth):
        return f"Unix peer credentials (uid {auth.uid})"
    if isinstance(auth, DirectAuth):
        return f"direct authentication as {auth.app_name!r}"
    if isinstance(auth, NoAuth):
        return "none"
    return type(auth).__name__


def describe_choices(
    operations: OperationClient,
    explicit_endpoint: str | None,
    *,
    app_name_given: bool,
    choose: bool,
) -> list[str]:
    """One line for the endpoint, one for the authentication (chosen now if `choose` and the
    command needed none; after a failure only what was already chosen is told)."""
    lines = [f"endpoint unix:{operations.socket_path} ({_endpoint_source(explicit_endpoint)})"]
    given = operations._session.auth  # None until chosen (or unless given)
    if given is None and choose:
        try:
            given = operations.auth
        except TesseraError as error:
            lines.append(f"authentication: none could be chosen ({error})")
            return lines
    if given is None:
        lines.append("authentication: not chosen yet")
    else:
        how = "given by --app-name" if app_name_given else "the best the service offers"
        lines.append(f"authentication: {describe_authentication(given)} ({how})")
    return lines
