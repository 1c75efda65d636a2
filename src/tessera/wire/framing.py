"""Sans-I/O framing: bytes in, requests (or responses) and framing errors out.

Neither `socket` nor `asyncio` is imported here; the service, the sync client and the async
client are thin drivers around these readers. Limits are enforced from the header alone, before
any buffer for a body or auth field is allocated.
"""

from __future__ import annotations

from tessera.wire._values import Frozen, _set
from tessera.wire.header import HEADER_SIZE, MAGIC, PREFIX, VERSION_MAJOR, VERSION_MINOR, Header
from tessera.wire.opcodes import AuthType, BodyType, Opcode
from tessera.wire.status import Status

_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)
_KNOWN_AUTH_TYPES = frozenset(int(a) for a in AuthType)
_KNOWN_BODY_TYPES = frozenset(int(b) for b in BodyType)


class Limits(Frozen):
    """Sizes a peer may not exceed, checked against the header before reading further."""

    __slots__ = ("max_auth_size", "max_body_size", "max_header_size")
    __match_args__ = ("max_header_size", "max_body_size", "max_auth_size")
    _fields = __match_args__
    max_header_size: int
    max_body_size: int
    max_auth_size: int

    def __init__(
        self,
        max_header_size: int = 64,
        max_body_size: int = 1 << 20,
        max_auth_size: int = 65535,  # the u16 field's own maximum, as Parsec (no lower limit)
    ) -> None:
        if max_header_size < HEADER_SIZE:
            raise ValueError(f"max_header_size must be at least {HEADER_SIZE}")
        if max_body_size < 0 or max_auth_size < 0:
            raise ValueError("size limits must not be negative")
        _set(self, "max_header_size", max_header_size)
        _set(self, "max_body_size", max_body_size)
        _set(self, "max_auth_size", max_auth_size)


class Frame(Frozen):
    """One complete message: its header, body bytes and (requests only) auth bytes."""

    __slots__ = ("auth", "body", "header")
    __match_args__ = ("header", "body", "auth")
    _fields = __match_args__
    header: Header
    body: bytes
    auth: bytes

    def __init__(self, header: Header, body: bytes, auth: bytes = b"") -> None:
        _set(self, "header", header)
        _set(self, "body", body)
        _set(self, "auth", auth)


class FramingError(Frozen):
    """A message that cannot be served, with the status to answer it with.

    `header` is the request header to echo, or None when the default header must be used.
    `fatal` means the byte stream cannot be trusted any more: answer, then close. `flags` are
    the request's header flags when the header could be read.
    """

    __slots__ = ("fatal", "flags", "header", "status")
    __match_args__ = ("status", "header", "fatal", "flags")
    _fields = __match_args__
    status: Status
    header: Header | None
    fatal: bool
    flags: int

    def __init__(
        self, status: Status, header: Header | None = None, fatal: bool = False, flags: int = 0
    ) -> None:
        _set(self, "status", status)
        _set(self, "header", header)
        _set(self, "fatal", fatal)
        _set(self, "flags", flags)


Event = Frame | FramingError


