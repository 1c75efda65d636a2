"""Riding out restarts in the sans-I/O flow: what is sent again, when, and for how long.

Each test drives `flow()` as the clients do, with a script of outcomes: an answer frame, or a
transport failure thrown back into the flow. Pauses are recorded, not slept.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.client import _calls
from tessera.client._errors import (
    AlreadyExistsError,
    AuthenticationError,
    CallTimeoutError,
    DoesNotExistError,
    TransportError,
    UsageError,
)
from tessera.client._importing import attributes_and_data
from tessera.client._patience import Patience, restart_wait
from tessera.client._protocol import (
    MAX_REFETCHES,
    Call,
    Credentials,
    Exchange,
    Flow,
    Pause,
    Target,
    flow,
    signer,
)
from tessera.client.specs import AES_256_GCM, ECDSA_P256, HMAC_SHA256
from tessera.psa import formats
from tessera.wire.framing import Frame, FrameReader
from tessera.wire.header import Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    fetch_token_pb2,
    list_keys_pb2,
    psa_export_public_key_pb2,
    psa_sign_hash_pb2,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.status import Status

T = TypeVar("T")
Outcome = Frame | Exception

NOT_LISTENING = TransportError("nobody listens", sent=False, transient=True)
HUNG_UP = TransportError("closed without answering", sent=True, transient=True)
REFUSED_FOR_GOOD = TransportError("permission denied", sent=False, transient=False)


@dataclass
class Script:
    """Plays a list of outcomes to a flow; records what it sent and how long it paused."""

    outcomes: list[Outcome]
    sent: list[Exchange] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    deadline: float | None = None  # seconds of pauses after which the driver says "time up"

    def run(self, steps: Flow[T]) -> T:
        try:
            step = next(steps)
            while True:
                if isinstance(step, Pause):
                    if self.deadline is not None and sum(self.pauses) + step.seconds >= (
                        self.deadline
                    ):
                        step = steps.throw(CallTimeoutError("time up"))
                        continue
                    self.pauses.append(step.seconds)
                    step = steps.send(None)
                    continue
                self.sent.append(step)
                outcome = self.outcomes.pop(0)
                if isinstance(outcome, Exception):
                    step = steps.throw(outcome)
                else:
                    step = steps.send(outcome)
        except StopIteration as done:
            value: T = done.value
            return value

    def opcodes(self) -> list[int]:
        return [_request(e.data).header.opcode for e in self.sent]


def _request(data: bytes) -> Frame:
    [event] = FrameReader().feed(data)
    assert isinstance(event, Frame)
    return event


def answer(opcode: Opcode, body: bytes = b"", status: Status = Status.SUCCESS) -> Frame:
    return Frame(Header(opcode=int(opcode), status=int(status)), body)


@dataclass
class Tokens:
    """Credentials handed out in order (the last one again once the list is used up)."""

    payloads: list[bytes]
    fetched: int = 0
    auth_type: AuthType = AuthType.JWT

    def credentials(self) -> Flow[Credentials | None]:
        payload = self.payloads[min(self.fetched, len(self.payloads) - 1)]
        self.fetched += 1
        return Credentials(self.auth_type, payload)
        yield

    def invalidate(self) -> bool:
        return True


def jwt(kid: str, n: int = 0) -> bytes:
    """A token-shaped payload whose header names `kid` (the service is scripted: never checked)."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "ES256", "kid": kid}).encode())
    return header.rstrip(b"=") + b".e30." + b"sig%d" % n


def signature() -> Frame:
    body = psa_sign_hash_pb2.Result(signature=b"sig").SerializeToString()
    return answer(Opcode.PSA_SIGN_HASH, body)


def sign_call() -> Call[bytes]:
    alg = Algorithm.AsymmetricSignature()
    alg.ecdsa.hash_alg.specific = Algorithm.SHA_256
    return _calls.sign_hash(1, "k", alg, b"\x00" * 32)


