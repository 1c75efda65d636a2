"""The fixed header of Parsec's wire protocol 1.0.

Layout, little-endian, 36 bytes on the wire: magic (u32), header size (u16) and then the 30 bytes
the header size counts: major (u8), minor (u8), flags (u16), provider (u8), session (u64),
content type (u8), accept type (u8), auth type (u8), content length (u32), auth length (u16),
opcode (u32), status (u16), two reserved bytes.
"""

from __future__ import annotations

import struct

MAGIC = 0x5EC0A710
HEADER_SIZE = 30  # what the header-size field says for version 1.0
VERSION_MAJOR = 1
VERSION_MINOR = 0

# Tessera extension: a request with this flag asks the service to keep the connection open for
# further requests. Parsec's service ignores flags, so clients that set it work against both.
FLAG_KEEP_ALIVE = 0x0001
# Tessera extension: the client knows Tessera's additions to Parsec's enumerations (opcodes that
# Parsec's clients cannot decode). Without it, discovery answers stay within what Parsec's own
# clients decode (docs/compatibility.md).
FLAG_EXTENSIONS = 0x0002

PREFIX = struct.Struct("<IH")  # magic, header size
FIELDS = struct.Struct("<BBHBQBBBIHIHBB")  # the 30 bytes after the prefix
WIRE_SIZE = PREFIX.size + FIELDS.size  # 36
_WHOLE = struct.Struct("<IHBBHBQBBBIHIHBB")


_FIELD_NAMES = (
    "provider",
    "session",
    "content_type",
    "accept_type",
    "auth_type",
    "body_len",
    "auth_len",
    "opcode",
    "status",
    "flags",
    "major",
    "minor",
    "reserved1",
    "reserved2",
)


class Header:
    """A request or response header with every field as its raw integer.

    Raw integers (not enums) so that a response can echo what a request carried, even values
    this version does not know. A plain class with slots (not a dataclass, whose import and
    generated methods every `tessera` command would pay at start): keyword or positional
    construction in field order, equality and repr over the fields, unhashable as it is mutable.
    """

    __slots__ = _FIELD_NAMES
    __match_args__ = _FIELD_NAMES
    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq

    def __init__(  # noqa: PLR0917 (positional in field order, as the dataclass it was)
        self,
        provider: int = 0,
        session: int = 0,
        content_type: int = 0,
        accept_type: int = 0,
        auth_type: int = 0,
        body_len: int = 0,
        auth_len: int = 0,
        opcode: int = 1,
        status: int = 0,
        flags: int = 0,
        major: int = VERSION_MAJOR,
        minor: int = VERSION_MINOR,
        reserved1: int = 0,
        reserved2: int = 0,
    ) -> None:
        self.provider = provider
        self.session = session
        self.content_type = content_type
        self.accept_type = accept_type
        self.auth_type = auth_type
        self.body_len = body_len
        self.auth_len = auth_len
        self.opcode = opcode
        self.status = status
        self.flags = flags
        self.major = major
        self.minor = minor
        self.reserved1 = reserved1
        self.reserved2 = reserved2

    def _values(self) -> tuple[int, ...]:
        return (
            self.provider,
            self.session,
            self.content_type,
            self.accept_type,
            self.auth_type,
            self.body_len,
            self.auth_len,
            self.opcode,
            self.status,
            self.flags,
            self.major,
            self.minor,
            self.reserved1,
            self.reserved2,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Header)
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={v!r}" for n, v in zip(_FIELD_NAMES, self._values(), strict=True))
        return f"{self.__class__.__qualname__}({fields})"

    def replace(self, **changes: int) -> Header:
        """A copy with `changes` (field name -> value) applied, as `dataclasses.replace`."""
        values = dict(zip(_FIELD_NAMES, self._values(), strict=True))
        unknown = changes.keys() - values.keys()
        if unknown:
            raise TypeError(f"Header has no field {sorted(unknown)[0]!r}")
        return Header(**(values | changes))

    def pack(self) -> bytes:
        """Encode as the 36 bytes of a version 1.0 header."""
        return _WHOLE.pack(
            MAGIC,
            HEADER_SIZE,
            self.major,
            self.minor,
            self.flags,
            self.provider,
            self.session,
            self.content_type,
            self.accept_type,
            self.auth_type,
            self.body_len,
            self.auth_len,
            self.opcode,
            self.status,
            self.reserved1,
            self.reserved2,
        )

    @classmethod
    def unpack_fields(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> Header:
        """Decode the 30 bytes that follow magic and header size, starting at `offset`."""
        (
            major,
            minor,
            flags,
            provider,
            session,
            content_type,
            accept_type,
            auth_type,
            body_len,
            auth_len,
            opcode,
            status,
            reserved1,
            reserved2,
        ) = FIELDS.unpack_from(data, offset)
        return cls(
            provider=provider,
            session=session,
            content_type=content_type,
            accept_type=accept_type,
            auth_type=auth_type,
            body_len=body_len,
            auth_len=auth_len,
            opcode=opcode,
            status=status,
            flags=flags,
            major=major,
            minor=minor,
            reserved1=reserved1,
            reserved2=reserved2,
        )


def response_to(request: Header, status: int, body: bytes) -> bytes:
    """The whole response to `request` (a header as `response_header_for` makes, then `body`),
    packed in one step: the request path's fast form of encode_response(response_header_for())."""
    return (
        _WHOLE.pack(
            MAGIC,
            HEADER_SIZE,
            VERSION_MAJOR,
            VERSION_MINOR,
            0,  # flags
            request.provider,
            request.session,
            request.accept_type,  # the content type is what the request accepts
            0,  # accept type
            0,  # auth type
            len(body),
            0,  # auth length
            request.opcode,
            status,
            0,
            0,
        )
        + body
    )


def response_header_for(request: Header | None, status: int, body_len: int = 0) -> Header:
    """The header of a response to `request`.

    With no request (its header could not be read or was invalid) the response carries Parsec's
    default header: provider 0, session 0, opcode Ping. Otherwise provider, session and opcode
    are echoed and the content type is what the request said it accepts.
    """
    if request is None:
        return Header(status=status, body_len=body_len)
    return Header(
        provider=request.provider,
        session=request.session,
        content_type=request.accept_type,
        opcode=request.opcode,
        status=status,
        body_len=body_len,
    )
