"""The service's request path after framing: authenticate, route, decode, run, encode.

The request boundary (daemon/handler.py) turns every failure into a response; this module says
how the service admits a request (authenticators, admins, providers, quotas) and audits it.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from google.protobuf.message import Message

from tessera.daemon.handler import Request, RequestBoundary
from tessera.daemon.ratelimit import RateLimitedLog
from tessera.service.audit import AUDITED_OPCODES, AuditLog
from tessera.service.authenticators import Application, Authenticator, PeerCredentials
from tessera.service.core_provider import CORE_PROVIDER_ID, CoreProvider
from tessera.service.keystore import Owner
from tessera.service.providers.base import Provider, RequestContext
from tessera.service.quotas import Quotas
from tessera.service.trust_endpoint import TrustEndpoint
from tessera.wire.contracts import OPERATIONS, Auth, Daemon, decode_operation
from tessera.wire.framing import Frame, encode_response
from tessera.wire.header import FLAG_EXTENSIONS, Header, response_header_for
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

# The highest provider id Parsec's interface names (CryptoAuthLib); Tessera may configure more.
LAST_PARSEC_PROVIDER_ID = 5

# Lookups the request path makes per request, as dict reads (enum calls and enum properties are
# Python-level and cost about a microsecond each).
_OPCODES = {int(opcode): opcode for opcode in Opcode}
_AUDIT_NAMES = {opcode: OPERATIONS[opcode].name for opcode in AUDITED_OPCODES}
_STATUS_NAMES = {status: status.name for status in Status}
# Callers remembered per dispatcher (names are the client's choice under direct authentication:
# the table is emptied when full rather than grown).
_CALLERS_HELD = 4096


@dataclass(frozen=True, slots=True)
class _Caller:
    """An authenticated application, with what every request of it needs made once."""

    app: Application
    owner: Owner
    audit_name: str  # "<authenticator>:<name>", as the audit log names it


@dataclass(slots=True)
class Admitted(Request):
    """A request that passed authentication and routing, ready to run."""

    handler: CoreProvider | Provider | TrustEndpoint
    ctx: RequestContext
    caller: _Caller | None = None

    @property
    def tenant(self) -> Hashable:
        """Whose turn a slow request takes: the application, else the connecting uid."""
        app = self.ctx.app
        if app is not None:
            return (int(app.auth_type), app.name)
        peer = self.ctx.peer
        return ("uid", peer.uid if peer is not None else None)


class Dispatcher(RequestBoundary[Admitted]):
    """Turns frames into response bytes."""

    def __init__(
        self,
        authenticators: Mapping[AuthType, Authenticator],
        admins: frozenset[tuple[AuthType, str]],
        core: CoreProvider,
        providers: Mapping[int, Provider],
        trust: TrustEndpoint,
        *,
        log_error_details: bool = False,
        audit: AuditLog | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        super().__init__(Daemon.SERVICE, log_error_details=log_error_details)
        self._quotas = quotas
        self._audit = audit
        self._audit_errors = RateLimitedLog(log)
        self._trust = trust
        self._authenticators: dict[int, Authenticator] = {
            int(t): a for t, a in authenticators.items()
        }
        self._admins = admins
        self._core = core
        self._providers = dict(providers)
        self._callers: dict[tuple[int, str], _Caller] = {}
        # (provider id, opcode) -> (handler, whether it runs off the event loop): only routes
        # that succeeded (a refusal is worked out again, with its message).
        self._routes: dict[tuple[int, Opcode], tuple[CoreProvider | Provider | TrustEndpoint, bool]]
        self._routes = {}

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> Admitted | bytes:
        """Authenticate and route; an early failure comes back as response bytes."""
        header = frame.header
        provider_id = header.provider
        if provider_id > LAST_PARSEC_PROVIDER_ID and provider_id not in self._providers:
            # As Parsec: an id outside its provider enumeration fails while reading the header,
            # so the answer carries the default header (clients cannot decode the id).
            return encode_response(response_header_for(None, Status.PROVIDER_DOES_NOT_EXIST), b"")
        try:
            opcode = _OPCODES.get(header.opcode)
            if opcode is None:  # the framing refuses these; a frame built by hand may not
                raise StatusError(Status.OPCODE_DOES_NOT_EXIST, "unknown opcode")
            return self.accept(frame, opcode, peer)
        except StatusError as error:
            return self.refuse(header, error)

    def accept(self, frame: Frame, opcode: Opcode, peer: PeerCredentials | None) -> Admitted:
        header = frame.header
        spec = OPERATIONS[opcode]
        caller = self._authenticate(header, frame.auth, peer)
        app = caller.app if caller is not None else None
        route = self._routes.get((header.provider, opcode))
        if route is None:
            route = self._routes[header.provider, opcode] = self._route(header.provider, opcode)
        handler, blocking = route
        if spec.auth is Auth.ADMIN:
            if app is None:
                raise StatusError(Status.NOT_AUTHENTICATED, "admin operation without auth")
            if not app.is_admin:
                self._record(opcode, caller, header, None, Status.ADMIN_OPERATION)
                raise StatusError(Status.ADMIN_OPERATION, "caller is not an administrator")
        operation = decode_operation(opcode, frame.body)
        if caller is None:
            if spec.auth is not Auth.NONE:
                raise StatusError(Status.NOT_AUTHENTICATED, f"{opcode.name} needs authentication")
            ctx = RequestContext(None, peer, extensions=bool(header.flags & FLAG_EXTENSIONS))
        else:
            if self._quotas is not None:
                self._quotas.check(app)  # before any work is done
            extensions = bool(header.flags & FLAG_EXTENSIONS)
            ctx = RequestContext(app, peer, extensions, caller.owner)
        return Admitted(header, opcode, operation, peer, blocking, handler, ctx, caller)

    def run(self, request: Admitted) -> Message:
        return request.handler.handle(request.opcode, request.ctx, request.operation)

    def finished(self, request: Admitted, status: Status) -> None:
        self._record(request.opcode, request.caller, request.header, request.operation, status)

    def _record(
        self,
        opcode: Opcode,
        caller: _Caller | None,
        header: Header,
        operation: Message | None,
        status: Status,
    ) -> None:
        """Audit a key operation (what, by whom, on which key, how it ended: nothing else)."""
        if self._audit is None or caller is None:
            return
        name = _AUDIT_NAMES.get(opcode)  # as Parsec names it
        if name is None:
            return  # not audited
        key_name = getattr(operation, "key_name", None) if operation is not None else None
        if key_name is None and opcode is Opcode.DELETE_CLIENT:
            key_name = getattr(operation, "client", None)  # whose keys went
        try:
            self._audit.record(
                app=caller.audit_name,
                operation=name,
                provider=header.provider,
                key=key_name,
                status=_STATUS_NAMES[status],
            )
        except OSError as error:
            # Availability over completeness (a full disk must not stop the service, nor the
            # destruction that frees space); the gap is in the log, and verify shows no break.
            self._audit_errors.warning("could not write the audit log: %s", error)

    def handle(self, frame: Frame, peer: PeerCredentials | None) -> bytes:
        """Admit and execute in one go (for callers that do not offload blocking work)."""
        admitted = self.admit(frame, peer)
        if isinstance(admitted, bytes):
            return admitted
        return self.execute(admitted)

    def _authenticate(
        self, header: Header, auth: bytes, peer: PeerCredentials | None
    ) -> _Caller | None:
        auth_type = header.auth_type
        if auth_type == AuthType.NO_AUTH:
            return None  # as Parsec: any auth bytes sent with auth type 0 are ignored
        authenticator = self._authenticators.get(auth_type)
        if authenticator is None:
            off = AuthType(auth_type).name
            raise StatusError(Status.AUTHENTICATOR_NOT_REGISTERED, f"{off} is off")
        name = authenticator.authenticate(auth, peer)
        caller = self._callers.get((auth_type, name))
        if caller is None:
            kind = AuthType(auth_type)
            app = Application(name, kind, (kind, name) in self._admins)
            caller = _Caller(app, Owner(name, auth_type), f"{kind.name.lower()}:{name}")
            if len(self._callers) >= _CALLERS_HELD:
                self._callers.clear()
            self._callers[auth_type, name] = caller
        return caller

    def _route(
        self, provider_id: int, opcode: Opcode
    ) -> tuple[CoreProvider | Provider | TrustEndpoint, bool]:
        """The handler of `opcode` sent to `provider_id`, and whether it leaves the event loop."""
        self.check_served(opcode)
        handler = self._handler(provider_id, opcode)
        # A crypto provider knows what blocks on its device; the core provider, the registry.
        if isinstance(handler, Provider):
            return handler, handler.blocking(opcode)
        return handler, OPERATIONS[opcode].may_block

    def _handler(self, provider_id: int, opcode: Opcode) -> CoreProvider | Provider | TrustEndpoint:
        spec = OPERATIONS[opcode]
        if spec.tessera:  # the service serves only the trusting side's operations
            if provider_id != CORE_PROVIDER_ID:
                raise StatusError(
                    Status.PSA_ERROR_NOT_SUPPORTED, "trust operations go to provider 0"
                )
            return self._trust
        if provider_id == CORE_PROVIDER_ID:
            if not spec.core:
                raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "the core provider has no crypto")
            return self._core
        provider = self._providers.get(provider_id)
        if provider is None:
            raise StatusError(Status.PROVIDER_NOT_REGISTERED, f"no provider {provider_id}")
        if spec.core:
            raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "core operations go to provider 0")
        return provider
