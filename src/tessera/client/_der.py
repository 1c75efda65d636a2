"""The little DER a certificate request and an ECDSA signature need (everything else comes from
`cryptography`).

Reading is strict DER, as `cryptography`'s own decoder reads it (tests hold them together):
definite minimal lengths, minimal non-negative integers, nothing left over.
"""

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


def _element(data: bytes, at: int, tag: int) -> tuple[bytes, int]:
    """The content of the element with `tag` at `at`, and the position after it."""
    if data[at : at + 1] != bytes([tag]):
        raise ValueError(f"expected DER tag {tag:#04x}")
    if at + 1 >= len(data):
        raise ValueError("DER element cut short")
    first, at = data[at + 1], at + 2
    size = first
    if first >= 0x80:  # long form: 1-4 length bytes, used only where the short one cannot be
        count = first & 0x7F
        size = int.from_bytes(data[at : at + count], "big")
        if not 1 <= count <= 4 or at + count > len(data):
            raise ValueError("invalid DER length")
        if size < 0x80 or size >> (8 * (count - 1)) == 0:
            raise ValueError("DER length not minimal")
        at += count
    if at + size > len(data):
        raise ValueError("DER element cut short")
    return data[at : at + size], at + size


def _unsigned(content: bytes) -> int:
    """A non-negative INTEGER's value from its (minimal) content."""
    if not content:
        raise ValueError("empty DER integer")
    if len(content) > 1 and (
        (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise ValueError("DER integer not minimal")
    if content[0] >= 0x80:
        raise ValueError("negative DER integer")
    return int.from_bytes(content, "big")


def ecdsa_signature(data: bytes) -> tuple[int, int]:
    """(r, s) of a DER Ecdsa-Sig-Value (RFC 3279); ValueError if `data` is not exactly one."""
    body, end = _element(data, 0, 0x30)
    if end != len(data):
        raise ValueError("data after the DER signature")
    r, at = _element(body, 0, 0x02)
    s, at = _element(body, at, 0x02)
    if at != len(body):
        raise ValueError("data after the DER signature's integers")
    return _unsigned(r), _unsigned(s)
