"""Talking to one provider of a running daemon over the wire, for the provider test modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from tessera.wire.contracts import decode_result
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_key_attributes_pb2,
)
from tessera.wire.status import Status
from tests.support import RunningService, direct, request_bytes


def sign_flags() -> dict[str, bool]:
    """Usage flags of a key that signs and verifies hashes and messages."""
    return {"sign_hash": True, "verify_hash": True, "sign_message": True, "verify_message": True}


@dataclass(frozen=True)
class ProviderCalls:
    """Requests to `provider` (core opcodes to provider 0) as a directly authenticated app."""

    service: RunningService
    provider: int
    timeout: float = 10.0  # per request: key generation on a loaded machine can be slow

    def call(self, opcode: Opcode, op: Message, app: str = "alice") -> tuple[Status, Any]:
        """The status and, on success, the decoded result."""
        provider = 0 if opcode.is_core else self.provider
        # As Tessera's own client: it knows the extensions (MAC opcodes in ListOpcodes).
        request = request_bytes(opcode, op, provider=provider, extensions=True, **direct(app))
        response = self.service.call(request, self.timeout)
        status = Status(response.header.status)
        return status, decode_result(opcode, response.body) if status is Status.SUCCESS else None

    def ok(self, opcode: Opcode, op: Message, app: str = "alice") -> Any:
        """The result of a call that must succeed."""
        status, result = self.call(opcode, op, app)
        assert status is Status.SUCCESS, f"{opcode.name}: {status.name}"
        return result

    def fails(self, opcode: Opcode, op: Message, app: str = "alice") -> Status:
        """The status of a call that must fail."""
        status, _ = self.call(opcode, op, app)
        assert status is not Status.SUCCESS
        return status

    def generate(
        self, name: str, attrs: psa_key_attributes_pb2.KeyAttributes, app: str = "alice"
    ) -> None:
        """Create a key."""
        body = psa_generate_key_pb2.Operation(key_name=name, attributes=attrs)
        self.ok(Opcode.PSA_GENERATE_KEY, body, app)

    def public(self, name: str, app: str = "alice") -> bytes:
        """A key's public half in its PSA format."""
        body = psa_export_public_key_pb2.Operation(key_name=name)
        data: bytes = self.ok(Opcode.PSA_EXPORT_PUBLIC_KEY, body, app).data
        return data
