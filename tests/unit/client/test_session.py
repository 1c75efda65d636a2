"""A client's setup as flows (`_session`): the authentication and the default provider, chosen
on first need, with no I/O (scripted answers stand in for the daemons)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import tessera
from tessera.client import _calls
from tessera.client._calls import KeyInfo, ProviderInfo
from tessera.client._protocol import Call, decode_reply
from tessera.client._session import Session
from tessera.client._token import TokenAuth
from tessera.client._twin import drive
from tessera.wire.framing import Frame
from tessera.wire.header import Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import list_authenticators_pb2, list_providers_pb2
from tests.unit.client.test_restarts import (
    NOT_LISTENING,
    REFUSED_FOR_GOOD,
    Script,
    _request,
    answer,
    sign_call,
    signature,
    token,
)

PEER = AuthType.UNIX_PEER_CREDENTIALS


def session(tmp_path: Path, **settings: Any) -> Session:
    settings = {"restart_wait": 0} | settings
    return Session(f"unix:{tmp_path}/s.sock", None, "my-app", None, 5.0, **settings)


def authenticators(*ids: int) -> Any:
    body = list_authenticators_pb2.Result(
        authenticators=[list_authenticators_pb2.AuthenticatorInfo(id=i) for i in ids]
    )
    return answer(Opcode.LIST_AUTHENTICATORS, body.SerializeToString())


def auth_types(script: Script) -> list[int]:
    return [_request(e.data).header.auth_type for e in script.sent]


@pytest.fixture(autouse=True)
def no_identity_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No identity provider unless a test puts its default socket there."""
    monkeypatch.delenv("TESSERA_IDENTITY_ENDPOINT", raising=False)
    monkeypatch.setenv("TESSERA_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state" / "run" / "identity.sock"


def test_the_first_call_that_needs_it_chooses_the_authentication(tmp_path: Path) -> None:
    setup = session(tmp_path)
    script = Script([authenticators(AuthType.DIRECT, PEER), signature(), signature()])
    assert script.run(setup.call(sign_call())) == b"sig"
    assert script.opcodes() == [Opcode.LIST_AUTHENTICATORS, Opcode.PSA_SIGN_HASH]
    assert auth_types(script) == [AuthType.NO_AUTH, PEER]
    assert setup.auth == tessera.UnixPeerAuth(os.getuid())
    assert script.run(setup.call(sign_call())) == b"sig"  # chosen once
    assert script.opcodes()[2:] == [Opcode.PSA_SIGN_HASH]


def test_a_call_that_needs_no_authentication_chooses_none(tmp_path: Path) -> None:
    setup = session(tmp_path)
    script = Script([answer(Opcode.PING)])
    script.run(setup.call(_calls.ping()))
    assert script.opcodes() == [Opcode.PING] and setup.auth is None


def test_choosing_rides_out_a_restart_like_any_call(tmp_path: Path) -> None:
    setup = session(tmp_path, restart_wait=1)
    script = Script([NOT_LISTENING, authenticators(AuthType.DIRECT), signature()])
    assert script.run(setup.call(sign_call())) == b"sig"
    assert setup.auth == tessera.DirectAuth("my-app") and len(script.pauses) == 1


def test_a_nearby_identity_provider_is_used_only_if_it_knows_us(
    tmp_path: Path, no_identity_provider: Path
) -> None:
    no_identity_provider.parent.mkdir(parents=True)
    no_identity_provider.touch()  # a default socket: probed once, not waited for
    strangers = session(tmp_path)
    script = Script([authenticators(AuthType.JWT, PEER), REFUSED_FOR_GOOD])
    assert script.run(strangers.authentication()) == tessera.UnixPeerAuth(os.getuid())
    known = session(tmp_path)
    script = Script([authenticators(AuthType.JWT, PEER), token("kid")])
    assert isinstance(script.run(known.authentication()), TokenAuth)
    assert [_request(e.data).header.opcode for e in script.sent] == [
        Opcode.LIST_AUTHENTICATORS,
        Opcode.FETCH_TOKEN,
    ]


def test_an_identity_provider_named_is_used_without_a_probe(tmp_path: Path) -> None:
    committed = session(tmp_path, identity_endpoint=tmp_path / "idp.sock")
    script = Script([authenticators(AuthType.JWT, PEER)])
    assert isinstance(script.run(committed.authentication()), TokenAuth)
    assert script.opcodes() == [Opcode.LIST_AUTHENTICATORS]


def test_the_preferred_provider_is_asked_once(tmp_path: Path) -> None:
    setup = session(tmp_path)
    listed = list_providers_pb2.Result(
        providers=[list_providers_pb2.ProviderInfo(id=2), list_providers_pb2.ProviderInfo(id=0)]
    )
    asked: list[Opcode] = []

    def perform(call: Any) -> Any:
        asked.append(call.opcode)
        answer = Frame(Header(opcode=int(call.opcode)), listed.SerializeToString())
        return decode_reply(_calls.list_providers(), answer)

    assert drive(setup.preferred_provider(), perform) == 2
    assert drive(setup.preferred_provider(), perform) == 2
    assert asked == [Opcode.LIST_PROVIDERS]


def test_a_client_asks_for_the_providers_once(tmp_path: Path) -> None:
    """The preferred provider (the operation layer's, for `random`) and the providers' order
    (the idiomatic flows', for placement, lookup and `digest`) are one answer."""
    client = tessera.Client(f"unix:{tmp_path}/s.sock", app_name="my-app")
    both = [KeyInfo(p, "k", tessera.ECDSA_P256.attributes()) for p in (2, 1)]
    answers: dict[Opcode, Any] = {
        Opcode.LIST_PROVIDERS: [ProviderInfo(p, "", "", "", (0, 0, 0)) for p in (1, 2, 0)],
        Opcode.LIST_OPCODES: [int(op) for op in Opcode],
        Opcode.PSA_GENERATE_RANDOM: b"random",
        Opcode.PSA_HASH_COMPUTE: b"digest",
        Opcode.CAN_DO_CRYPTO: None,
        Opcode.PSA_GENERATE_KEY: None,
        Opcode.LIST_KEYS: both,  # a key of that name in two providers: their order decides
    }
    sent: list[Opcode] = []

    def service(call: Call[Any]) -> Any:
        sent.append(call.opcode)
        return answers[call.opcode]

    client.operations._execute = service  # type: ignore[method-assign]
    assert client.random(6) == b"random"
    assert client.digest(b"data") == b"digest"
    assert client.generate_key("new").provider == 1
    assert client.key("k").provider == 1
    assert sent.count(Opcode.LIST_PROVIDERS) == 1, sent


@pytest.mark.parametrize("timeout", [None, "5", True, 0, -1, 10**9, float("nan")])
def test_a_timeout_the_transports_cannot_wait_is_a_usage_error(timeout: object) -> None:
    with pytest.raises(tessera.UsageError, match="timeout must be"):
        tessera.OperationClient("/nonexistent/socket", timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, -1])
def test_a_request_limit_that_allows_nothing_is_a_usage_error(size: int) -> None:
    with pytest.raises(tessera.UsageError, match="max_request_size"):
        tessera.Client("/nonexistent/socket", max_request_size=size)
