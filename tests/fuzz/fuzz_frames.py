"""Fuzz target `frames`: the sans-I/O frame reader, for requests and for responses.

Input: a byte of options (requests or responses, which limits), a byte giving the number of
chunks and one byte per chunk size, then the byte stream.

Properties: `feed` and `end_of_stream` never raise; the events do not depend on how the stream
is cut into chunks; no frame exceeds the limits and the reader never buffers more than one
frame's worth; a fatal error is the last event; every request frame re-encodes to itself.
"""

from __future__ import annotations

from tessera.wire.framing import Frame, FrameReader, FramingError, Limits, encode_request
from tessera.wire.header import HEADER_SIZE, MAGIC, PREFIX
from tessera.wire.status import Status
from tests.fuzz._input import Input

# Limits small enough that the fuzzer reaches them, and the defaults.
_HEADER_LIMITS = (HEADER_SIZE, HEADER_SIZE + 2, 64, 65535)
_BODY_LIMITS = (0, 16, 256, 1 << 20)
_AUTH_LIMITS = (0, 16, 65535)
MAX_CHUNKS = 8

TOKENS = (
    MAGIC.to_bytes(4, "little"),
    PREFIX.pack(MAGIC, HEADER_SIZE),
    HEADER_SIZE.to_bytes(2, "little"),
    b"\x01\x00",  # version 1.0
    b"\xff\xff\xff\xff",
)


def _events(limits: Limits, responses: bool, chunks: list[bytes]) -> list[Frame | FramingError]:
    reader = FrameReader(limits, responses=responses)
    # What a reader holds is at most one incomplete frame: limits are enforced before reading.
    most = PREFIX.size + limits.max_header_size + limits.max_body_size + limits.max_auth_size
    events: list[Frame | FramingError] = []
    for chunk in chunks:
        events += reader.feed(chunk)
        assert reader.buffered <= most, reader.buffered
    end = reader.end_of_stream()
    if end is not None:
        events.append(end)
    return events


def _limits(options: int) -> Limits:
    return Limits(
        max_header_size=_HEADER_LIMITS[options >> 1 & 3],
        max_body_size=_BODY_LIMITS[options >> 3 & 3],
        max_auth_size=_AUTH_LIMITS[(options >> 5 & 3) % len(_AUTH_LIMITS)],
    )


def one_input(data: bytes) -> None:
    source = Input(data)
    options = source.u8()
    responses = bool(options & 1)
    limits = _limits(options)
    sizes = [source.u8() + 1 for _ in range(source.u8() % (MAX_CHUNKS + 1))]
    stream = source.rest()

    whole = _events(limits, responses, [stream])
    chunks, at = [], 0
    for size in sizes:
        chunks.append(stream[at : at + size])
        at += size
    chunks.append(stream[at:])
    assert _events(limits, responses, chunks) == whole

    for index, event in enumerate(whole):
        if isinstance(event, FramingError):
            assert isinstance(event.status, Status)
            if event.fatal:
                assert index == len(whole) - 1, "events after a fatal error"
            continue
        header = event.header
        assert len(event.body) == header.body_len <= limits.max_body_size
        if responses:
            assert event.auth == b""
            continue
        assert len(event.auth) == header.auth_len <= limits.max_auth_size
        again = FrameReader(limits).feed(encode_request(header.replace(), event.body, event.auth))
        assert again == [event], "a request frame does not re-encode to itself"
