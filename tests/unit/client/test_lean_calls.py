"""The calls encoded without protobuf send protobuf's bytes, and read its answers; the
verification failure class is made on first use and is still cryptography's InvalidSignature."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cryptography.exceptions
import pytest
from google.protobuf.message import Message

import tessera
from tessera.client import _calls, _errors
from tessera.client._protocol import Call, Encoded, decode_reply
from tessera.client._token import fetch_token_call
from tessera.wire.framing import Frame
from tessera.wire.header import Header
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    delete_client_pb2,
    fetch_token_pb2,
    list_authenticators_pb2,
    list_clients_pb2,
    list_keys_pb2,
    list_opcodes_pb2,
    list_providers_pb2,
    ping_pb2,
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_random_pb2,
)
from tessera.wire.status import Status

SRC = Path(__file__).resolve().parents[3] / "src"
NAMES = ["", "k", "clé 🔑", "n" * 300]

# (the call, the protobuf request it must equal)
REQUESTS: list[tuple[Call[Any], Message]] = [
    (_calls.ping(), ping_pb2.Operation()),
    (_calls.list_providers(), list_providers_pb2.Operation()),
    (_calls.list_authenticators(), list_authenticators_pb2.Operation()),
    (_calls.list_clients(), list_clients_pb2.Operation()),
    *[(_calls.list_opcodes(p), list_opcodes_pb2.Operation(provider_id=p)) for p in (0, 1, 255)],
    *[(_calls.delete_client(n), delete_client_pb2.Operation(client=n)) for n in NAMES],
    *[(fetch_token_call(n), fetch_token_pb2.Operation(audience=n)) for n in NAMES],
    *[
        (_calls.generate_random(1, n), psa_generate_random_pb2.Operation(size=n))
        for n in (0, 1, 128, 2**32, 2**64 - 1)
    ],
    *[(_calls.export_key(1, n), psa_export_key_pb2.Operation(key_name=n)) for n in NAMES],
    *[
        (_calls.export_public_key(1, n), psa_export_public_key_pb2.Operation(key_name=n))
        for n in NAMES
    ],
    *[(_calls.destroy_key(1, n), psa_destroy_key_pb2.Operation(key_name=n)) for n in NAMES],
]


@pytest.mark.parametrize("call, expected", REQUESTS, ids=lambda x: getattr(x, "operation", ""))
def test_requests_are_protobufs_bytes(call: Call[Any], expected: Message) -> None:
    assert call.result is not None  # encoded without protobuf
    assert call.body.SerializeToString() == expected.SerializeToString()


def _answer(call: Call[Any], result: Message) -> Any:
    return decode_reply(call, Frame(Header(opcode=int(call.opcode)), result.SerializeToString()))


ANSWERS: list[tuple[Call[Any], Message, Callable[[Any], bool]]] = [
    (
        _calls.ping(),
        ping_pb2.Result(wire_protocol_version_maj=1, wire_protocol_version_min=0),
        lambda value: value == (1, 0),
    ),
    (
        _calls.list_providers(),
        list_providers_pb2.Result(
            providers=[
                list_providers_pb2.ProviderInfo(
                    uuid="u",
                    description="d",
                    vendor="v",
                    version_maj=1,
                    version_min=2,
                    version_rev=3,
                    id=7,
                ),
                list_providers_pb2.ProviderInfo(),
            ]
        ),
        lambda value: (
            value
            == [
                tessera.ProviderInfo(7, "u", "d", "v", (1, 2, 3)),
                tessera.ProviderInfo(0, "", "", "", (0, 0, 0)),
            ]
        ),
    ),
    (
        _calls.list_authenticators(),
        list_authenticators_pb2.Result(
            authenticators=[list_authenticators_pb2.AuthenticatorInfo(description="x", id=3)]
        ),
        lambda value: value == [tessera.AuthenticatorInfo(3, "x", (0, 0, 0))],
    ),
    (
        _calls.list_opcodes(1),
        list_opcodes_pb2.Result(opcodes=[1, 2, 300, 2**32 - 1]),
        lambda value: value == [1, 2, 300, 2**32 - 1],
    ),
    (
        _calls.list_clients(),
        list_clients_pb2.Result(clients=["a", "é"]),
        lambda value: value == ["a", "é"],
    ),
    (_calls.delete_client("a"), delete_client_pb2.Result(), lambda value: value is None),
    (
        fetch_token_call("tessera"),
        fetch_token_pb2.Result(token="t.o.k", expires_at=2**40, spiffe_id="spiffe://x/y"),
        lambda value: tuple(value) == ("t.o.k", 2**40, "spiffe://x/y"),
    ),
    (
        _calls.generate_random(1, 3),
        psa_generate_random_pb2.Result(random_bytes=b"\x00\x01\x02"),
        lambda value: value == b"\x00\x01\x02",
    ),
    (
        _calls.export_public_key(1, "k"),
        psa_export_public_key_pb2.Result(data=b"\x04" * 65),
        lambda value: value == b"\x04" * 65,
    ),
    (_calls.destroy_key(1, "k"), psa_destroy_key_pb2.Result(), lambda value: value is None),
]


@pytest.mark.parametrize("call, result, check", ANSWERS, ids=lambda x: getattr(x, "operation", ""))
def test_answers_are_read_as_protobuf_reads_them(
    call: Call[Any], result: Message, check: Callable[[Any], bool]
) -> None:
    assert check(_answer(call, result))


def test_an_undecodable_answer_is_a_protocol_error() -> None:
    call = _calls.list_clients()
    frame = Frame(Header(opcode=int(call.opcode)), b"\x0a\x05ab")
    with pytest.raises(tessera.ProtocolError, match="undecodable answer to ListClients"):
        decode_reply(call, frame)


def test_a_verification_failure_is_cryptographys_invalid_signature() -> None:
    cls = _errors.error_for_status(Status.PSA_ERROR_INVALID_SIGNATURE)
    assert cls is tessera.InvalidSignatureError is _errors.InvalidSignatureError
    error = cls(operation="PsaVerifyMessage", key_name="k")
    assert isinstance(error, cryptography.exceptions.InvalidSignature)
    assert isinstance(error, tessera.ServiceError)
    assert error.status is Status.PSA_ERROR_INVALID_SIGNATURE
    assert cls.__doc__ == "The signature or MAC is not valid."
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls and str(copy) == str(error)
    frame = Frame(Header(opcode=0x19, status=int(Status.PSA_ERROR_INVALID_SIGNATURE)), b"")
    call = Call(Opcode.PSA_VERIFY_MESSAGE, Encoded(b""), lambda _: None)
    with pytest.raises(cryptography.exceptions.InvalidSignature):
        decode_reply(call, frame)


def test_the_client_path_loads_cryptography_only_for_a_bad_signature() -> None:
    probe = (
        "import json, sys\n"
        "from tessera.client import _errors\n"
        "before = 'cryptography.exceptions' in sys.modules\n"
        "_errors.error_for_status(_errors.Status.PSA_ERROR_DOES_NOT_EXIST)\n"
        "middle = 'cryptography.exceptions' in sys.modules\n"
        "cls = _errors.error_for_status(_errors.Status.PSA_ERROR_INVALID_SIGNATURE)\n"
        "import cryptography.exceptions as c\n"
        "print(json.dumps([before, middle, issubclass(cls, c.InvalidSignature)]))"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(done.stdout) == [False, False, True]


@pytest.mark.parametrize("seed", range(20))
def test_der_ecdsa_signatures_are_cryptographys(seed: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from tessera.client import _der

    rng = random.Random(seed)
    for bits in (1, 7, 8, 255, 256, 384, 521):
        r, s = rng.getrandbits(bits), rng.getrandbits(bits)
        assert _der.sequence(_der.integer(r), _der.integer(s)) == encode_dss_signature(r, s)


def test_listed_keys_read_their_attributes_when_asked() -> None:
    attributes = tessera.ECDSA_P256.attributes()
    listed = list_keys_pb2.Result(
        keys=[list_keys_pb2.KeyInfo(provider_id=1, name="k", attributes=attributes)]
    )
    call = _calls.list_keys()
    assert call.body.SerializeToString() == list_keys_pb2.Operation().SerializeToString()
    (info,) = _answer(call, listed)
    assert (info.provider_id, info.name) == (1, "k")
    assert info.encoded_attributes == attributes.SerializeToString()
    assert info.attributes == attributes
    assert info == tessera.KeyInfo(1, "k", attributes)
    assert info != tessera.KeyInfo(2, "k", attributes)
    assert "provider_id=1, name='k'" in repr(info)
    with pytest.raises(AttributeError):
        info.name = "other"
    with pytest.raises(TypeError):
        hash(info)


def test_a_listed_key_without_attributes_has_the_default_ones() -> None:
    listed = list_keys_pb2.Result(keys=[list_keys_pb2.KeyInfo(provider_id=1, name="k")])
    (info,) = _answer(_calls.list_keys(), listed)
    assert info.attributes == list_keys_pb2.KeyInfo().attributes


def test_damaged_attributes_make_the_listing_undecodable() -> None:
    # (protobuf refuses the whole answer: so does the listing, before anyone reads them)
    body = list_keys_pb2.Result(keys=[list_keys_pb2.KeyInfo(name="k")]).SerializeToString()
    damaged = body + bytes.fromhex("0a041a02ffff")  # a KeyInfo whose attributes are damaged
    frame = Frame(Header(opcode=int(Opcode.LIST_KEYS)), damaged)
    with pytest.raises(tessera.ProtocolError):
        decode_reply(_calls.list_keys(), frame)
