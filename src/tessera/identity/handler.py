"""The identity provider's request path: trust from the orchestrator, clients, token fetch."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from google.protobuf.message import Message

from tessera.daemon.handler import Request, RoutedBoundary, route
from tessera.daemon.peer import PeerCredentials
from tessera.daemon.trust_ops import handle_trust
from tessera.daemon.trusted_side import TrustedSide
from tessera.identity.attestation import attest
from tessera.identity.config import IdentityConfig
from tessera.identity.containers import ContainerAttestor
from tessera.identity.payloads import PayloadVerifier
from tessera.identity.registry import Registry
from tessera.identity.revocations import Revocations
from tessera.trust.peer import Incarnation, incarnation_of
from tessera.trust.store import TrustStore
from tessera.wire import contracts, payload_kinds
from tessera.wire.contracts import Daemon
from tessera.wire.proto import (
    add_client_pb2,
    fetch_token_pb2,
    ping_pb2,
    prove_client_pb2,
    remove_client_pb2,
)
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

_PING = ping_pb2.Result(wire_protocol_version_maj=1, wire_protocol_version_min=0)


class IdentityHandler(RoutedBoundary):
    """Serves the identity provider's opcodes (the registry's IDENTITY operations)."""

    def __init__(
        self,
        config: IdentityConfig,
        store: TrustStore,
        registry: Registry,
        issuer: TrustedSide,
        revocations: Revocations,
    ) -> None:
        self._config = config
        self._store = store
        self._registry = registry
        self._issuer = issuer
        self._revocations = revocations
        self._payloads = PayloadVerifier(store, config.payload_max_age)
        self._containers = ContainerAttestor(registry)
        registry.resolve_containers_with(self._containers.resolve)  # for the Workload API too
        super().__init__(
            Daemon.IDENTITY,
            dict(
                [
                    route(contracts.PING, lambda op, request: _PING),
                    route(contracts.SHARE_TRUST_BUNDLE, self._trust),
                    route(contracts.TRUST_STATUS, self._trust),
                    route(contracts.ADD_CLIENT, lambda op, r: self._add_client(op.definition)),
                    route(contracts.PROVE_CLIENT, lambda op, r: self._prove_client(op.proof)),
                    route(contracts.REMOVE_CLIENT, lambda op, r: self._remove_client(op.removal)),
                    route(
                        contracts.FETCH_TOKEN, lambda op, r: self._fetch_token(op.audience, r.peer)
                    ),
                ]
            ),
        )

    def _trust(self, operation: Message, request: Request) -> Message:
        return handle_trust(self._store, request.opcode, operation, request.peer)

    def _add_client(self, token: str) -> Message:
        claims = self._payloads.verify(token, payload_kinds.DEFINITION)
        if not isinstance(claims.get("name"), str) or not claims["name"]:
            raise StatusError(Status.TRUST_BAD_SIGNATURE, "definition names no application")
        definition = _definition_fields(claims)
        spiffe_id = self._config.spiffe_id_for(definition)
        # Redefined as another identity: what its processes were issued is withdrawn.
        forgotten = self._registry.define(claims["client_id"], definition, spiffe_id)
        self._revocations.revoke(forgotten, self._issuer.current)
        log.info("client %s defined as %s", claims["client_id"], spiffe_id)
        return add_client_pb2.Result(spiffe_id=spiffe_id)

    def _prove_client(self, token: str) -> Message:
        claims = self._payloads.verify(token, payload_kinds.PROOF)
        defined = self._definition(claims["client_id"])
        if "container" in defined:  # checked against the container instead (docs/containers.md)
            return prove_client_pb2.Result(spiffe_id=self._containers.prove(claims, defined))
        if not claims.get("exe_digest"):
            raise StatusError(
                Status.IDENTITY_ATTESTATION_FAILED, "the proof names no executable digest"
            )
        digest = defined.get("digest")
        if digest and digest != claims["exe_digest"]:
            raise StatusError(
                Status.IDENTITY_ATTESTATION_FAILED, "the process runs another executable"
            )
        if "uid" in defined and defined["uid"] != claims.get("uid"):
            raise StatusError(
                Status.IDENTITY_ATTESTATION_FAILED, "the process runs as another user"
            )
        attest(claims)
        incarnation = Incarnation(claims["pid"], claims["start_time"])
        spiffe_id = self._registry.prove(claims["client_id"], incarnation, claims["uid"])
        log.info("process %d proven as %s", incarnation.pid, spiffe_id)
        return prove_client_pb2.Result(spiffe_id=spiffe_id)

    def _remove_client(self, token: str) -> Message:
        claims = self._payloads.verify(token, payload_kinds.REMOVAL)
        pid, start = claims.get("pid"), claims.get("start_time")
        incarnation = (
            Incarnation(pid, start) if isinstance(pid, int) and isinstance(start, int) else None
        )
        withdrawn = self._registry.remove(claims["client_id"], incarnation)
        self._revocations.revoke(withdrawn, self._issuer.current)
        return remove_client_pb2.Result()

    def _fetch_token(self, audience: str, peer: PeerCredentials | None) -> Message:
        if peer is None:
            raise StatusError(Status.IDENTITY_CLIENT_NOT_PROVEN, "peer credentials unavailable")
        if peer.start_time is not None:
            # The pid was read when the caller connected: it must still name that process (not
            # one that took over the pid after the caller passed its socket on and exited).
            now = incarnation_of(peer.pid)
            if now is None or now.start_time != peer.start_time:
                raise StatusError(
                    Status.IDENTITY_CLIENT_NOT_PROVEN, "the connecting process is gone"
                )
        resolved = self._registry.resolve(peer.pid, peer.uid)
        # The grant prefix lets one revocation withdraw every token of this process.
        token_id = f"{resolved.grant}.{secrets.token_urlsafe(12)}"
        token, expires = self._issuer.issue_token(
            resolved.spiffe_id,
            audience or self._config.audience,
            self._config.token_lifetime,
            token_id=token_id,
        )
        return fetch_token_pb2.Result(
            token=token, expires_at=int(expires.timestamp()), spiffe_id=resolved.spiffe_id
        )

    def _definition(self, client_id: str) -> dict[str, Any]:
        return self._registry.definition(client_id)


def _definition_fields(claims: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "digest", "script_digest", "host", "user", "uid", "command", "container")
    return {k: claims[k] for k in keep if k in claims}
