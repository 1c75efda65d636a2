"""Replay the parsec-mock wire vectors: request bytes in, response bytes out.

Vectors whose response depends only on the service's state are replayed against the real daemon
byte for byte, with the state they describe set up first (clients "jim" and "bob", an
"existing client", the admin "admin_priv"). Three describe a mock's own configuration (a provider
"Some empty provider", an authenticator "direct auth" version 12.42, a provider serving opcodes
[1, 3, 2, 6]); for those the daemon must accept the request bytes and answer the same header with
a body of the same message type, and our codec must produce the vector's body bytes from the
contents the vector describes. One is a deliberately malformed response for client tests.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tessera.client.specs import AES_256_GCM
from tessera.wire.contracts import decode_result
from tessera.wire.framing import Frame, FrameReader
from tessera.wire.header import Header
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import list_authenticators_pb2, list_opcodes_pb2, list_providers_pb2
from tessera.wire.status import Status
from tests.support import RunningService, direct, exchange_raw, running_service

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "parsec-mock"


def load(name: str) -> tuple[bytes, bytes]:
    document = yaml.safe_load((VECTORS / f"{name}.test.yaml").read_text())
    data = document["test_data"]
    request, response = base64.b64decode(data["request"]), base64.b64decode(data["response"])
    assert request.hex() == data["request_hex"] and response.hex() == data["response_hex"]
    return request, response


def seed(service: RunningService) -> None:
    """Keys owned by the clients the vectors talk about (direct authentication)."""
    for client in ("existing client", "jim", "bob"):  # the order they appear in
        service.generate_key(f"{client}-key", AES_256_GCM.attributes(), direct(client))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    import tempfile

    state = Path(tempfile.mkdtemp(prefix="ts-vec-", dir="/tmp"))
    with running_service(state, "--auth", "direct", "--admin", "admin_priv") as running:
        seed(running)
        yield running


def split(response: bytes) -> tuple[Header, bytes]:
    events = FrameReader(responses=True).feed(response)
    assert len(events) == 1 and isinstance(events[0], Frame)
    return events[0].header, events[0].body


EXACT = [
    "ping",
    "list_clients_admin_err",
    "delete_client_admin_err",
    "delete_client_notexist",
    "delete_client",  # removes "existing client", leaving the two clients list_clients expects
    "list_clients",
]


@pytest.mark.parametrize("name", EXACT)
def test_vector_replayed_byte_for_byte(service: RunningService, name: str) -> None:
    request, expected = load(name)
    assert exchange_raw(service.socket_path, request) == expected


def test_deleted_client_is_gone(service: RunningService) -> None:
    request, _ = load("delete_client")
    again = exchange_raw(service.socket_path, request)
    assert split(again)[0].status == Status.PSA_ERROR_DOES_NOT_EXIST


@pytest.mark.parametrize(
    ("name", "described"),
    [
        (
            "list_providers",
            list_providers_pb2.Result(
                providers=[
                    list_providers_pb2.ProviderInfo(
                        uuid="ee870e5a-ce4a-417f-8543-8fbd84b49cbe",
                        description="Some empty provider",
                        vendor="Arm Ltd.",
                        version_maj=9,
                        version_min=8,
                        version_rev=7,
                        id=2,
                    )
                ]
            ),
        ),
        (
            "list_authenticators",
            list_authenticators_pb2.Result(
                authenticators=[
                    list_authenticators_pb2.AuthenticatorInfo(
                        description="direct auth", version_maj=12, version_min=42, id=1
                    )
                ]
            ),
        ),
        ("list_opcodes_directauth", list_opcodes_pb2.Result(opcodes=[1, 3, 2, 6])),
    ],
)
def test_mock_configured_vector(
    service: RunningService, name: str, described: list_opcodes_pb2.Result
) -> None:
    request, expected = load(name)
    expected_header, expected_body = split(expected)
    assert described.SerializeToString() == expected_body
    header, body = split(exchange_raw(service.socket_path, request))
    assert header == Header(
        opcode=expected_header.opcode, status=Status.SUCCESS, body_len=len(body)
    )
    decoded = decode_result(Opcode(header.opcode), body)
    assert type(decoded) is type(described)
    assert decoded.ListFields(), "the daemon's answer must not be empty"


def test_malformed_response_vector_is_a_short_read_for_clients() -> None:
    _, response = load("list_opcodes_bad1")
    reader = FrameReader(responses=True)
    assert reader.feed(response) == []  # content length 500, five bytes present
    error = reader.end_of_stream()
    assert error is not None and error.status is Status.CONNECTION_ERROR