def keys(*infos: tuple[str, Any]) -> Frame:
    body = list_keys_pb2.Result(
        keys=[list_keys_pb2.KeyInfo(provider_id=1, name=n, attributes=a) for n, a in infos]
    )
    return answer(Opcode.LIST_KEYS, body.SerializeToString())


TOKEN = Tokens([jwt("a")])


# waiting for a daemon


def test_a_request_that_never_left_is_sent_again_even_a_creation() -> None:
    script = Script([NOT_LISTENING, NOT_LISTENING, answer(Opcode.PSA_GENERATE_KEY)])
    call = _calls.generate_key(1, "k", ECDSA_P256.attributes())
    assert script.run(flow(call, TOKEN)) is None
    assert script.opcodes() == [Opcode.PSA_GENERATE_KEY] * 2 + [Opcode.PSA_GENERATE_KEY]
    assert len(script.pauses) == 2 and script.pauses[1] > script.pauses[0]


def test_an_idempotent_request_whose_answer_was_lost_is_sent_again() -> None:
    script = Script([HUNG_UP, signature()])
    assert script.run(flow(sign_call(), TOKEN)) == b"sig"
    assert len(script.sent) == 2


def test_a_failure_that_waiting_cannot_help_is_raised_at_once() -> None:
    for failure in (REFUSED_FOR_GOOD, CallTimeoutError("late")):
        script = Script([failure])
        with pytest.raises(TransportError) as caught:
            script.run(flow(sign_call(), TOKEN))
        assert caught.value is failure
        assert script.pauses == []


def test_waiting_stops_when_the_patience_is_spent() -> None:
    script = Script([NOT_LISTENING] * 100)
    with pytest.raises(TransportError, match="nobody listens"):
        script.run(flow(sign_call(), TOKEN, Patience(2.0)))
    assert sum(script.pauses) == pytest.approx(2.0)
    assert max(script.pauses) == 0.25  # the backoff's ceiling: a restart is noticed quickly


def test_no_patience_means_no_waiting() -> None:
    script = Script([HUNG_UP])
    with pytest.raises(TransportError, match="without answering"):
        script.run(flow(sign_call(), TOKEN, Patience(0)))
    assert script.pauses == []


def test_the_calls_timeout_ends_the_wait_with_its_reason() -> None:
    """A pause that would outlast the call's timeout: the caller learns why it waited (nobody
    listening), not merely that time ran out."""
    script = Script([NOT_LISTENING] * 100, deadline=0.5)
    with pytest.raises(TransportError, match="nobody listens") as caught:
        script.run(flow(sign_call(), TOKEN))
    assert not isinstance(caught.value, CallTimeoutError)


def test_not_yet_answers_are_waited_out() -> None:
    not_yet = answer(Opcode.PSA_SIGN_HASH, status=Status.TRUST_NO_ROOT)
    script = Script([NOT_LISTENING, not_yet, not_yet, signature()])
    assert script.run(flow(sign_call(), TOKEN)) == b"sig"
    assert len(script.pauses) == 3


# a lost answer to a call that must not run twice


def test_a_creation_whose_answer_was_lost_is_sent_again_once_the_service_is_back() -> None:
    script = Script([HUNG_UP, NOT_LISTENING, answer(Opcode.PSA_GENERATE_KEY)])
    call = _calls.generate_key(1, "k", ECDSA_P256.attributes())
    assert script.run(flow(call, TOKEN)) is None
    assert script.opcodes() == [Opcode.PSA_GENERATE_KEY] * 3
    assert all(not e.idempotent for e in script.sent)  # each on a fresh connection


def test_already_exists_after_a_lost_answer_is_ours_when_the_key_is_as_asked() -> None:
    attributes = ECDSA_P256.attributes()
    stored = ECDSA_P256.attributes()
    stored.key_policy.key_usage_flags.sign_message = True  # implied by sign_hash (Parsec adds it)
    exists = answer(Opcode.PSA_GENERATE_KEY, status=Status.PSA_ERROR_ALREADY_EXISTS)
    script = Script([HUNG_UP, exists, keys(("other", attributes), ("k", stored))])
    assert script.run(flow(_calls.generate_key(1, "k", attributes), TOKEN)) is None
    assert script.opcodes() == [Opcode.PSA_GENERATE_KEY] * 2 + [Opcode.LIST_KEYS]


