"""The SPIFFE Workload API (JWT-SVID profile) on the identity provider.

Served over gRPC on its own Unix socket (`identity.workload_api_socket`, workload_server.py):
FetchJWTSVID, FetchJWTBundles (a stream: the bundle now, and again at every rotation) and
ValidateJWTSVID. The X.509-SVID methods are not served (UNIMPLEMENTED).

Callers are attested as FetchToken attests them: the kernel's credentials of the connecting
process (SO_PEERCRED, with its start time read when it connected, so a reused pid is nobody) and
its process ancestry among the processes the orchestrator proved. Anyone else gets
PERMISSION_DENIED from every method. A request without the specification's security header
(`workload.spiffe.io: true`) gets INVALID_ARGUMENT first, as SPIRE answers it.

The JWT-SVIDs are the identity provider's own tokens (signed by the current intermediate, `jti`
prefixed with the caller's revocable grant, so RemoveClient and exits revoke them at the service
too), for the one audience the caller asks. The JWT bundle is a JWKS document with the current
intermediate's key (`use` "jwt-svid", `kid` its certificate thumbprint): what the service's
JWT-SVID authenticator reads from a bundle file, and what ValidateJWTSVID checks tokens against.
A new intermediate invalidates the previous one, so the bundle holds a single key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import jwt
from google.protobuf import struct_pb2
from grpclib import GRPCError
from grpclib.const import Cardinality, Handler
from grpclib.const import Status as Grpc
from grpclib.server import Stream

from tessera.identity.registry import Registry, Resolved
from tessera.identity.revocations import Revocations
from tessera.identity.workload_proto import workload_pb2 as pb
from tessera.trust.authority import Intermediate
from tessera.trust.bundle import JwtBundle, parse_jwt_bundle
from tessera.trust.peer import PeerCredentials, incarnation_of
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

#: The request header every Workload API call must carry (the specification requires it).
SECURITY_HEADER = "workload.spiffe.io"
#: The specification's service has no protobuf package: its methods live at these paths.
SERVICE_PATH = "/SpiffeWorkloadAPI/"
BUNDLE_POLL = 0.25  # seconds between looks at the current intermediate (rotations are rare)
MAX_AUDIENCE = 512  # characters: an audience names a service, and tokens must stay small

_Message = TypeVar("_Message")


class Issuer(Protocol):
    """What the Workload API needs of the trusted side (trust.trusted_side.TrustedSide)."""

    @property
    def current(self) -> Intermediate | None: ...

    def issue_token(
        self, subject: str, audience: str, lifetime: float, token_id: str | None = None
    ) -> tuple[str, datetime]: ...


class PeerLookup(Protocol):
    """The credentials read when a call's connection was made (workload_server.PeerBook)."""

    def of(self, stream: Stream[Any, Any]) -> PeerCredentials | None: ...


def resolve_caller(registry: Registry, peer: PeerCredentials | None) -> Resolved:
    """The proven application a connected process belongs to, as FetchToken finds it;
    IDENTITY_CLIENT_NOT_PROVEN for anyone else."""
    if peer is None or peer.start_time is None:
        raise StatusError(Status.IDENTITY_CLIENT_NOT_PROVEN, "peer credentials unavailable")
    # The pid was read at connect time: it must still name that process, not one that took
    # the pid over after the caller handed its connection on and exited.
    now = incarnation_of(peer.pid)
    if now is None or now.start_time != peer.start_time:
        raise StatusError(Status.IDENTITY_CLIENT_NOT_PROVEN, "the connecting process is gone")
    return registry.resolve(peer.pid, peer.uid)


