"""A structure-aware mutator for the request path: frames in, frames out.

Byte mutations of a frame mostly break its length fields, so the dispatcher sees framing errors.
This mutator reads the input's frames, changes one (a protobuf field of its operation, a whole
new well-typed operation, the opcode, the provider, the authentication) or the stream (a frame
repeated or dropped), and writes the frames back with their lengths right. Half the time, and
whenever the input holds no frame, libFuzzer's byte mutations do the work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.message import DecodeError

from tessera.wire.contracts import OPERATIONS
from tessera.wire.framing import Frame, FrameReader, Limits, encode_request
from tessera.wire.opcodes import TESSERA_OPCODES, Opcode

Fallback = Callable[[bytes, int], bytes]

KEY_NAMES = ("k-ecc", "k-rsa", "k-aes", "k-hmac", "missing", "", "new-key", "x" * 1025)
INTEGERS = (0, 1, 2, 16, 32, 128, 255, 256, 2048, 4096, 1 << 20, (1 << 32) - 1)
BYTE_SIZES = (0, 1, 12, 16, 32, 48, 64, 65, 100, 256, 4097)


def _set_random(message: Any, rng: random.Random, depth: int = 0) -> None:
    """Change one field, anywhere in `message`, to a well-typed edge value."""
    fields = list(message.DESCRIPTOR.fields)
    if not fields:
        return
    field = rng.choice(fields)
    if field.message_type is not None:
        if field.is_repeated or depth > 8:
            message.ClearField(field.name)
            return
        child = getattr(message, field.name)
        _set_random(child, rng, depth + 1)
        child.SetInParent()
    elif field.is_repeated:
        message.ClearField(field.name)
    elif field.enum_type is not None:
        numbers = [v.number for v in field.enum_type.values]
        setattr(message, field.name, rng.choice(numbers))
    elif field.type == field.TYPE_BOOL:
        setattr(message, field.name, rng.random() < 0.5)
    elif field.type == field.TYPE_STRING:
        setattr(message, field.name, rng.choice(KEY_NAMES))
    elif field.type == field.TYPE_BYTES:
        setattr(message, field.name, rng.randbytes(rng.choice(BYTE_SIZES)))
    else:
        value = rng.choice(INTEGERS)
        try:
            setattr(message, field.name, value)
        except ValueError:  # out of range for a narrower integer type
            setattr(message, field.name, value & 0x7FFFFFFF)


def _operation(frame: Frame, rng: random.Random) -> bytes:
    try:
        opcode = Opcode(frame.header.opcode)
        operation = OPERATIONS[opcode].request()
        operation.ParseFromString(frame.body)
    except (ValueError, KeyError, DecodeError):
        return frame.body
    for _ in range(rng.randrange(1, 4)):
        _set_random(operation, rng)
    return bytes(operation.SerializeToString())


def _new_operation(rng: random.Random) -> tuple[Opcode, bytes]:
    opcode = rng.choice(sorted(OPERATIONS))
    operation = OPERATIONS[opcode].request()
    for _ in range(rng.randrange(1, 6)):
        _set_random(operation, rng)
    return opcode, bytes(operation.SerializeToString())


def mutator(auth_choices: Sequence[tuple[int, bytes]]) -> Callable[..., bytes]:
    """A libFuzzer custom mutator over request streams; `auth_choices` are (auth type, auth)
    pairs that authenticate (or pointedly do not)."""

    def mutate(data: bytes, max_size: int, seed: int, fallback: Fallback) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return fallback(data, max_size)
        events = FrameReader(Limits(max_body_size=max_size)).feed(data)
        frames = [event for event in events if isinstance(event, Frame)]
        if not frames:
            return fallback(data, max_size)
        index = rng.randrange(len(frames))
        frame = frames[index]
        header, body, auth = frame.header.replace(), frame.body, frame.auth
        choice = rng.randrange(7)
        if choice == 0:
            body = _operation(frame, rng)
        elif choice == 1:
            opcode, body = _new_operation(rng)
            header.opcode = int(opcode)
            header.provider = 0 if opcode.is_core or opcode in TESSERA_OPCODES else 1
        elif choice == 2:
            header.auth_type, auth = rng.choice(auth_choices)
        elif choice == 3:
            header.provider = rng.choice((0, 1, 2, 3, 4, 5, 6, 255))
        elif choice == 4:
            header.flags = rng.choice((0, 1, 2, 3, 0xFFFF))
            header.session = rng.choice((0, 1, (1 << 64) - 1))
        elif choice == 5:
            body = fallback(body, max(len(body) * 2, 64))
        elif rng.random() < 0.5:  # pipelining: one request more, or one less
            frames.insert(index, frame)
            return _encode(frames, max_size)
        else:
            frames.pop(index)
            return _encode(frames, max_size)
        frames[index] = Frame(header, body, auth)
        return _encode(frames, max_size)

    return mutate


def _encode(frames: list[Frame], max_size: int) -> bytes:
    out = b"".join(encode_request(f.header.replace(), f.body, f.auth) for f in frames)
    return out[:max_size]
