"""The little DER a certificate request needs (everything else comes from `cryptography`)."""

from __future__ import annotations


def length(size: int) -> bytes:
    """A DER length field."""
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def tlv(tag: int, content: bytes) -> bytes:
    """One tag-length-value element."""
    return bytes([tag]) + length(len(content)) + content


def sequence(*elements: bytes) -> bytes:
    """SEQUENCE of already-encoded elements."""
    return tlv(0x30, b"".join(elements))


def integer(value: int) -> bytes:
    """A non-negative INTEGER (minimal two's-complement encoding)."""
    if value < 0:
        raise ValueError("only non-negative integers are encoded here")
    encoded = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return tlv(0x02, encoded)


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form."""
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] >= 40) or min(parts) < 0:
        raise ValueError(f"not an object identifier: {dotted!r}")
    body = bytearray()
    # The first two arcs share one subidentifier (X.690 8.19.4), base 128 like the others.
    for part in [40 * parts[0] + parts[1], *parts[2:]]:
        chunk = [part & 0x7F]
        rest = part >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def bit_string(data: bytes) -> bytes:
    """A BIT STRING with no unused bits."""
    return tlv(0x03, b"\x00" + data)


NULL = b"\x05\x00"


def explicit(number: int, content: bytes) -> bytes:
    """A context-specific constructed [number] tag around `content`."""
    return tlv(0xA0 | number, content)
