"""The sans-I/O core: request bytes, answers to values or exceptions, the retry-once flow."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from tessera.client import _calls
from tessera.client._errors import (
    AuthenticationError,
    DoesNotExistError,
    InvalidHeaderError,
    NotPermittedError,
    ProtocolError,
    ServiceError,
    error_for_status,
)
from tessera.client._protocol import (
    Credentials,
    Exchange,
    Flow,
    Pause,
    Target,
    decode_reply,
    encode_call,
    flow,
)
from tessera.wire.framing import Frame, FrameReader
from tessera.wire.header import FLAG_EXTENSIONS, FLAG_KEEP_ALIVE, MAGIC, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    list_opcodes_pb2,
    ping_pb2,
    psa_export_public_key_pb2,
    psa_generate_random_pb2,
    psa_sign_hash_pb2,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.status import Status

T = TypeVar("T")

DIRECT = Credentials(AuthType.DIRECT, b"app")


def answer(opcode: int, body: bytes = b"", *, status: int = 0, provider: int = 0) -> Frame:
    """A response frame as the service would send it."""
    return Frame(Header(opcode=opcode, status=status, provider=provider), body)


def parse_request(data: bytes) -> Frame:
    """The one request frame in `data` (with nothing left over)."""
    reader = FrameReader()
    events = reader.feed(data)
    assert len(events) == 1 and reader.buffered == 0
    event = events[0]
    assert isinstance(event, Frame)
    return event


# encode_call


def test_encode_call_bytes_are_parsec_frames() -> None:
    call = _calls.sign_hash(1, "k", _sign_alg(), b"\x11" * 32)
    data = encode_call(call, DIRECT)
    body = psa_sign_hash_pb2.Operation(key_name="k", alg=_sign_alg(), hash=b"\x11" * 32)
    body_bytes = body.SerializeToString()
    expected_header = struct.pack(
        "<IHBBHBQBBBIHIHBB",
        MAGIC,
        30,  # header size
        1,  # major
        0,  # minor
        FLAG_EXTENSIONS | FLAG_KEEP_ALIVE,
        1,  # provider
        0,  # session
        0,  # content type: protobuf
        0,  # accept type: protobuf
        int(AuthType.DIRECT),
        len(body_bytes),
        3,  # auth length
        int(Opcode.PSA_SIGN_HASH),
        0,  # status
        0,
        0,
    )
    assert data == expected_header + body_bytes + b"app"


def test_encode_call_without_credentials_or_keep_alive() -> None:
    frame = parse_request(encode_call(_calls.ping(), None, keep_alive=False))
    assert frame.header.auth_type == AuthType.NO_AUTH
    assert frame.header.flags == FLAG_EXTENSIONS  # Parsec's service ignores flags
    assert frame.header.opcode == Opcode.PING
    assert frame.auth == b""
    assert frame.body == b""  # an empty Ping operation


def test_encode_call_keeps_credentials_out_of_reprs() -> None:
    secret = Credentials(AuthType.JWT, b"eyJ-a-token")
    assert "eyJ" not in repr(secret)


# decode_reply


def test_decode_reply_returns_the_parsed_result() -> None:
    body = ping_pb2.Result(wire_protocol_version_maj=1, wire_protocol_version_min=0)
    assert decode_reply(_calls.ping(), answer(Opcode.PING, body.SerializeToString())) == (1, 0)
    opcodes = list_opcodes_pb2.Result(opcodes=[1, 2, 3]).SerializeToString()
    assert decode_reply(_calls.list_opcodes(1), answer(Opcode.LIST_OPCODES, opcodes)) == [1, 2, 3]


@pytest.mark.parametrize("status", [s for s in Status if s != Status.SUCCESS])
def test_every_failure_status_raises_its_class(status: Status) -> None:
    call = _calls.export_key(1, "my-key")
    with pytest.raises(ServiceError) as caught:
        decode_reply(call, answer(Opcode.PSA_EXPORT_KEY, status=status))
    error = caught.value
    assert type(error) is error_for_status(status)
    assert error.status == status
    assert error.operation == "PsaExportKey"
    assert error.key_name == "my-key"
    message = str(error)
    assert "PsaExportKey" in message
    assert "'my-key'" in message
    assert status.name in message


def test_a_default_header_error_maps_by_status() -> None:
    # The service answers requests it could not read with opcode Ping (Parsec's default header).
    call = _calls.destroy_key(1, "gone")
    with pytest.raises(InvalidHeaderError, match="PsaDestroyKey on key 'gone'"):
        decode_reply(call, answer(Opcode.PING, status=Status.INVALID_HEADER))
    with pytest.raises(DoesNotExistError):
        decode_reply(call, answer(Opcode.PING, status=Status.PSA_ERROR_DOES_NOT_EXIST))


def test_error_without_key_name_says_so_plainly() -> None:
    with pytest.raises(NotPermittedError) as caught:
        decode_reply(_calls.list_keys(), answer(Opcode.LIST_KEYS, status=1133))
    assert str(caught.value).startswith("ListKeys failed: ")
    assert "on key" not in str(caught.value)


def test_success_with_another_opcode_is_a_protocol_error() -> None:
    body = ping_pb2.Result(wire_protocol_version_maj=1).SerializeToString()
    with pytest.raises(ProtocolError, match="ListKeys"):
        decode_reply(_calls.list_keys(), answer(Opcode.PING, body))


def test_unknown_status_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown status 999"):
        decode_reply(_calls.ping(), answer(Opcode.PING, status=999))


def test_undecodable_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="undecodable"):
        decode_reply(_calls.list_opcodes(0), answer(Opcode.LIST_OPCODES, b"\xff\xff\xff"))


def test_protocol_error_is_not_a_service_error() -> None:
    assert not issubclass(ProtocolError, ServiceError)


# flow


@dataclass
class FakeAuth:
    """Credentials that go stale: the first payload is refused, the refreshed one accepted."""

    payloads: list[bytes] = field(default_factory=lambda: [b"stale", b"fresh"])
    may_retry: bool = True
    asked: int = 0
    invalidated: int = 0

    def credentials(self) -> Flow[Credentials | None]:
        payload = self.payloads[min(self.asked, len(self.payloads) - 1)]
        self.asked += 1
        return Credentials(AuthType.JWT, payload)
        yield

    def invalidate(self) -> bool:
        self.invalidated += 1
        return self.may_retry


@dataclass
class FetchingAuth(FakeAuth):
    """Credentials fetched from the identity provider by an exchange of their own."""

    def credentials(self) -> Flow[Credentials | None]:
        reply = yield Exchange(Target.IDENTITY, b"token please")
        assert reply is not None
        self.asked += 1
        return Credentials(AuthType.JWT, reply.body)


def run(steps: Flow[T], answers: list[Frame]) -> tuple[T, list[Exchange]]:
    """Drive a flow with canned answers; its value and every exchange it asked for (pauses
    are skipped: they are counted in `PAUSES`)."""
    sent: list[Exchange] = []
    try:
        step = next(steps)
        while True:
            if isinstance(step, Pause):
                PAUSES.append(step.seconds)
                step = steps.send(None)
                continue
            sent.append(step)
            step = steps.send(answers[len(sent) - 1])
    except StopIteration as done:
        return done.value, sent


PAUSES: list[float] = []


def random_answer(data: bytes) -> Frame:
    body = psa_generate_random_pb2.Result(random_bytes=data).SerializeToString()
    return answer(Opcode.PSA_GENERATE_RANDOM, body)


def refused(opcode: Opcode) -> Frame:
    return answer(opcode, status=Status.AUTHENTICATION_ERROR)


def test_flow_retries_once_with_fresh_credentials() -> None:
    auth = FakeAuth()
    call = _calls.export_public_key(1, "k")
    body = psa_export_public_key_pb2.Result(data=b"pub").SerializeToString()
    ok = answer(Opcode.PSA_EXPORT_PUBLIC_KEY, body)
    value, sent = run(flow(call, auth), [refused(Opcode.PSA_EXPORT_PUBLIC_KEY), ok])
    assert value == b"pub"
    assert [parse_request(e.data).auth for e in sent] == [b"stale", b"fresh"]
    assert all(e.target is Target.SERVICE for e in sent)
    assert auth.invalidated == 1


def test_flow_retries_only_once() -> None:
    auth = FakeAuth(payloads=[b"bad"])
    call = _calls.export_public_key(1, "k")
    refusal = refused(Opcode.PSA_EXPORT_PUBLIC_KEY)
    with pytest.raises(AuthenticationError, match="PsaExportPublicKey on key 'k'"):
        run(flow(call, auth), [refusal, refusal, refusal])
    assert auth.asked == 2
    assert auth.invalidated == 1


def test_flow_does_not_retry_when_invalidate_says_it_would_not_help() -> None:
    auth = FakeAuth(may_retry=False)
    refusal = refused(Opcode.PSA_EXPORT_PUBLIC_KEY)
    with pytest.raises(AuthenticationError):
        run(flow(_calls.export_public_key(1, "k"), auth), [refusal, refusal])
    assert auth.asked == 1


def test_flow_does_not_retry_other_errors() -> None:
    auth = FakeAuth()
    gone = answer(Opcode.PSA_EXPORT_PUBLIC_KEY, status=Status.PSA_ERROR_DOES_NOT_EXIST)
    with pytest.raises(DoesNotExistError):
        run(flow(_calls.export_public_key(1, "k"), auth), [gone, gone])
    assert (auth.asked, auth.invalidated) == (1, 0)


def test_flow_sends_no_credentials_for_unauthenticated_operations() -> None:
    auth = FakeAuth()
    value, sent = run(flow(_calls.generate_random(1, 3), auth), [random_answer(b"abc")])
    assert value == b"abc"
    assert parse_request(sent[0].data).header.auth_type == AuthType.NO_AUTH
    assert auth.asked == 0


def test_flow_never_retries_unauthenticated_operations() -> None:
    auth = FakeAuth()
    with pytest.raises(AuthenticationError):
        run(flow(_calls.generate_random(1, 3), auth), [refused(Opcode.PSA_GENERATE_RANDOM)])
    assert auth.invalidated == 0


def test_flow_lets_credentials_exchange_with_the_identity_provider() -> None:
    auth = FetchingAuth()
    call = _calls.destroy_key(1, "k")
    token_1, token_2 = Frame(Header(), b"tok-1"), Frame(Header(), b"tok-2")
    answers = [token_1, refused(Opcode.PSA_DESTROY_KEY), token_2, answer(Opcode.PSA_DESTROY_KEY)]
    value, sent = run(flow(call, auth), answers)
    assert value is None
    assert [e.target for e in sent] == [
        Target.IDENTITY,
        Target.SERVICE,
        Target.IDENTITY,
        Target.SERVICE,
    ]
    assert parse_request(sent[1].data).auth == b"tok-1"
    assert parse_request(sent[3].data).auth == b"tok-2"


def _sign_alg() -> Algorithm.AsymmetricSignature:
    alg = Algorithm.AsymmetricSignature()
    alg.ecdsa.hash_alg.specific = Algorithm.SHA_256
    return alg


def test_flow_waits_for_a_service_not_ready_for_tokens() -> None:
    """TrustNoRoot from the service (it restarted, trust not re-shared yet): pause and retry
    with the same credentials, without refetching them."""
    auth = FakeAuth(payloads=[b"token"])
    not_ready = answer(Opcode.PSA_EXPORT_PUBLIC_KEY, status=Status.TRUST_NO_ROOT)
    good = answer(
        Opcode.PSA_EXPORT_PUBLIC_KEY,
        psa_export_public_key_pb2.Result(data=b"pub").SerializeToString(),
    )
    PAUSES.clear()
    value, sent = run(flow(_calls.export_public_key(1, "k"), auth), [not_ready, not_ready, good])
    assert value == b"pub"
    assert len(sent) == 3 and len(PAUSES) == 2 and PAUSES[1] > PAUSES[0]
    assert (auth.asked, auth.invalidated) == (1, 0)


def test_flow_gives_up_on_a_service_that_stays_not_ready() -> None:
    auth = FakeAuth(payloads=[b"token"])
    not_ready = answer(Opcode.PSA_EXPORT_PUBLIC_KEY, status=Status.TRUST_NO_ROOT)
    with pytest.raises(ServiceError) as caught:
        run(flow(_calls.export_public_key(1, "k"), auth), [not_ready] * 100)
    assert caught.value.status is Status.TRUST_NO_ROOT
