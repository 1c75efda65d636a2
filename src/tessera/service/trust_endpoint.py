"""The service's side of the trust relationship with the identity provider: the dispatcher's
handler for the trust opcodes, over trust/trusting_side.py."""

from __future__ import annotations

from google.protobuf.message import Message

from tessera.service.providers.base import RequestContext
from tessera.trust.store import TrustStore
from tessera.trust.trusting_side import TRUST_OPCODES, handle_trust
from tessera.wire.opcodes import Opcode

__all__ = ["TRUST_OPCODES", "TrustEndpoint"]


class TrustEndpoint:
    """Routes the two trust opcodes to the store (the dispatcher's handler for them)."""

    def __init__(self, store: TrustStore) -> None:
        self.store = store

    def handle(self, opcode: Opcode, ctx: RequestContext, operation: Message) -> Message:
        """Serve one trust operation."""
        return handle_trust(self.store, opcode, operation, ctx.peer)
