"""The protobuf-free codec against protobuf itself: schemas, encodings byte for byte, decodings.

`tessera.client._messages` holds the schemas of the operations the client encodes without
protobuf; each is checked against its generated descriptor, every encoding against protobuf's
over all fields (defaults and edge values included), and every decoding against protobuf's on
the same bytes, including damaged ones. The PSA key attributes (oneofs, enums with presence,
nested and merged messages) exercise what the operation schemas do not.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from tessera.client import _messages
from tessera.wire import protowire
from tessera.wire.contracts import operation_type, result_type
from tessera.wire.proto import (
    delete_client_pb2,
    fetch_token_pb2,
    list_authenticators_pb2,
    list_clients_pb2,
    list_keys_pb2,
    list_opcodes_pb2,
    list_providers_pb2,
    ping_pb2,
    psa_algorithm_pb2,
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_random_pb2,
    psa_key_attributes_pb2,
)
from tessera.wire.protowire import (
    BOOL,
    ENUM,
    MESSAGE,
    STRING,
    UINT32,
    UINT64,
    Schema,
    WireDecodeError,
)

# Every schema the client uses, with the generated message it stands for.
PAIRS: list[tuple[Schema, type[Message]]] = [
    (_messages.EMPTY, ping_pb2.Operation),
    (_messages.PING_RESULT, ping_pb2.Result),
    (_messages.EMPTY, list_providers_pb2.Operation),
    (_messages.LIST_PROVIDERS_RESULT, list_providers_pb2.Result),
    (_messages.LIST_OPCODES_OPERATION, list_opcodes_pb2.Operation),
    (_messages.LIST_OPCODES_RESULT, list_opcodes_pb2.Result),
    (_messages.EMPTY, list_authenticators_pb2.Operation),
    (_messages.LIST_AUTHENTICATORS_RESULT, list_authenticators_pb2.Result),
    (_messages.EMPTY, list_clients_pb2.Operation),
    (_messages.LIST_CLIENTS_RESULT, list_clients_pb2.Result),
    (_messages.DELETE_CLIENT_OPERATION, delete_client_pb2.Operation),
    (_messages.EMPTY, delete_client_pb2.Result),
    (_messages.FETCH_TOKEN_OPERATION, fetch_token_pb2.Operation),
    (_messages.FETCH_TOKEN_RESULT, fetch_token_pb2.Result),
    (_messages.GENERATE_RANDOM_OPERATION, psa_generate_random_pb2.Operation),
    (_messages.GENERATE_RANDOM_RESULT, psa_generate_random_pb2.Result),
    (_messages.KEY_NAME_OPERATION, psa_export_key_pb2.Operation),
    (_messages.DATA_RESULT, psa_export_key_pb2.Result),
    (_messages.KEY_NAME_OPERATION, psa_export_public_key_pb2.Operation),
    (_messages.DATA_RESULT, psa_export_public_key_pb2.Result),
    (_messages.KEY_NAME_OPERATION, psa_destroy_key_pb2.Operation),
    (_messages.EMPTY, psa_destroy_key_pb2.Result),
    (_messages.EMPTY, list_keys_pb2.Operation),
    (_messages.LIST_KEYS_RESULT, list_keys_pb2.Result),
    (_messages.ALGORITHM, psa_algorithm_pb2.Algorithm),
]
# The operations on a key with its algorithm (the idiomatic flows' signatures, AEAD, RSA, MAC),
# held to the messages the operation registry names.
for _opcode, (_operation, _result) in _messages.WITH_ALGORITHM.items():
    PAIRS += [(_operation, operation_type(_opcode)), (_result, result_type(_opcode))]


ATTRIBUTES = _messages.KEY_ATTRIBUTES

_KINDS = {
    FieldDescriptor.TYPE_UINT32: UINT32,
    FieldDescriptor.TYPE_UINT64: UINT64,
    FieldDescriptor.TYPE_ENUM: ENUM,
    FieldDescriptor.TYPE_BOOL: BOOL,
    FieldDescriptor.TYPE_STRING: STRING,
    FieldDescriptor.TYPE_BYTES: protowire.BYTES,
    FieldDescriptor.TYPE_MESSAGE: MESSAGE,
}


def _same_shape(schema: Schema, descriptor: Any) -> None:
    """The schema says what the generated descriptor says, field by field."""
    assert {f.number for f in schema.fields} == {f.number for f in descriptor.fields}
    for field in schema.fields:
        generated = descriptor.fields_by_number[field.number]
        assert field.name == generated.name, (descriptor.full_name, field.number)
        if field.kind == protowire.EMBEDDED:  # a message kept as bytes
            assert generated.type == FieldDescriptor.TYPE_MESSAGE, generated.full_name
            continue
        assert field.kind == _KINDS[generated.type], generated.full_name
        if field.kind == ENUM:
            assert field.enum is not None, generated.full_name
            assert field.enum.name == generated.enum_type.name
            assert field.enum.names == {v.number: v.name for v in generated.enum_type.values}
        assert field.repeated == (generated.is_repeated)
        assert field.presence == (not field.repeated and generated.has_presence)
        oneof = generated.containing_oneof
        if oneof is not None:
            assert field.name in schema.oneofs[oneof.name]
        if field.schema is not None:
            _same_shape(field.schema, generated.message_type)


@pytest.mark.parametrize("schema, message", PAIRS, ids=lambda x: getattr(x, "name", ""))
def test_each_schema_is_its_generated_message(schema: Schema, message: type[Message]) -> None:
    _same_shape(schema, message.DESCRIPTOR)


def test_the_schema_of_key_attributes_is_the_generated_one() -> None:
    _same_shape(ATTRIBUTES, psa_key_attributes_pb2.KeyAttributes.DESCRIPTOR)


# Values to fill messages with: defaults, edges, and some that need long lengths or varints.
_EDGES: dict[str, list[Any]] = {
    UINT32: [0, 1, 127, 128, 300, 2**31, 2**32 - 1],
    UINT64: [0, 1, 127, 128, 2**32, 2**63, 2**64 - 1],
    ENUM: [0, 1, 2, 7, 15, 127, 128, -1, -(2**31), 2**31 - 1],
    BOOL: [False, True],
    STRING: ["", "a", "clé-🔑", "x" * 127, "y" * 128, "z" * 20000],
    protowire.BYTES: [b"", b"\x00", bytes(range(256)), b"\xff" * 128],
}


def _values(schema: Schema, rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """Random field values (a oneof gets one member, or none)."""
    values: dict[str, Any] = {}
    chosen = {oneof: rng.choice([None, *members]) for oneof, members in schema.oneofs.items()}
    in_oneof = {m for members in schema.oneofs.values() for m in members}
    for field in schema.fields:
        if field.name in in_oneof and field.name not in chosen.values():
            continue
        if field.kind == protowire.EMBEDDED:
            if rng.random() < 0.8:
                assert field.schema is not None
                inner = _values(field.schema, rng, depth + 1)
                values[field.name] = protowire.encode(field.schema, inner)
        elif field.kind == MESSAGE:
            assert field.schema is not None
            if field.repeated:
                count = rng.choice([0, 1, 3])
                values[field.name] = [_values(field.schema, rng, depth + 1) for _ in range(count)]
            elif field.name in in_oneof or rng.random() < 0.8:
                values[field.name] = _values(field.schema, rng, depth + 1)
        elif field.repeated:
            values[field.name] = [
                rng.choice(_EDGES[field.kind]) for _ in range(rng.choice([0, 1, 5]))
            ]
        elif field.name in in_oneof or rng.random() < 0.8:
            values[field.name] = rng.choice(_EDGES[field.kind])
    return values


def _protobuf(message: type[Message], values: dict[str, Any]) -> Message:
    """The generated message with the same values."""
    built = message()
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            inner = field.message_type._concrete_class  # type: ignore[union-attr]
            if field.is_repeated:
                getattr(built, name).extend(_protobuf(inner, item) for item in value)
            elif isinstance(value, bytes):  # an EMBEDDED field's value
                getattr(built, name).SetInParent()
                getattr(built, name).MergeFromString(value)
            else:
                getattr(built, name).CopyFrom(_protobuf(inner, value))
        elif field.is_repeated:
            getattr(built, name).extend(value)
        else:
            setattr(built, name, value)
    return built


def _read(schema: Schema, message: Message) -> dict[str, Any]:
    """What protowire's decoder should say about a generated message (EMBEDDED fields
    expanded, as `_lite` does)."""
    out: dict[str, Any] = {}
    for field in schema.fields:
        value = getattr(message, field.name)
        if field.kind == protowire.EMBEDDED:
            present = message.HasField(field.name)
            embedded = field.schema
            assert embedded is not None
            out[field.name] = _read(embedded, value) if present else None
        elif field.kind == MESSAGE:
            assert field.schema is not None
            if field.repeated:
                out[field.name] = [_read(field.schema, item) for item in value]
            else:
                present = message.HasField(field.name)
                out[field.name] = _read(field.schema, value) if present else None
        elif field.repeated:
            out[field.name] = list(value)
        elif field.presence and not message.HasField(field.name):
            out[field.name] = None
        else:
            out[field.name] = value
    return out


def _lite(schema: Schema, data: bytes) -> dict[str, Any]:
    """protowire's decoding, EMBEDDED fields decoded with their schemas."""
    return _expand(schema, protowire.decode(schema, data))


