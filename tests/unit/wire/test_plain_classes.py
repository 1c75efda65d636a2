"""Header, Limits, Frame and FramingError are plain slots classes (not dataclasses, whose import
every `tessera` command paid at start): they keep a dataclass's construction, equality, hash,
repr and immutability, and survive pickling (configurations carry Limits to worker processes).
"""

from __future__ import annotations

import pickle

import pytest

from tessera.wire.framing import Frame, FramingError, Limits
from tessera.wire.header import Header
from tessera.wire.status import Status


def test_a_header_compares_and_prints_by_its_fields() -> None:
    header = Header(provider=1, session=7, opcode=3)
    assert header == Header(1, 7, 0, 0, 0, 0, 0, 3)
    assert header != Header(provider=1, session=7, opcode=4)
    assert header != (1, 7)
    assert repr(Header()) == (
        "Header(provider=0, session=0, content_type=0, accept_type=0, auth_type=0, body_len=0, "
        "auth_len=0, opcode=1, status=0, flags=0, major=1, minor=0, reserved1=0, reserved2=0)"
    )
    with pytest.raises(TypeError):
        hash(header)  # mutable: the encoders set its length fields
    with pytest.raises(AttributeError):
        header.colour = 1  # type: ignore[attr-defined]


def test_replacing_fields_of_a_header_copies_it() -> None:
    header = Header(provider=2, flags=3, body_len=10)
    copy = header.replace(flags=0)
    assert copy == Header(provider=2, flags=0, body_len=10)
    assert header.flags == 3
    same = header.replace()
    assert same == header and same is not header
    with pytest.raises(TypeError, match="colour"):
        header.replace(colour=1)


def test_a_header_pickles() -> None:
    header = Header(provider=4, session=1 << 40, reserved2=1)
    assert pickle.loads(pickle.dumps(header)) == header


def test_limits_check_their_values_and_stay_as_made() -> None:
    limits = Limits(max_body_size=10)
    assert (limits.max_header_size, limits.max_body_size, limits.max_auth_size) == (64, 10, 65535)
    assert limits == Limits(64, 10) and hash(limits) == hash(Limits(64, 10))
    assert limits != Limits()
    assert repr(limits) == "Limits(max_header_size=64, max_body_size=10, max_auth_size=65535)"
    with pytest.raises(AttributeError):
        limits.max_body_size = 11
    with pytest.raises(AttributeError):
        del limits.max_body_size
    with pytest.raises(ValueError, match="at least 30"):
        Limits(max_header_size=29)
    with pytest.raises(ValueError, match="negative"):
        Limits(max_auth_size=-1)
    assert pickle.loads(pickle.dumps(limits)) == limits


def test_frames_and_framing_errors_are_values() -> None:
    frame = Frame(Header(opcode=5), b"body")
    assert frame.auth == b""
    assert frame == Frame(Header(opcode=5), b"body", b"")
    assert frame != Frame(Header(opcode=5), b"body", b"x")
    assert repr(frame) == f"Frame(header={Header(opcode=5)!r}, body=b'body', auth=b'')"
    error = FramingError(Status.INVALID_HEADER, None, fatal=True)
    assert error == FramingError(Status.INVALID_HEADER, fatal=True, flags=0)
    assert hash(error) == hash(FramingError(Status.INVALID_HEADER, fatal=True))
    assert repr(error) == (
        f"FramingError(status={Status.INVALID_HEADER!r}, header=None, fatal=True, flags=0)"
    )
    with pytest.raises(AttributeError):
        error.fatal = False
    assert pickle.loads(pickle.dumps(error)) == error
    match frame:
        case Frame(header, body):
            assert (header.opcode, body) == (5, b"body")
