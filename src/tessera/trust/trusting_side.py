"""The trusting side of a trust relationship: what a trusting daemon (the security service
towards the identity provider, the identity provider towards the orchestrator) serves over its
trust store: ShareTrustBundle, TrustStatus, RevokeTokens.

ShareTrustBundle installs the trusted side's root (once per incarnation) or its current
intermediate (with the revocation list it signed, if any); TrustStatus says what is held, so a
trusted side notices a restarted peer and re-shares everything; RevokeTokens installs a newer
revocation list (the identity provider withdrawing tokens; only the service asks for it).
The rules themselves (root once per incarnation, newest intermediate) are the store's
(trust/store.py); the daemon's front end supplies the sender's SO_PEERCRED credentials.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from google.protobuf.message import Message

from tessera.trust.authority import thumbprint
from tessera.trust.peer import PeerCredentials, peer_from_credentials
from tessera.trust.store import TrustStore
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import revoke_tokens_pb2, share_trust_bundle_pb2, trust_status_pb2
from tessera.wire.status import Status, StatusError

TRUST_OPCODES = frozenset({Opcode.SHARE_TRUST_BUNDLE, Opcode.TRUST_STATUS, Opcode.REVOKE_TOKENS})


def handle_trust(
    store: TrustStore, opcode: Opcode, operation: Message, peer: PeerCredentials | None
) -> Message:
    """Serve one trust operation."""
    if opcode is Opcode.TRUST_STATUS:
        return trust_status(store)
    if peer is None:
        raise StatusError(Status.TRUST_PEER_NOT_ALLOWED, "peer credentials are unavailable")
    sender = peer_from_credentials(peer.pid, peer.uid, peer.gid)
    if opcode is Opcode.REVOKE_TOKENS:
        assert isinstance(operation, revoke_tokens_pb2.Operation)
        store.accept_revocations(operation.revocations, sender)
        return revoke_tokens_pb2.Result()
    assert isinstance(operation, share_trust_bundle_pb2.Operation)
    if operation.root:
        store.accept_root(operation.certificate, sender)
    else:
        store.accept_intermediate(operation.certificate, sender, operation.revocations)
    return share_trust_bundle_pb2.Result()


def trust_status(store: TrustStore) -> trust_status_pb2.Result:
    """What the store holds, by thumbprint."""
    root = store.root_certificate
    root_kid = thumbprint(root.public_bytes(serialization.Encoding.DER)) if root else ""
    return trust_status_pb2.Result(
        has_root=root is not None, root_kid=root_kid, intermediate_kid=store.current_kid or ""
    )