class FrameReader:
    """Incremental parser for a stream of requests (or, with `responses=True`, responses).

    Feed it whatever bytes arrive; it returns the complete frames and errors they contain. After a
    fatal error it ignores further input.
    """

    __slots__ = ("_buffer", "_dead", "_header", "_header_size", "_limits", "_responses")

    def __init__(self, limits: Limits | None = None, *, responses: bool = False) -> None:
        self._limits = limits or Limits()
        self._responses = responses
        self._buffer = bytearray()
        self._header: Header | None = None
        self._header_size = 0
        self._dead = False

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a complete frame."""
        return len(self._buffer)

    @property
    def dead(self) -> bool:
        """True once a fatal error has been reported."""
        return self._dead

    def feed(self, data: bytes) -> list[Event]:
        """Take newly received bytes; return every event they complete, in order."""
        if self._dead:
            return []
        if not self._buffer and type(data) is bytes:
            # The common case, one whole frame in one read: read it from `data` itself.
            header = self._read_header(data)
            if isinstance(header, FramingError):
                return [header]
            if header is not None:
                start = self._header_size
                body_end = start + header.body_len
                end = body_end + (0 if self._responses else header.auth_len)
                if len(data) == end:
                    self._header = None
                    return [self._complete(header, data[start:body_end], data[body_end:end])]
        self._buffer += data
        events: list[Event] = []
        while not self._dead:
            event = self._next_event()
            if event is None:
                break
            events.append(event)
        return events

    def end_of_stream(self) -> FramingError | None:
        """The peer stopped sending: a partial frame is a short read (ConnectionError)."""
        if self._dead or not self._buffer:
            return None
        self._dead = True
        self._buffer.clear()
        return FramingError(Status.CONNECTION_ERROR, None, fatal=True)

    def _fail(self, status: Status) -> FramingError:
        self._dead = True
        self._buffer.clear()
        return FramingError(status, None, fatal=True)

    def _read_header(self, buffer: bytes | bytearray) -> Header | FramingError | None:
        """The header at the start of `buffer`, checked against the limits (and remembered, with
        its size, for the rest of the frame); None until enough bytes have arrived."""
        if len(buffer) < PREFIX.size:
            return None
        magic, header_size = PREFIX.unpack_from(buffer, 0)
        if magic != MAGIC:
            return self._fail(Status.INVALID_HEADER)
        # Requests must carry the 1.0 header exactly (as Parsec's service checks); a reader
        # of responses honours a larger header size by skipping what it does not know.
        expected = header_size == HEADER_SIZE or self._responses
        in_range = HEADER_SIZE <= header_size <= self._limits.max_header_size
        if not (expected and in_range):
            return self._fail(Status.INVALID_HEADER)
        if len(buffer) < PREFIX.size + header_size:
            return None
        header = Header.unpack_fields(buffer, PREFIX.size)
        if header.major != VERSION_MAJOR or header.minor != VERSION_MINOR:
            return self._fail(Status.WIRE_PROTOCOL_VERSION_NOT_SUPPORTED)
        if header.reserved1 or header.reserved2:
            return self._fail(Status.INVALID_HEADER)
        auth_len = 0 if self._responses else header.auth_len
        if header.body_len > self._limits.max_body_size:
            return self._fail(Status.BODY_SIZE_EXCEEDS_LIMIT)
        if auth_len > self._limits.max_auth_size:
            return self._fail(Status.BODY_SIZE_EXCEEDS_LIMIT)
        self._header = header
        self._header_size = PREFIX.size + header_size
        return header

    def _next_event(self) -> Event | None:
        buffer = self._buffer
        header = self._header
        if header is None:
            read = self._read_header(buffer)
            if read is None or isinstance(read, FramingError):
                return read
            header = read
        auth_len = 0 if self._responses else header.auth_len
        start = self._header_size
        end = start + header.body_len + auth_len
        if len(buffer) < end:
            return None
        body_end = start + header.body_len
        body = bytes(buffer[start:body_end])
        auth = bytes(buffer[body_end:end])
        del buffer[:end]
        self._header = None
        return self._complete(header, body, auth)

    def _complete(self, header: Header, body: bytes, auth: bytes) -> Event:
        if self._responses:
            return Frame(header, body)
        return _check_request_header(header) or Frame(header, body, auth)


def _check_request_header(header: Header) -> FramingError | None:
    """Header fields that are well framed but name things this service does not know.

    As in Parsec, these get the default response header; the frame was consumed whole, so the
    connection stays usable.
    """
    if header.content_type not in _KNOWN_BODY_TYPES:
        status = Status.CONTENT_TYPE_NOT_SUPPORTED
    elif header.accept_type not in _KNOWN_BODY_TYPES:
        status = Status.ACCEPT_TYPE_NOT_SUPPORTED
    elif header.auth_type not in _KNOWN_AUTH_TYPES:
        status = Status.AUTHENTICATOR_DOES_NOT_EXIST
    elif header.opcode not in _KNOWN_OPCODES:
        status = Status.OPCODE_DOES_NOT_EXIST
    else:
        return None
    return FramingError(status, None, fatal=False, flags=header.flags)


def encode_request(header: Header, body: bytes, auth: bytes = b"") -> bytes:
    """A complete request frame; the header's length fields are set from body and auth."""
    header.body_len = len(body)
    header.auth_len = len(auth)
    return header.pack() + body + auth


def encode_response(header: Header, body: bytes) -> bytes:
    """A complete response frame; the header's body length is set from `body`."""
    header.body_len = len(body)
    header.auth_len = 0
    return header.pack() + body