def test_already_exists_after_a_lost_answer_is_not_ours_when_the_key_differs() -> None:
    exists = answer(Opcode.PSA_GENERATE_KEY, status=Status.PSA_ERROR_ALREADY_EXISTS)
    script = Script([HUNG_UP, exists, keys(("k", HMAC_SHA256.attributes()))])
    with pytest.raises(AlreadyExistsError, match="PsaGenerateKey on key 'k'"):
        script.run(flow(_calls.generate_key(1, "k", ECDSA_P256.attributes()), TOKEN))


def test_already_exists_with_no_loss_is_the_answer() -> None:
    exists = answer(Opcode.PSA_GENERATE_KEY, status=Status.PSA_ERROR_ALREADY_EXISTS)
    script = Script([exists])
    with pytest.raises(AlreadyExistsError):
        script.run(flow(_calls.generate_key(1, "k", ECDSA_P256.attributes()), TOKEN))
    assert len(script.sent) == 1  # nothing asked: the first attempt's answer is not in doubt


def _imported(material: ec.EllipticCurvePrivateKey) -> Frame:
    public = formats.encode_key(material.public_key(), 256)
    body = psa_export_public_key_pb2.Result(data=public).SerializeToString()
    return answer(Opcode.PSA_EXPORT_PUBLIC_KEY, body)


@pytest.mark.parametrize("same_material", [True, False], ids=["ours", "another"])
def test_an_import_whose_answer_was_lost_is_ours_only_with_our_material(
    same_material: bool,
) -> None:
    mine = ec.generate_private_key(ec.SECP256R1())
    attributes, data = attributes_and_data(mine, None)
    found = mine if same_material else ec.generate_private_key(ec.SECP256R1())
    exists = answer(Opcode.PSA_IMPORT_KEY, status=Status.PSA_ERROR_ALREADY_EXISTS)
    script = Script([HUNG_UP, exists, keys(("k", attributes)), _imported(found)])
    steps = flow(_calls.import_key(1, "k", attributes, data), TOKEN)
    if same_material:
        assert script.run(steps) is None
    else:
        with pytest.raises(AlreadyExistsError):
            script.run(steps)
    assert script.opcodes()[-1] == Opcode.PSA_EXPORT_PUBLIC_KEY


def test_a_destruction_whose_answer_was_lost_has_its_effect_either_way() -> None:
    gone = answer(Opcode.PSA_DESTROY_KEY, status=Status.PSA_ERROR_DOES_NOT_EXIST)
    script = Script([HUNG_UP, gone])
    assert script.run(flow(_calls.destroy_key(1, "k"), TOKEN)) is None
    with pytest.raises(DoesNotExistError):  # without a loss, "no such key" is the answer
        Script([gone]).run(flow(_calls.destroy_key(1, "k"), TOKEN))


def test_a_call_with_no_settle_rule_is_never_sent_twice() -> None:
    bare = _calls.generate_key(1, "k", ECDSA_P256.attributes())
    bare = Call(bare.opcode, bare.body, bare.parse, bare.provider, bare.key_name)
    script = Script([HUNG_UP])
    with pytest.raises(TransportError, match="without answering"):
        script.run(flow(bare, TOKEN))
    assert len(script.sent) == 1


# credentials while trust is re-established


def refused() -> Frame:
    return answer(Opcode.PSA_SIGN_HASH, status=Status.AUTHENTICATION_ERROR)


def test_refetching_goes_on_while_each_refused_token_has_a_new_signer() -> None:
    """Back-to-back identity-provider restarts: each refetched token is signed by an
    intermediate the service has already replaced; the next one is trusted."""
    tokens = Tokens([jwt("first"), jwt("second"), jwt("third")])
    script = Script([refused(), refused(), signature()])
    assert script.run(flow(sign_call(), tokens)) == b"sig"
    assert tokens.fetched == 3


