"""What the service reports, for people and for scripts: keys, opcodes, authenticators, ids.

Keys are described with `_psa_names`: structured JSON values (`{"kind": "ecc_key_pair", ...}`)
and plain words ("ECC key pair (secp256r1)"), never Rust's debug notation.
"""

from __future__ import annotations

from tessera.wire.opcodes import AuthType, Opcode

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:  # protobuf loads for keys only (list-providers and list-opcodes need none)
    from typing import Any

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


def _attributes(attributes: KeyAttributes | bytes) -> dict[str, Any]:
    """Attributes as `protowire` decodes them (from their encoding, as ListKeys sent it)."""
    from tessera.client import _messages
    from tessera.wire.protowire import decode

    encoded = attributes if isinstance(attributes, bytes) else attributes.SerializeToString()
    return decode(_messages.KEY_ATTRIBUTES, encoded)


def usage_flags(attributes: KeyAttributes | bytes) -> list[str]:
    """The usage flags a key has, by their PSA names (export, sign_hash, ...)."""
    return _usage(_attributes(attributes))


def _usage(values: dict[str, Any]) -> list[str]:
    from tessera.client import _messages

    flags = (values["key_policy"] or {}).get("key_usage_flags") or {}
    return [field.name for field in _messages.USAGE_FLAGS.fields if flags.get(field.name)]


def key_summary(name: str, provider: int, attributes: KeyAttributes | bytes) -> dict[str, Any]:
    """A key as the JSON output describes it (types and algorithms as `_psa_names` JSON);
    `attributes` as protobuf, or their encoding (list-keys: no protobuf needed)."""
    from tessera.cli._psa_names import algorithm_json, key_type_json

    values = _attributes(attributes)
    policy = values["key_policy"] or {}
    return {
        "name": name,
        "provider": provider,
        "type": key_type_json(values["key_type"] or {}),
        "bits": values["key_bits"],
        "algorithm": algorithm_json(policy.get("key_algorithm") or {}),
        "usage": _usage(values),
    }


def key_line(summary: dict[str, Any]) -> str:
    """A key as list-keys prints it, e.g. `* signing (provider 1): ECC key pair (secp256r1),
    256 bits; permitted algorithm: ECDSA with SHA-256; usage: sign_hash, verify_hash`."""
    from tessera.cli._psa_names import algorithm_words, key_type_words

    usage = ", ".join(summary["usage"]) or "none"
    return (
        f"* {summary['name']} (provider {summary['provider']}): "
        f"{key_type_words(summary['type'], summary['bits'])}, {summary['bits']} bits; "
        f"permitted algorithm: {algorithm_words(summary['algorithm'])}; usage: {usage}"
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
