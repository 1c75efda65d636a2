"""The fixed header codec against hand-computed bytes."""

from __future__ import annotations

from tessera.wire.header import MAGIC, WIRE_SIZE, Header, response_header_for

PING_REQUEST = bytes.fromhex(
    "10a7c05e1e00010000000000000000000000000000000000000000000100000000000000"
)


def test_header_is_36_bytes_with_magic_and_size_first() -> None:
    packed = Header().pack()
    assert len(packed) == WIRE_SIZE == 36
    assert packed[:4] == MAGIC.to_bytes(4, "little")
    assert packed[4:6] == (30).to_bytes(2, "little")


def test_ping_request_round_trip() -> None:
    header = Header.unpack_fields(PING_REQUEST, 6)
    assert header.opcode == 1
    assert header.major == 1 and header.minor == 0
    assert header.pack() == PING_REQUEST


def test_every_field_lands_at_its_offset() -> None:
    header = Header(
        provider=0xAB,
        session=0x0102030405060708,
        content_type=0x11,
        accept_type=0x22,
        auth_type=0x33,
        body_len=0x0A0B0C0D,
        auth_len=0x0E0F,
        opcode=0x11223344,
        status=0x5566,
        flags=0x7788,
    )
    raw = header.pack()
    assert raw[8:10] == (0x7788).to_bytes(2, "little")
    assert raw[10] == 0xAB
    assert raw[11:19] == (0x0102030405060708).to_bytes(8, "little")
    assert raw[19:22] == bytes([0x11, 0x22, 0x33])
    assert raw[22:26] == (0x0A0B0C0D).to_bytes(4, "little")
    assert raw[26:28] == (0x0E0F).to_bytes(2, "little")
    assert raw[28:32] == (0x11223344).to_bytes(4, "little")
    assert raw[32:34] == (0x5566).to_bytes(2, "little")
    assert raw[34:36] == b"\x00\x00"
    assert Header.unpack_fields(raw, 6) == header


def test_response_header_echoes_request_or_uses_default() -> None:
    request = Header(provider=3, session=99, accept_type=0, auth_type=1, opcode=4, auth_len=5)
    echoed = response_header_for(request, 1140)
    assert (echoed.provider, echoed.session, echoed.opcode, echoed.status) == (3, 99, 4, 1140)
    assert echoed.auth_type == 0 and echoed.auth_len == 0
    default = response_header_for(None, 17)
    assert (default.provider, default.session, default.opcode, default.status) == (0, 0, 1, 17)
