"""Is a stored key the one a creation makes? Read after the creation's answer was lost.

A PsaGenerateKey or PsaImportKey whose answer was lost (the service was killed before it
answered) is sent again once the service is back. If the lost attempt took effect, the second
one is answered AlreadyExists, and so it is if another key of that name was there before. The
key is taken as ours when it is what the call would have made: its type, size and policy, and,
for an import, its material as far as the service shows it (the public key, or the key itself
when it is exportable). See docs/client.md ("Restarts").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.wire.status import StatusError

if TYPE_CHECKING:
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

# PSA: permission to sign (verify) hashes implies permission to sign (verify) messages, and
# services may store the implied flag (Parsec does).
_IMPLIED = (("sign_hash", "sign_message"), ("verify_hash", "verify_message"))


def same_attributes(asked: KeyAttributes, stored: KeyAttributes) -> bool:
    """True when `stored` is what a creation asking for `asked` makes (size 0: the data's)."""
    return (
        asked.key_type == stored.key_type
        and asked.key_bits in (0, stored.key_bits)
        and asked.key_policy.key_algorithm == stored.key_policy.key_algorithm
        and _usage(asked) == _usage(stored)
    )


def _usage(attributes: KeyAttributes) -> frozenset[str]:
    names = {
        descriptor.name
        for descriptor, value in attributes.key_policy.key_usage_flags.ListFields()
        if value
    }
    for given, implied in _IMPLIED:
        if given in names:
            names.add(implied)
    return frozenset(names)


def expected_public_key(attributes: KeyAttributes, data: bytes) -> bytes | None:
    """The public key (PSA format) the service exports for imported `data`; None for keys
    with no public half, or that this library cannot read."""
    from tessera.psa import formats  # `cryptography`'s serialization: only for this check
    from tessera.psa.key_types import parse_key_type

    try:
        key_type = parse_key_type(attributes.key_type)
        if not key_type.is_asymmetric:
            return None
        bits, canonical = formats.import_key(key_type, attributes.key_bits, data)
        return formats.export_public(key_type, bits, canonical)
    except (StatusError, ValueError):  # not a key this library reads: the attributes decide
        return None


def exportable(attributes: KeyAttributes) -> bool:
    """True when the key's policy lets it be exported."""
    return bool(attributes.key_policy.key_usage_flags.export)