def _expand(schema: Schema, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for field in schema.fields:
        value = values[field.name]
        if value is None:
            continue
        if field.kind == protowire.EMBEDDED and field.schema is not None:
            out[field.name] = _lite(field.schema, value)
        elif field.kind == MESSAGE and field.schema is not None:
            if field.repeated:
                out[field.name] = [_expand(field.schema, item) for item in value]
            else:
                out[field.name] = _expand(field.schema, value)
    return out


ALL = [*PAIRS, (ATTRIBUTES, psa_key_attributes_pb2.KeyAttributes)]


@pytest.mark.parametrize("schema, message", ALL, ids=lambda x: getattr(x, "name", ""))
def test_encodings_are_protobufs_byte_for_byte(schema: Schema, message: type[Message]) -> None:
    rng = random.Random(f"encode {schema.name} {message.DESCRIPTOR.full_name}")
    cases: list[dict[str, Any]] = [{}] + [_values(schema, rng) for _ in range(300)]
    # Every field at every edge value, one at a time (defaults included: left out by both).
    for field in schema.fields:
        if field.kind != MESSAGE and not field.repeated:
            cases += [{field.name: value} for value in _EDGES[field.kind]]
    for values in cases:
        expected = _protobuf(message, values).SerializeToString()
        assert protowire.encode(schema, values) == expected, values


@pytest.mark.parametrize("schema, message", ALL, ids=lambda x: getattr(x, "name", ""))
def test_decodings_are_protobufs(schema: Schema, message: type[Message]) -> None:
    rng = random.Random(f"decode {schema.name} {message.DESCRIPTOR.full_name}")
    for _ in range(300):
        data = _protobuf(message, _values(schema, rng)).SerializeToString()
        assert _lite(schema, data) == _read(schema, message.FromString(data))


@pytest.mark.parametrize("schema, message", ALL, ids=lambda x: getattr(x, "name", ""))
def test_decoded_fields_encode_as_protobuf_serializes_what_it_parsed(
    schema: Schema, message: type[Message]
) -> None:
    """What the idiomatic flows rely on: a key's algorithm read with protowire and sent back is
    the algorithm protobuf would have parsed and sent back (absent, empty and zero fields
    alike)."""
    rng = random.Random(f"round trip {schema.name} {message.DESCRIPTOR.full_name}")
    for _ in range(300):
        data = _protobuf(message, _values(schema, rng)).SerializeToString()
        expected = message.FromString(data).SerializeToString()
        assert protowire.encode(schema, protowire.decode(schema, data)) == expected


def test_an_absent_message_field_reads_as_its_defaults() -> None:
    attributes = protowire.decode(ATTRIBUTES, b"")
    policy = protowire.part(ATTRIBUTES, attributes, "key_policy")
    assert policy == protowire.decode(_messages.KEY_POLICY, b"")
    flags = protowire.part(_messages.KEY_POLICY, policy, "key_usage_flags")
    assert flags == dict.fromkeys(flags, False) and "sign_hash" in flags
    present = {"key_policy": {"key_usage_flags": None, "key_algorithm": None}}
    assert protowire.part(ATTRIBUTES, present, "key_policy") is present["key_policy"]
    with pytest.raises(ValueError, match="not a message field"):
        protowire.part(ATTRIBUTES, {"key_bits": None}, "key_bits")


def test_a_protobuf_message_embeds_as_it_serializes() -> None:
    alg = psa_algorithm_pb2.Algorithm()
    alg.asymmetric_signature.ecdsa.hash_alg.specific = psa_algorithm_pb2.Algorithm.SHA_256
    policy = psa_key_attributes_pb2.KeyPolicy(key_algorithm=alg)
    expected = psa_key_attributes_pb2.KeyAttributes(key_bits=256, key_policy=policy)
    values = {"key_bits": 256, "key_policy": {"key_algorithm": alg}}
    assert protowire.encode(ATTRIBUTES, values) == expected.SerializeToString()


def _damaged(data: bytes, rng: random.Random) -> bytes:
    """`data` with a few bytes changed, inserted, removed, or cut short."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        action = rng.choice(["flip", "insert", "delete", "cut"])
        at = rng.randrange(len(out) + 1)
        if action == "flip" and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif action == "insert":
            out[at:at] = bytes([rng.randrange(256)])
        elif action == "delete" and out:
            del out[min(at, len(out) - 1)]
        elif action == "cut":
            del out[at:]
    return bytes(out)


@pytest.mark.parametrize("schema, message", ALL, ids=lambda x: getattr(x, "name", ""))
def test_damaged_bytes_decode_as_protobuf_decodes_them(
    schema: Schema, message: type[Message]
) -> None:
    """Where protobuf reads damaged bytes, the values are the same; where it refuses them, so
    does protowire (unknown fields, wrong wire types, merges, bad UTF-8, truncations)."""
    rng = random.Random(f"damage {schema.name} {message.DESCRIPTOR.full_name}")
    for _ in range(2000):
        data = _damaged(_protobuf(message, _values(schema, rng)).SerializeToString(), rng)
        try:
            parsed = message.FromString(data)
        except DecodeError:
            with pytest.raises(WireDecodeError):
                _lite(schema, data)
            continue
        if not schema.fields and _zero_field_number(data):
            # upb reads a tag of field number 0 in a message without fields as an unknown
            # field; it is invalid (the encoding guide): protowire refuses it, always.
            with pytest.raises(WireDecodeError, match="invalid field number"):
                protowire.decode(schema, data)
            continue
        assert _lite(schema, data) == _read(schema, parsed), data.hex()


def _zero_field_number(data: bytes) -> bool:
    try:
        protowire.decode(Schema("Empty", []), data)
    except WireDecodeError as error:
        return str(error) == "invalid field number"
    return False


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("08"),  # a varint cut short
        bytes.fromhex("08ffffffffffffffffffff01"),  # eleven bytes
        bytes.fromhex("0a05616263"),  # a length past the end
        bytes.fromhex("0a02c328"),  # a string that is not UTF-8
        bytes.fromhex("00"),  # field number 0
        bytes.fromhex("0c"),  # an end of group outside any group
        bytes.fromhex("0b"),  # a group never closed
    ],
)
def test_malformed_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        fetch_token_pb2.Result.FromString(data)
    with pytest.raises(WireDecodeError):
        protowire.decode(_messages.FETCH_TOKEN_RESULT, data)


def test_unknown_fields_and_groups_are_skipped() -> None:
    unknown = bytes.fromhex("f80101") + bytes.fromhex("fb010801fc01") + bytes.fromhex("0a0174")
    assert fetch_token_pb2.Result.FromString(unknown).token == "t"
    assert protowire.decode(_messages.FETCH_TOKEN_RESULT, unknown)["token"] == "t"


def test_values_a_field_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="uint32"):
        protowire.encode(_messages.LIST_OPCODES_OPERATION, {"provider_id": 2**32})
    with pytest.raises(ValueError, match="uint64"):
        protowire.encode(_messages.GENERATE_RANDOM_OPERATION, {"size": -1})
    with pytest.raises(ValueError, match="no field"):
        protowire.encode(_messages.KEY_NAME_OPERATION, {"name": "k"})
    with pytest.raises(ValueError, match="oneof"):
        protowire.encode(_messages.KEY_TYPE, {"aes": {}, "raw_data": {}})


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _tag(number) + _varint(len(payload)) + payload


def _tag(number: int) -> bytes:
    return _varint(number << 3 | 2)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_repeated_occurrences_are_merged_reading_each_byte_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message field that occurs twice at every level of a nesting (what a hostile service
    may send) is merged as protobuf merges it, at a cost linear in the size: reading every
    occurrence and then their joined bytes again doubled the work at each level."""
    items = [bytes.fromhex("0807")] * 64  # HMAC's hash, 64 times over
    # hmac, mac_alg, truncated, mac, key_algorithm, key_policy: each level in two occurrences.
    for number in (1, 1, 2, 3, 2, 3):
        half = len(items) // 2
        items = [
            _length_delimited(number, b"".join(items[:half])),
            _length_delimited(number, b"".join(items[half:])),
        ]
    data = b"".join(items)
    read = 0
    fields = protowire._fields

    def counting(chunk: bytes, depth: int) -> Any:
        nonlocal read
        read += len(chunk)
        return fields(chunk, depth)

    monkeypatch.setattr(protowire, "_fields", counting)
    decoded = protowire.decode(ATTRIBUTES, data)
    monkeypatch.undo()
    expected = _read(ATTRIBUTES, psa_key_attributes_pb2.KeyAttributes.FromString(data))
    assert decoded == expected
    # Each nesting level reads its bytes once: at most the size times the depth (7 levels).
    assert read <= 7 * len(data)
