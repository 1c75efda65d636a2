"""Human-readable names for what the service reports: key types, algorithms, opcodes, ids.

Key types and algorithms are rendered from their protobuf form the way parsec-tool prints
them, e.g. `EccKeyPair { curve_family: SecpR1 }` and
`AsymmetricSignature(Ecdsa { hash_alg: Specific(Sha256) })`.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

# Parsec's names for the authenticator types (wire values are fixed).
_AUTHENTICATORS = {
    AuthType.NO_AUTH: "No authentication",
    AuthType.DIRECT: "Direct authentication",
    AuthType.JWT: "JSON Web Tokens authentication",
    AuthType.UNIX_PEER_CREDENTIALS: "Unix Peer Credentials authentication",
    AuthType.JWT_SVID: "JWT SVID authentication",
}


def camel(snake: str) -> str:
    """`ecc_key_pair` -> `EccKeyPair`, `SHA_256` -> `Sha256`, `SHA3_256` -> `Sha3_256`."""
    out = ""
    for part in snake.lower().split("_"):
        if not part:
            continue
        if out and out[-1].isdigit() and part[0].isdigit():
            out += "_"
        out += part[0].upper() + part[1:]
    return out


def _value(field: Any, value: Any) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return render(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value) if field.enum_type else None
        return camel(enum_value.name) if enum_value is not None else str(value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    return str(value)


def render(message: Message) -> str:
    """A protobuf PSA structure as parsec-tool shows it (Rust's Debug form of the same type)."""
    oneof = message.DESCRIPTOR.oneofs_by_name.get("variant")
    if oneof is not None:
        chosen = message.WhichOneof("variant")
        if chosen is None:
            return "None"
        field = message.DESCRIPTOR.fields_by_name[chosen]
        name = camel(chosen)
        value = getattr(message, chosen)
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            return f"{name}({_value(field, value)})"
        inner = render(value)
        if not inner:
            return name
        if inner.startswith("{"):
            return f"{name} {inner}"
        return f"{name}({inner})"
    fields = [f"{field.name}: {_value(field, value)}" for field, value in message.ListFields()]
    return "{ " + ", ".join(fields) + " }" if fields else ""


def usage_flags(attributes: KeyAttributes) -> list[str]:
    """The usage flags a key has, by their PSA names (export, sign_hash, ...)."""
    flags = attributes.key_policy.key_usage_flags
    return [field.name for field, value in flags.ListFields() if value]


def key_summary(name: str, provider: int, attributes: KeyAttributes) -> dict[str, Any]:
    """A key as the JSON output describes it."""
    return {
        "name": name,
        "provider": provider,
        "type": render(attributes.key_type),
        "bits": attributes.key_bits,
        "algorithm": render(attributes.key_policy.key_algorithm),
        "usage": usage_flags(attributes),
    }


def key_line(summary: dict[str, Any]) -> str:
    """A key as list-keys prints it."""
    return (
        f"* {summary['name']} (provider {summary['provider']}, {summary['type']}, "
        f"{summary['bits']} bits, permitted algorithm: {summary['algorithm']})"
    )


def opcode_name(opcode: int) -> str:
    """`PsaGenerateKey` for 2: Parsec's name of an opcode."""
    try:
        return camel(Opcode(opcode).name)
    except ValueError:
        return "Unknown"


def authenticator_name(auth_type: int) -> str:
    """Parsec's name of an authenticator type."""
    try:
        return _AUTHENTICATORS[AuthType(auth_type)]
    except (ValueError, KeyError):
        return "Unknown authentication"


def short_name(description: str) -> str:
    """A provider's name: its description up to the first colon."""
    return description.split(":", 1)[0].strip() or "Unnamed provider"


def version(parts: tuple[int, int, int]) -> str:
    """`1.2.3`."""
    return ".".join(str(part) for part in parts)
