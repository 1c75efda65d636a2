"""The sans-I/O frame reader: framing, limits before allocation, malformed input."""

from __future__ import annotations

import pytest

from tessera.wire.framing import (
    Frame,
    FrameReader,
    FramingError,
    Limits,
    encode_request,
    encode_response,
)
from tessera.wire.header import Header
from tessera.wire.status import Status


def frame(body: bytes = b"", auth: bytes = b"", *, opcode: int = 1, **fields: int) -> bytes:
    return encode_request(Header(opcode=opcode, **fields), body, auth)


def test_whole_frame_in_one_feed() -> None:
    events = FrameReader().feed(frame(b"body", b"auth", opcode=9, auth_type=1))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Frame)
    assert (event.body, event.auth, event.header.opcode) == (b"body", b"auth", 9)


def test_byte_by_byte_and_pipelined_frames() -> None:
    reader = FrameReader()
    data = frame(b"one", opcode=1) + frame(b"two", b"x", opcode=8, auth_type=1)
    events = []
    for i in range(len(data)):
        events += reader.feed(data[i : i + 1])
    assert [e.body for e in events if isinstance(e, Frame)] == [b"one", b"two"]
    assert reader.buffered == 0


def test_reader_keeps_partial_frame_buffered() -> None:
    reader = FrameReader()
    data = frame(b"abcdef")
    assert reader.feed(data[:-2]) == []
    assert reader.buffered == len(data) - 2
    assert isinstance(reader.feed(data[-2:])[0], Frame)


def single_error(data: bytes, limits: Limits | None = None) -> FramingError:
    events = FrameReader(limits).feed(data)
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, FramingError)
    return event


def test_bad_magic_is_invalid_header_and_fatal() -> None:
    data = bytearray(frame())
    data[0] ^= 0xFF
    error = single_error(bytes(data))
    assert error.status is Status.INVALID_HEADER
    assert error.fatal and error.header is None


@pytest.mark.parametrize("size", [0, 29, 31, 64, 0xFFFF])
def test_request_header_size_other_than_30_is_invalid(size: int) -> None:
    data = bytearray(frame())
    data[4:6] = size.to_bytes(2, "little")
    assert single_error(bytes(data)).status is Status.INVALID_HEADER


def test_unknown_version_is_refused() -> None:
    assert single_error(frame(major=2)).status is Status.WIRE_PROTOCOL_VERSION_NOT_SUPPORTED
    assert single_error(frame(minor=1)).status is Status.WIRE_PROTOCOL_VERSION_NOT_SUPPORTED


def test_reserved_bytes_must_be_zero() -> None:
    assert single_error(frame(reserved1=1)).status is Status.INVALID_HEADER
    assert single_error(frame(reserved2=7)).status is Status.INVALID_HEADER


def test_oversize_body_refused_from_header_alone() -> None:
    # Only the header is fed: the limit must trip before any body byte is awaited or stored.
    header = Header(body_len=1 << 30).pack()
    error = single_error(header, Limits(max_body_size=1024))
    assert error.status is Status.BODY_SIZE_EXCEEDS_LIMIT and error.fatal


def test_body_exactly_at_limit_is_accepted() -> None:
    events = FrameReader(Limits(max_body_size=8)).feed(frame(b"12345678"))
    assert isinstance(events[0], Frame)


def test_oversize_auth_refused() -> None:
    header = Header(auth_len=60000).pack()
    error = single_error(header, Limits(max_auth_size=100))
    assert error.status is Status.BODY_SIZE_EXCEEDS_LIMIT


def test_fatal_error_stops_the_reader() -> None:
    reader = FrameReader()
    reader.feed(b"\x00" * 36)
    assert reader.dead
    assert reader.feed(frame()) == []


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"content_type": 1}, Status.CONTENT_TYPE_NOT_SUPPORTED),
        ({"accept_type": 5}, Status.ACCEPT_TYPE_NOT_SUPPORTED),
        ({"auth_type": 9}, Status.AUTHENTICATOR_DOES_NOT_EXIST),
        ({"opcode": 0x1D}, Status.OPCODE_DOES_NOT_EXIST),
        ({"opcode": 0xFFFFFFFF}, Status.OPCODE_DOES_NOT_EXIST),
    ],
)
def test_unknown_names_are_not_fatal(fields: dict[str, int], status: Status) -> None:
    reader = FrameReader()
    data = encode_request(Header(**fields), b"xyz", b"") + frame(opcode=1)
    events = reader.feed(data)
    assert len(events) == 2
    error, following = events
    assert isinstance(error, FramingError) and error.status is status
    assert not error.fatal and error.header is None
    assert isinstance(following, Frame)  # the stream stayed in sync


def test_content_type_checked_before_opcode() -> None:
    error = single_error(encode_request(Header(content_type=1, opcode=0x99), b""))
    assert error.status is Status.CONTENT_TYPE_NOT_SUPPORTED


def test_end_of_stream_mid_frame_is_connection_error() -> None:
    reader = FrameReader()
    reader.feed(frame(b"0123456789")[:-3])
    error = reader.end_of_stream()
    assert error is not None and error.status is Status.CONNECTION_ERROR


def test_end_of_stream_between_frames_is_clean() -> None:
    reader = FrameReader()
    reader.feed(frame())
    assert reader.end_of_stream() is None


def test_response_reader_ignores_auth_length_and_honours_larger_header() -> None:
    response = encode_response(Header(opcode=9, status=0), b"\x0a\x01\x01")
    reader = FrameReader(responses=True)
    events = reader.feed(response)
    assert isinstance(events[0], Frame) and events[0].body == b"\x0a\x01\x01"
    # A future header two bytes longer: a response reader skips what it does not know.
    longer = bytearray(response[:36] + b"\x00\x00" + response[36:])
    longer[4:6] = (32).to_bytes(2, "little")
    events = FrameReader(responses=True).feed(bytes(longer))
    assert isinstance(events[0], Frame) and events[0].body == b"\x0a\x01\x01"


def test_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_header_size"):
        Limits(max_header_size=10)


def _events(reader: FrameReader, chunks: list[bytes]) -> list[tuple[object, ...]]:
    seen: list[tuple[object, ...]] = []
    for chunk in chunks:
        for event in reader.feed(chunk):
            if isinstance(event, Frame):
                seen.append(("frame", event.header.pack(), event.body, event.auth))
            else:
                seen.append(("error", event.status, event.fatal, event.flags))
    seen.append(("end", reader.end_of_stream(), reader.buffered))
    return seen


@pytest.mark.parametrize(
    "stream",
    [
        frame(b"body", b"auth", opcode=9, auth_type=1),  # one whole frame: read in place
        frame(b"one") + frame(b"two", b"x", opcode=8, auth_type=1),  # two in one read
        frame(b"abcdef")[:-2],  # not all there yet
        frame(opcode=0xFFFF),  # well framed, unknown opcode: not fatal
        frame(opcode=0xFFFF) + frame(b"next"),
        b"\x00" * 40,  # bad magic
        frame(b"x" * 32)[:30],  # a header cut short
        frame(b"", b"", major=2),  # unknown version
    ],
)
@pytest.mark.parametrize("responses", [False, True])
def test_one_read_and_byte_by_byte_give_the_same_events(stream: bytes, responses: bool) -> None:
    whole = _events(FrameReader(responses=responses), [stream])
    split = _events(
        FrameReader(responses=responses), [stream[i : i + 1] for i in range(len(stream))]
    )
    assert whole == split
    # Bodies and auth fields are bytes whichever way they were read.
    assert all(type(part) is bytes for event in whole if event[0] == "frame" for part in event[2:])