def _coordinate(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


def jwks_document(intermediate: Intermediate) -> bytes:
    """The JWT bundle of tokens `intermediate` signs: a JWKS (SPIFFE Trust Domain and Bundle §4)."""
    numbers = intermediate.public_key().public_numbers()
    key = {
        "kty": "EC",
        "crv": "P-256",
        "x": _coordinate(numbers.x),
        "y": _coordinate(numbers.y),
        "kid": intermediate.kid,
        "use": "jwt-svid",
    }
    return json.dumps({"keys": [key]}, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class _Bundle:
    kid: str
    document: bytes
    verifier: JwtBundle


class BundleWatch:
    """The served JWT bundle, following the issuer's current intermediate."""

    def __init__(self, issuer: Issuer, trust_domain: str) -> None:
        self._issuer = issuer
        self._trust_domain = trust_domain
        self._changed = asyncio.Event()
        self._cached: _Bundle | None = None

    def bundle(self, intermediate: Intermediate) -> _Bundle:
        """The document for `intermediate`, and a verifier parsed from exactly that document
        (as the service's authenticator parses its file)."""
        cached = self._cached
        if cached is None or cached.kid != intermediate.kid:
            document = jwks_document(intermediate)
            verifier = parse_jwt_bundle(document, trust_domain=self._trust_domain)
            cached = self._cached = _Bundle(intermediate.kid, document, verifier)
        return cached

    async def next(self, seen: str | None) -> Intermediate:
        """The current intermediate, once there is one whose kid is not `seen`."""
        while True:
            current = self._issuer.current
            if current is not None and current.kid != seen:
                return current
            await self._changed.wait()

    async def run(self) -> None:
        """Forever: wake the streams whenever the intermediate changes."""
        last: str | None = None
        while True:
            current = self._issuer.current
            kid = current.kid if current is not None else None
            if kid != last:
                last = kid
                self._changed.set()  # wakes every waiter; later ones wait on a fresh event
                self._changed = asyncio.Event()
            await asyncio.sleep(BUNDLE_POLL)


def _required(message: _Message | None) -> _Message:
    if message is None:  # a client that closed its side without sending the request
        raise GRPCError(Grpc.INVALID_ARGUMENT, "no request message")
    return message


class WorkloadApi:
    """The Workload API's methods, for grpclib (`__mapping__`)."""

    def __init__(
        self,
        *,
        registry: Registry,
        issuer: Issuer,
        peers: PeerLookup,
        bundles: BundleWatch,
        trust_domain: str,
        token_lifetime: float,
        revocations: Revocations,
    ) -> None:
        self._revocations = revocations
        self._registry = registry
        self._issuer = issuer
        self._peers = peers
        self._bundles = bundles
        self._domain_id = f"spiffe://{trust_domain}"
        self._lifetime = token_lifetime

    def __mapping__(self) -> dict[str, Handler]:
        unary, stream = Cardinality.UNARY_UNARY, Cardinality.UNARY_STREAM
        return {
            SERVICE_PATH + "FetchJWTSVID": Handler(
                self.fetch_jwt_svid, unary, pb.JWTSVIDRequest, pb.JWTSVIDResponse
            ),
            SERVICE_PATH + "FetchJWTBundles": Handler(
                self.fetch_jwt_bundles, stream, pb.JWTBundlesRequest, pb.JWTBundlesResponse
            ),
            SERVICE_PATH + "ValidateJWTSVID": Handler(
                self.validate_jwt_svid,
                unary,
                pb.ValidateJWTSVIDRequest,
                pb.ValidateJWTSVIDResponse,
            ),
        }

    async def fetch_jwt_svid(self, stream: Stream[pb.JWTSVIDRequest, pb.JWTSVIDResponse]) -> None:
        """The caller's JWT-SVID for the audience it names."""
        request = _required(await stream.recv_message())
        caller = self._attest(stream)
        audiences = set(request.audience)
        if not audiences or "" in audiences:
            raise GRPCError(Grpc.INVALID_ARGUMENT, "audience must be specified")
        if len(audiences) > 1:
            # Tessera's tokens carry a single `aud` (DESIGN.md §3): ask once per audience.
            raise GRPCError(Grpc.INVALID_ARGUMENT, "one audience per JWT-SVID")
        audience = audiences.pop()
        if len(audience) > MAX_AUDIENCE:
            raise GRPCError(Grpc.INVALID_ARGUMENT, "audience is too long")
        if request.spiffe_id and request.spiffe_id != caller.spiffe_id:
            raise GRPCError(Grpc.PERMISSION_DENIED, "no identity issued for that SPIFFE ID")
        # The grant prefix lets one revocation withdraw every token of this process.
        token_id = f"{caller.grant}.{secrets.token_urlsafe(12)}"
        try:
            token, _ = self._issuer.issue_token(
                caller.spiffe_id, audience, self._lifetime, token_id=token_id
            )
        except StatusError as error:  # no intermediate yet, or a rotation under way
            raise GRPCError(Grpc.UNAVAILABLE, f"no JWT-SVID now, retry shortly: {error}") from None
        except ValueError as error:
            raise GRPCError(Grpc.INVALID_ARGUMENT, str(error)) from None
        log.debug("workload API: JWT-SVID for %s", caller.spiffe_id)
        svid = pb.JWTSVID(spiffe_id=caller.spiffe_id, svid=token)
        await stream.send_message(pb.JWTSVIDResponse(svids=[svid]))

    async def fetch_jwt_bundles(
        self, stream: Stream[pb.JWTBundlesRequest, pb.JWTBundlesResponse]
    ) -> None:
        """The trust domain's JWT bundle, now and after every rotation, until the caller
        hangs up (or is no longer an application of the orchestrator's)."""
        await stream.recv_message()
        self._attest(stream)
        seen: str | None = None
        while True:
            current = await self._bundles.next(seen)
            self._attest(stream)
            document = self._bundles.bundle(current).document
            await stream.send_message(pb.JWTBundlesResponse(bundles={self._domain_id: document}))
            seen = current.kid

    async def validate_jwt_svid(
        self, stream: Stream[pb.ValidateJWTSVIDRequest, pb.ValidateJWTSVIDResponse]
    ) -> None:
        """Check a JWT-SVID against the served bundle and the caller's audience."""
        request = _required(await stream.recv_message())
        self._attest(stream)
        if not request.audience:
            raise GRPCError(Grpc.INVALID_ARGUMENT, "audience must be specified")
        if not request.svid:
            raise GRPCError(Grpc.INVALID_ARGUMENT, "svid must be specified")
        current = self._issuer.current
        if current is None:
            raise GRPCError(Grpc.UNAVAILABLE, "no JWT bundle yet, retry shortly")
        try:
            verified = self._bundles.bundle(current).verifier.verify(
                request.svid, audience=request.audience
            )
        except StatusError as error:  # the message names the check, never the token
            raise GRPCError(Grpc.INVALID_ARGUMENT, f"invalid JWT-SVID: {error}") from None
        if self._revocations.covers(verified.token_id):  # as the service refuses it too
            raise GRPCError(Grpc.INVALID_ARGUMENT, "invalid JWT-SVID: it has been revoked")
        claims = struct_pb2.Struct()
        claims.update(jwt.decode(request.svid, options={"verify_signature": False}))
        await stream.send_message(
            pb.ValidateJWTSVIDResponse(spiffe_id=verified.subject, claims=claims)
        )

    def _attest(self, stream: Stream[Any, Any]) -> Resolved:
        metadata = stream.metadata
        if metadata is None or metadata.getall(SECURITY_HEADER, []) != ["true"]:
            raise GRPCError(Grpc.INVALID_ARGUMENT, "security header missing from request")
        peer = self._peers.of(stream)
        try:
            return resolve_caller(self._registry, peer)
        except StatusError as error:
            log.info("workload API: pid %s refused: %s", peer.pid if peer else "?", error)
            raise GRPCError(
                Grpc.PERMISSION_DENIED,
                "no identity issued: not an application the orchestrator started",
            ) from None
