"""The proto3 wire format for a few messages, without the protobuf runtime.

The protobuf runtime takes longer to import than the `tessera` command may take in all (its
descriptor pool loads the pure-Python message module, even with the upb backend: see
benchmarks/README.md, "CLI start-up"). The client's simplest operations are encoded and decoded
here instead, from schemas written from the project's `.proto` files (`tessera.client._messages`);
the daemons keep protobuf. tests/unit/wire/test_protowire.py holds every schema to its generated
descriptor and every encoding to protobuf's, byte for byte.

What protobuf does, done the same way:
- encoding: fields in field-number order; a scalar without presence is left out when it has its
  default value; a field with presence (a message, a oneof member) is written when given, even
  empty or zero; repeated scalars are packed;
- decoding: unknown fields (and known ones with another wire type) are skipped; the last
  occurrence of a scalar wins, occurrences of a message are merged; repeated scalars are read
  packed or not; uint32 keeps the low 32 bits of its varint, int32 is sign-extended; a string
  must be UTF-8. Anything malformed raises `WireDecodeError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

# Field kinds (the .proto scalar types used by the schemas, plus nested messages).

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Any
else:
    from tessera.wire._runtime_typing import Any
UINT32 = "uint32"
UINT64 = "uint64"
INT32 = "int32"
ENUM = "enum"  # an int32 on the wire
BOOL = "bool"
STRING = "string"
BYTES = "bytes"
MESSAGE = "message"
EMBEDDED = "embedded"  # a message kept as its bytes (checked with its schema), for protobuf

_VARINT_KINDS = frozenset({UINT32, UINT64, INT32, ENUM, BOOL})
_DEFAULTS: dict[str, Any] = {
    UINT32: 0,
    UINT64: 0,
    INT32: 0,
    ENUM: 0,
    BOOL: False,
    STRING: "",
    BYTES: b"",
}
_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = range(6)
_MAX_DEPTH = 64  # nested messages and groups, as protobuf's default recursion limit (100)


class WireDecodeError(ValueError):
    """Bytes that are not a valid encoding of the message."""


class Enum:
    """An enum type's value names by number, as the .proto declares them."""

    __slots__ = ("name", "names")

    def __init__(self, name: str, names: Mapping[int, str]) -> None:
        self.name = name
        self.names = dict(names)


class Field:
    """One field of a schema: number, name, kind, and for messages their schema."""

    __slots__ = ("enum", "kind", "name", "number", "presence", "repeated", "schema")

    def __init__(
        self,
        number: int,
        name: str,
        kind: str,
        schema: Schema | None = None,
        *,
        repeated: bool = False,
        presence: bool = False,
        enum: Enum | None = None,
    ) -> None:
        if (kind in (MESSAGE, EMBEDDED)) != (schema is not None):
            raise ValueError(f"field {name}: a schema is given for message fields only")
        if enum is not None and kind != ENUM:
            raise ValueError(f"field {name}: value names are given for enum fields only")
        self.number = number
        self.name = name
        self.kind = kind
        self.schema = schema
        self.repeated = repeated
        # Messages always have presence; scalars only as oneof members (or `optional`).
        self.presence = presence or (kind in (MESSAGE, EMBEDDED) and not repeated)
        self.enum = enum


