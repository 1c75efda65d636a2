"""The identity provider's request path: trust from the orchestrator, clients, token fetch."""

from __future__ import annotations

import logging
import secrets

from google.protobuf.message import Message

from tessera.daemon.handler import Request, RoutedBoundary, route
from tessera.identity.attestation import attest
from tessera.identity.config import IdentityConfig
from tessera.identity.containers import ContainerAttestor
from tessera.identity.payloads import PayloadVerifier
from tessera.identity.registry import Registry
from tessera.identity.revocations import Revocations
from tessera.trust.payloads import ClientDefinition, Proof, Removal
from tessera.trust.peer import PeerCredentials, incarnation_of
from tessera.trust.store import TrustStore
from tessera.trust.trusted_side import TrustedSide
from tessera.trust.trusting_side import handle_trust
from tessera.wire import contracts
from tessera.wire.contracts import Daemon
from tessera.wire.opcodes import Opcode
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

    expected_refusals = frozenset({(Opcode.FETCH_TOKEN, Status.IDENTITY_CLIENT_NOT_PROVEN)})

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
        definition = self._payloads.verify(token, ClientDefinition)
        spiffe_id = self._config.spiffe_id_for(definition.fields())
        # Redefined as another identity: what its processes were issued is withdrawn.
        forgotten = self._registry.define(definition.client_id, definition, spiffe_id)
        self._revocations.revoke(forgotten, self._issuer.current)
        log.info("client %s defined as %s", definition.client_id, spiffe_id)
        return add_client_pb2.Result(spiffe_id=spiffe_id)

    def _prove_client(self, token: str) -> Message:
        proof = self._payloads.verify(token, Proof)
        defined = self._registry.definition(proof.client_id)
        if defined.container is not None:  # checked against the container (docs/containers.md)
            return prove_client_pb2.Result(spiffe_id=self._containers.prove(proof, defined))
        if not proof.exe_digest:
            raise StatusError(
                Status.IDENTITY_ATTESTATION_FAILED, "the proof names no executable digest"
            )
        if defined.digest and defined.digest != proof.exe_digest:
            raise StatusError(
                Status.IDENTITY_ATTESTATION_FAILED, "the process runs another executable"
            )
        if defined.uid is not None and defined.uid != proof.uid:
            raise StatusError(
                Status.IDENTITY_ATTESTATION_FAILED, "the process runs as another user"
            )
        attest(proof)
        spiffe_id = self._registry.prove(proof.client_id, proof.incarnation, proof.uid)
        log.info("process %d proven as %s", proof.pid, spiffe_id)
        return prove_client_pb2.Result(spiffe_id=spiffe_id)

    def _remove_client(self, token: str) -> Message:
        removal = self._payloads.verify(token, Removal)
        withdrawn = self._registry.remove(removal.client_id, removal.incarnation)
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
