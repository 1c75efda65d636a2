"""What an operation client is configured with, and its setup as flows.

The setup a client does on first need, choosing how to authenticate (ListAuthenticators, and a
probe of a nearby identity provider) and which provider is the default one (ListProviders), is
written here once, as flows like every call, so the blocking and the asyncio clients drive the
same code. No socket, event loop or clock here either.
"""

from __future__ import annotations

import os

from tessera.client import _calls, _endpoint
from tessera.client._auth import NoAuth
from tessera.client._choice import choose_authentication
from tessera.client._discovery import Capabilities, KeyFlow
from tessera.client._endpoint import IDENTITY_ENDPOINT_ENV
from tessera.client._errors import TesseraError, UsageError
from tessera.client._limits import MAX_TIMEOUT
from tessera.client._patience import Patience
from tessera.client._patience import restart_wait as _restart_wait
from tessera.client._protocol import Authentication, Call, Flow, flow
from tessera.client._token import TokenAuth

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import TypeVar
else:
    from tessera.wire._runtime_typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0

Endpoint = str | os.PathLike[str] | None

_NO_AUTH = NoAuth()


class Session:
    """One operation client's settings, and what it learnt on first need."""

    def __init__(
        self,
        endpoint: Endpoint,
        auth: Authentication | None,
        app_name: str | None,
        provider: int | None,
        timeout: float,
        *,
        identity_endpoint: Endpoint = None,
        restart_wait: float | None = None,
    ) -> None:
        check_timeout(timeout)
        self.restart_wait = _restart_wait(restart_wait)
        # Socket paths as text (`_endpoint`): pathlib is not imported at the command's start.
        self.identity_path = _endpoint.identity_endpoint(identity_endpoint)
        # Given explicitly or by the orchestrator: this process is meant to use tokens.
        self.identity_committed = identity_endpoint is not None or bool(
            os.environ.get(IDENTITY_ENDPOINT_ENV)
        )
        self.socket_path = _endpoint.service_endpoint(endpoint)
        self.auth = auth
        self.app_name = app_name
        self.provider = provider
        self.timeout = timeout
        # What the service offers (ListProviders, ListOpcodes), asked once for the whole client:
        # the idiomatic client's flows read the same (`Client._capabilities`).
        self.capabilities = Capabilities()

    def call(self, call: Call[T]) -> Flow[T]:
        """One call's flow: the request and its answer (`_protocol.flow`), after choosing the
        authentication if this is the first call that needs it."""
        if not call.opcode.needs_auth:
            return flow(call, _NO_AUTH, Patience(self.restart_wait))
        if self.auth is None:
            return self._first_authenticated(call)
        return flow(call, self.auth, Patience(self.restart_wait))

    def _first_authenticated(self, call: Call[T]) -> Flow[T]:
        auth = yield from self.authentication()
        return (yield from flow(call, auth, Patience(self.restart_wait)))

    def authentication(self) -> Flow[Authentication]:
        """The authentication in use, chosen on first need from what the service accepts."""
        if self.auth is None:
            listed = yield from flow(
                _calls.list_authenticators(), _NO_AUTH, Patience(self.restart_wait)
            )
            token_auth = yield from self._token_auth()
            self.auth = choose_authentication(
                [a.id for a in listed], app_name=self.app_name, token_auth=token_auth
            )
        return self.auth

    def _token_auth(self) -> Flow[TokenAuth | None]:
        """Token authentication if an identity provider serves this process."""
        if self.identity_path is None:
            return None
        if self.identity_committed:
            return TokenAuth()
        probe = TokenAuth()  # a default socket nearby: use it only if it knows us (asked once)
        try:
            yield from probe.credentials()
        except TesseraError:
            return None
        return probe

    def preferred_provider(self) -> KeyFlow[int]:
        """The service's preferred crypto provider (asked once, unless configured)."""
        if self.provider is None:
            self.provider = yield from self.capabilities.provider(None)
        return self.provider


def check_timeout(timeout: object) -> None:
    """UsageError unless `timeout` is a number of seconds the transports can wait."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise UsageError(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"timeout must be more than 0 and at most {MAX_TIMEOUT:.0f} seconds")
