"""Arbitrary bytes through the whole request path never escape as an exception.

Random frames (every opcode, random bodies, random auth types and payloads, random providers)
and random byte streams go through the frame reader and the dispatcher in-process; every one
must come back as a well-formed response, and internal errors must stay rare (a generic error
means a handler failed to classify bad input).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tessera.service.builder import Assembly, build
from tessera.service.config import parse_config
from tessera.wire.contracts import OPERATIONS
from tessera.wire.framing import Frame, FrameReader, Limits, encode_request
from tessera.wire.header import Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.status import Status

SEED = 20261129


@pytest.fixture
def assembly(tmp_path: Path) -> Iterator[Assembly]:
    config = parse_config(
        {
            "core_settings": {"state_dir": str(tmp_path)},
            "authenticator": {"auth_types": ["direct", "unix-peer"], "admins": ["fuzz-admin"]},
        }
    )
    built = build(config)
    try:
        yield built
    finally:
        built.close()


def random_frame(rng: random.Random) -> bytes:
    opcode = rng.choice([*list(Opcode), rng.randrange(0, 1 << 32)])
    auth_type = rng.choice([0, 1, 1, 3, rng.randrange(0, 256)])
    auth = rng.choice([b"", b"fuzz-admin", b"app", rng.randbytes(rng.randrange(0, 8))])
    body = rng.randbytes(rng.randrange(0, 64))
    header = Header(
        provider=rng.choice([0, 1, 1, 1, rng.randrange(0, 256)]),
        opcode=int(opcode),
        auth_type=auth_type,
        session=rng.randrange(0, 1 << 64),
    )
    return encode_request(header, body, auth)


def test_random_frames_always_get_an_answer(
    assembly: Assembly, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(SEED)
    statuses: dict[int, int] = {}
    with caplog.at_level(logging.ERROR):
        for _ in range(3000):
            for event in FrameReader().feed(random_frame(rng)):
                if isinstance(event, Frame):
                    reply = assembly.dispatcher.handle(event, None)
                else:
                    reply = assembly.dispatcher.framing_error(event)
                answer = FrameReader(responses=True).feed(reply)
                assert len(answer) == 1 and isinstance(answer[0], Frame)
                status = answer[0].header.status
                statuses[status] = statuses.get(status, 0) + 1
    assert all(s in set(Status) for s in statuses)
    assert statuses.get(Status.PSA_ERROR_GENERIC_ERROR, 0) == 0, caplog.text


def test_random_streams_never_raise(assembly: Assembly) -> None:
    rng = random.Random(SEED + 1)
    for _ in range(500):
        reader = FrameReader()
        stream = rng.randbytes(rng.randrange(0, 200))
        if rng.random() < 0.5:  # a valid prefix makes the reader go deeper
            stream = encode_request(Header(opcode=int(Opcode.PING)), b"")[:36] + stream
        for event in reader.feed(stream):
            if isinstance(event, Frame):
                assembly.dispatcher.handle(event, None)
            else:
                assembly.dispatcher.framing_error(event)
        reader.end_of_stream()


def test_direct_auth_types_are_exercised() -> None:
    """The generator reaches authenticated paths (not only early refusals)."""
    rng = random.Random(SEED)
    frames = [random_frame(rng) for _ in range(300)]
    assert sum(f[21] == AuthType.DIRECT for f in frames) > 50


KEY_NAMES = ["k-ecc", "k-rsa", "k-aes", "k-hmac", "missing", ""]


def fill(message: Any, rng: random.Random, depth: int = 0) -> None:
    """Populate a protobuf message with random but well-typed values (structure-aware fuzz)."""
    descriptor = message.DESCRIPTOR
    chosen_oneofs = {o.name: rng.choice(o.fields).name for o in descriptor.oneofs}
    for field in descriptor.fields:
        if field.containing_oneof is not None and chosen_oneofs[field.containing_oneof.name] != (
            field.name
        ):
            continue
        if rng.random() < 0.2:
            continue
        if field.message_type is not None:
            if depth > 6 or field.is_repeated:
                continue
            fill(getattr(message, field.name), rng, depth + 1)
            getattr(message, field.name).SetInParent()
        elif field.is_repeated:
            continue
        elif field.enum_type is not None:
            values = [v.number for v in field.enum_type.values]
            setattr(message, field.name, rng.choice(values))
        elif field.type == field.TYPE_BOOL:
            setattr(message, field.name, rng.random() < 0.5)
        elif field.type == field.TYPE_STRING:
            setattr(message, field.name, rng.choice(KEY_NAMES))
        elif field.type == field.TYPE_BYTES:
            setattr(message, field.name, rng.randbytes(rng.choice([0, 1, 12, 16, 32, 48, 64, 100])))
        else:  # integers
            setattr(message, field.name, rng.choice([0, 1, 16, 32, 128, 256, 2048, 4096, 1 << 20]))


def seeded_keys(assembly: Assembly) -> None:
    from tessera.client.specs import AES_256_GCM, ECDSA_P256, HMAC_SHA256, rsa_pss
    from tessera.wire.proto import psa_generate_key_pb2

    for name, spec in [
        ("k-ecc", ECDSA_P256),
        ("k-rsa", rsa_pss(2048)),
        ("k-aes", AES_256_GCM),
        ("k-hmac", HMAC_SHA256),
    ]:
        body = psa_generate_key_pb2.Operation(key_name=name, attributes=spec.attributes())
        header = Header(provider=1, opcode=int(Opcode.PSA_GENERATE_KEY), auth_type=1)
        frame = FrameReader().feed(encode_request(header, body.SerializeToString(), b"app"))[0]
        assert isinstance(frame, Frame)
        reply = assembly.dispatcher.handle(frame, None)
        assert reply[32:34] == b"\x00\x00", name


def test_well_typed_random_operations_are_classified(
    assembly: Assembly, caplog: pytest.LogCaptureFixture
) -> None:
    """Operations that decode, on keys that exist: every failure must be a PSA status."""
    seeded_keys(assembly)
    rng = random.Random(SEED + 2)
    reached: set[int] = set()
    with caplog.at_level(logging.ERROR):
        for _ in range(1500):
            opcode = rng.choice([op for op in Opcode if op in OPERATIONS])
            operation = OPERATIONS[opcode].request()
            fill(operation, rng)
            provider = 0 if opcode.is_core else 1
            header = Header(provider=provider, opcode=int(opcode), auth_type=1)
            caller = b"fuzz-admin" if opcode.needs_admin else b"app"  # "app" owns the keys
            frame = FrameReader().feed(
                encode_request(header, operation.SerializeToString(), caller)
            )[0]
            assert isinstance(frame, Frame)
            reply = assembly.dispatcher.handle(frame, None)
            answer = FrameReader(Limits(max_body_size=4 << 20), responses=True).feed(reply)[0]
            assert isinstance(answer, Frame)
            reached.add(answer.header.status)
            assert answer.header.status != Status.PSA_ERROR_GENERIC_ERROR, (
                f"{opcode.name} {operation}: {caplog.text}"
            )
    assert Status.SUCCESS in reached and Status.PSA_ERROR_NOT_PERMITTED in reached