def test_a_signer_refused_twice_is_not_asked_again() -> None:
    tokens = Tokens([jwt("old"), jwt("same", 1), jwt("same", 2), jwt("never")])
    script = Script([refused(), refused(), refused()])
    with pytest.raises(AuthenticationError):
        script.run(flow(sign_call(), tokens))
    assert tokens.fetched == 3  # "never" was never fetched


def test_refetching_is_bounded() -> None:
    tokens = Tokens([jwt(f"kid-{n}") for n in range(20)])
    script = Script([refused()] * 20)
    with pytest.raises(AuthenticationError):
        script.run(flow(sign_call(), tokens))
    assert tokens.fetched == 1 + MAX_REFETCHES


def test_the_signer_of_credentials() -> None:
    assert signer(Credentials(AuthType.JWT, jwt("abc"))) == b"abc"
    assert signer(Credentials(AuthType.JWT, b"not-a-token")) == b"not-a-token"
    assert signer(Credentials(AuthType.DIRECT, b"app")) == b"app"


@dataclass
class Fetching:
    """Token auth as TokenAuth does it: one FetchToken exchange with the identity provider."""

    fetched: int = 0

    def credentials(self) -> Flow[Credentials | None]:
        frame = yield Exchange(Target.IDENTITY, b"FetchToken")
        assert frame is not None
        if frame.header.status:
            raise AuthenticationError(status=Status(frame.header.status))
        self.fetched += 1
        return Credentials(
            AuthType.JWT, fetch_token_pb2.Result.FromString(frame.body).token.encode()
        )

    def invalidate(self) -> bool:
        return True


def token(kid: str) -> Frame:
    body = fetch_token_pb2.Result(token=jwt(kid).decode(), expires_at=1).SerializeToString()
    return answer(Opcode.FETCH_TOKEN, body)


def test_the_identity_provider_is_waited_for_while_it_restarts() -> None:
    not_proven = answer(Opcode.FETCH_TOKEN, status=Status.IDENTITY_CLIENT_NOT_PROVEN)
    no_root = answer(Opcode.FETCH_TOKEN, status=Status.TRUST_NO_ROOT)
    auth = Fetching()
    script = Script(
        [token("old"), refused(), NOT_LISTENING, no_root, not_proven, token("new"), signature()]
    )
    assert script.run(flow(sign_call(), auth)) == b"sig"
    assert [e.target for e in script.sent].count(Target.IDENTITY) == 5
    assert len(script.pauses) == 3 and auth.fetched == 2


# configuration


def test_restart_wait_comes_from_the_argument_the_environment_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TESSERA_RESTART_WAIT", raising=False)
    assert restart_wait(None) == 10.0
    assert restart_wait(2.5) == 2.5
    monkeypatch.setenv("TESSERA_RESTART_WAIT", "0")
    assert restart_wait(None) == 0.0
    assert restart_wait(3) == 3.0  # the argument wins
    monkeypatch.setenv("TESSERA_RESTART_WAIT", "soon")
    with pytest.raises(UsageError, match="TESSERA_RESTART_WAIT='soon'"):
        restart_wait(None)
    for wrong in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError, match="restart_wait"):
            restart_wait(wrong)


def test_a_lost_import_of_a_secret_that_cannot_be_read_back_is_said_unknown() -> None:
    # A key of that name made before would look the same: it cannot be taken as ours.
    secret = bytes(32)
    attributes, data = attributes_and_data(secret, AES_256_GCM)
    exists = answer(Opcode.PSA_IMPORT_KEY, status=Status.PSA_ERROR_ALREADY_EXISTS)
    script = Script([HUNG_UP, exists, keys(("k", attributes))])
    with pytest.raises(TransportError, match="unknown"):
        script.run(flow(_calls.import_key(1, "k", attributes, data), TOKEN))