class Schema:
    """A message's fields (`oneofs`: the names of each oneof's members)."""

    __slots__ = ("by_name", "by_number", "fields", "name", "oneofs")

    def __init__(
        self, name: str, fields: list[Field], oneofs: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        self.name = name
        self.fields = sorted(fields, key=lambda f: f.number)
        self.by_number = {f.number: f for f in self.fields}
        self.by_name = {f.name: f for f in self.fields}
        self.oneofs = dict(oneofs or {})
        if len(self.by_number) != len(fields) or len(self.by_name) != len(fields):
            raise ValueError(f"{name}: field numbers and names must be unique")
        for members in self.oneofs.values():
            for member in members:
                self.by_name[member].presence = True


# encoding


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # negative int32/enum: ten bytes, as protobuf writes them
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _scalar(kind: str, value: Any) -> bytes:
    """A scalar's payload (without its tag)."""
    if kind in _VARINT_KINDS:
        number = int(value)
        if kind == UINT32 and not 0 <= number < 1 << 32:
            raise ValueError(f"uint32 out of range: {number}")
        if kind == UINT64 and not 0 <= number < 1 << 64:
            raise ValueError(f"uint64 out of range: {number}")
        if kind in (INT32, ENUM) and not -(1 << 31) <= number < 1 << 31:
            raise ValueError(f"int32 out of range: {number}")
        return _varint(number)
    data = value.encode("utf-8") if kind == STRING else bytes(value)
    return _varint(len(data)) + data


def _message_bytes(field: Field, value: Any) -> bytes:
    """An embedded message: a mapping encoded with the field's schema, its bytes, or an object
    that serializes itself (a protobuf message a caller built)."""
    if isinstance(value, bytes):  # EMBEDDED
        return value
    if isinstance(value, Mapping):
        assert field.schema is not None
        return encode(field.schema, value)
    data = value.SerializeToString()
    assert isinstance(data, bytes)
    return data


def encode(schema: Schema, values: Mapping[str, Any]) -> bytes:
    """The message with these field values (by name; missing ones have their default)."""
    unknown = set(values) - set(schema.by_name)
    if unknown:
        raise ValueError(f"{schema.name} has no field {sorted(unknown)[0]!r}")
    for members in schema.oneofs.values():
        if sum(values.get(m) is not None for m in members) > 1:
            raise ValueError(f"{schema.name}: one member of a oneof at most")
    return b"".join(_encode_field(f, values.get(f.name)) for f in schema.fields)


def _encode_field(field: Field, value: Any) -> bytes:
    """One field's tag(s) and payload(s); nothing for a value left out."""
    if value is None:
        return b""
    length_tag = _varint(field.number << 3 | _LENGTH)
    if field.kind in (MESSAGE, EMBEDDED):
        items = value if field.repeated else [value]
        encoded = (_message_bytes(field, item) for item in items)
        return b"".join(length_tag + _varint(len(data)) + data for data in encoded)
    if field.repeated:
        if not value:
            return b""
        if field.kind in _VARINT_KINDS:  # packed
            data = b"".join(_scalar(field.kind, item) for item in value)
            return length_tag + _varint(len(data)) + data
        return b"".join(length_tag + _scalar(field.kind, item) for item in value)
    if not field.presence and value == _DEFAULTS[field.kind]:
        return b""
    wire = _VARINT if field.kind in _VARINT_KINDS else _LENGTH
    return _varint(field.number << 3 | wire) + _scalar(field.kind, value)


# decoding


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if at >= len(data):
            raise WireDecodeError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & ((1 << 64) - 1), at
    raise WireDecodeError("varint longer than ten bytes")


def _skip(data: bytes, at: int, wire: int, number: int, depth: int) -> int:
    """The position after a field's payload (a field this schema does not read)."""
    if wire == _VARINT:
        return _read_varint(data, at)[1]
    if wire == _FIXED64:
        end = at + 8
    elif wire == _FIXED32:
        end = at + 4
    elif wire == _LENGTH:
        size, at = _read_varint(data, at)
        end = at + size
    elif wire == _START_GROUP:
        if depth >= _MAX_DEPTH:
            raise WireDecodeError("groups nested too deeply")
        while True:
            key, at = _read_varint(data, at)
            if key >> 3 == 0 or key > 0xFFFFFFFF:
                raise WireDecodeError("invalid field number")
            if key & 7 == _END_GROUP:
                if key >> 3 != number:
                    raise WireDecodeError("mismatched end of group")
                return at
            at = _skip(data, at, key & 7, key >> 3, depth + 1)
    else:  # an end of group outside one, or wire types 6 and 7
        raise WireDecodeError(f"invalid wire type {wire}")
    if end > len(data):
        raise WireDecodeError("truncated field")
    return end


def _number(kind: str, raw: int) -> int | bool:
    if kind == UINT32:
        return raw & 0xFFFFFFFF
    if kind in (INT32, ENUM):
        low = raw & 0xFFFFFFFF
        return low - (1 << 32) if low & 0x80000000 else low
    if kind == BOOL:
        return raw != 0
    return raw  # uint64


def _text(kind: str, payload: bytes) -> str | bytes:
    if kind == BYTES:
        return payload
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WireDecodeError("a string field is not valid UTF-8") from None


def _accepts(field: Field, wire: int) -> bool:
    """True if `wire` is a wire type the field is read from (else: skipped, as unknown)."""
    if field.kind in _VARINT_KINDS:
        return wire == _VARINT or (wire == _LENGTH and field.repeated)  # packed or not
    return wire == _LENGTH


def _fields(data: bytes, depth: int) -> Iterator[tuple[int, int, Any]]:
    """(number, wire type, value) of each field: an int for a varint, the payload's bytes for
    a length-delimited field, None for the others (skipped)."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if number == 0 or key > 0xFFFFFFFF:
            raise WireDecodeError("invalid field number")
        if wire == _VARINT:
            value, at = _read_varint(data, at)
            yield number, wire, value
        elif wire == _LENGTH:
            size, at = _read_varint(data, at)
            if at + size > len(data):
                raise WireDecodeError("truncated field")
            yield number, wire, data[at : at + size]
            at += size
        else:
            at = _skip(data, at, wire, number, depth)
            yield number, wire, None


def _varints(payload: bytes) -> Iterator[int]:
    at = 0
    while at < len(payload):
        value, at = _read_varint(payload, at)
        yield value


class _Message:
    """One message being decoded: the values read so far."""

    def __init__(self, schema: Schema, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise WireDecodeError("messages nested too deeply")
        self.schema = schema
        self.depth = depth
        self.values: dict[str, Any] = {}
        self.embedded: dict[str, list[bytes]] = {}  # a kept-encoded field's occurrences, joined
        # A message field's value: every occurrence read into one message in turn, as protobuf
        # merges them (later scalars win, lists grow, messages merge), each byte read once.
        self.children: dict[str, _Message] = {}
        self.member_of = {m: name for name, members in schema.oneofs.items() for m in members}

    def read(self, field: Field, wire: int, value: Any) -> None:
        name = field.name
        if wire == _VARINT:
            number = _number(field.kind, value)
            if field.repeated:
                self.values.setdefault(name, []).append(number)
            else:
                self.values[name] = number
        elif field.kind in _VARINT_KINDS:  # packed
            self.values.setdefault(name, []).extend(_number(field.kind, v) for v in _varints(value))
        elif field.kind == MESSAGE and field.repeated:
            assert field.schema is not None
            item = decode(field.schema, value, _depth=self.depth + 1)
            self.values.setdefault(name, []).append(item)
        elif field.kind == EMBEDDED and field.repeated:
            assert field.schema is not None
            decode(field.schema, value, _depth=self.depth + 1)  # refused as protobuf would
            self.values.setdefault(name, []).append(value)
        elif field.kind in (MESSAGE, EMBEDDED):
            self._read_message(field, value)
        elif field.repeated:
            self.values.setdefault(name, []).append(_text(field.kind, value))
        else:
            self.values[name] = _text(field.kind, value)
        oneof = self.member_of.get(name)
        if oneof is not None:  # setting one member clears the others
            for other in self.schema.oneofs[oneof]:
                if other != name:
                    self.values.pop(other, None)
                    self.embedded.pop(other, None)
                    self.children.pop(other, None)

    def _read_message(self, field: Field, value: bytes) -> None:
        """One occurrence of a (not repeated) message field: read now, as protobuf reads it (a
        damaged one is refused even if a later field replaces it)."""
        assert field.schema is not None
        name = field.name
        if field.kind == EMBEDDED:
            decode(field.schema, value, _depth=self.depth + 1)  # refused as protobuf would
            self.embedded.setdefault(name, []).append(value)
        else:
            child = self.children.get(name)
            if child is None:
                child = self.children[name] = _Message(field.schema, self.depth + 1)
            child.feed(value)
        self.values[name] = None  # made once every occurrence is known (`result`)

    def feed(self, data: bytes) -> None:
        """Read the fields of `data` (one encoding, or one more occurrence to merge)."""
        by_number = self.schema.by_number
        for number, wire, value in _fields(data, self.depth):
            field = by_number.get(number)
            if field is not None and _accepts(field, wire):
                self.read(field, wire, value)

    def result(self) -> dict[str, Any]:
        for name, parts in self.embedded.items():
            self.values[name] = b"".join(parts)  # protobuf's merge of the occurrences, encoded
        for name, child in self.children.items():
            self.values[name] = child.result()
        out: dict[str, Any] = {}
        for field in self.schema.fields:
            if field.name in self.values:
                out[field.name] = self.values[field.name]
            elif field.repeated:
                out[field.name] = []
            elif field.presence:
                out[field.name] = None
            else:
                out[field.name] = _DEFAULTS[field.kind]
        return out


def decode(schema: Schema, data: bytes, *, _depth: int = 0) -> dict[str, Any]:
    """Every field of the message, by name: scalars (their default when absent), lists for
    repeated fields, dicts for messages (None when absent, as `HasField` would say)."""
    message = _Message(schema, _depth)
    message.feed(data)
    return message.result()


def enum_name(field: Field, value: int) -> str:
    """The name of an enum field's value, as protobuf's `Name()` gives it (ValueError for a
    value the .proto does not name)."""
    assert field.enum is not None
    name = field.enum.names.get(value)
    if name is None:
        raise ValueError(f"Enum {field.enum.name} has no name defined for value {value!r}")
    return name


def part(schema: Schema, values: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A message field of decoded `values`; its defaults when it is absent (what protobuf reads
    from an unset message field)."""
    value: dict[str, Any] | None = values[name]
    if value is not None:
        return value
    field = schema.by_name[name]
    if field.kind != MESSAGE or field.repeated or field.schema is None:
        raise ValueError(f"{schema.name}.{name} is not a message field")
    return decode(field.schema, b"")


def which(schema: Schema, values: Mapping[str, Any], oneof: str) -> str | None:
    """The member of a oneof that is set in decoded `values` (`WhichOneof`)."""
    for member in schema.oneofs[oneof]:
        if values.get(member) is not None:
            return member
    return None
