"""The idiomatic operations as flows of calls, driven here without any service."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from google.protobuf.message import Message

import tessera
from tessera.client import _keyflows, _placement
from tessera.client._calls import KeyInfo, ProviderInfo
from tessera.client._errors import (
    DoesNotExistError,
    InvalidArgumentError,
    InvalidSignatureError,
    NotSupportedError,
    ProtocolError,
    TesseraError,
    UsageError,
)
from tessera.client._keyflows import Capabilities, KeyFlow, KeyRef
from tessera.client._protocol import Call
from tessera.client.specs import ECDSA_P256, KeySpec, rsa_oaep
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    list_opcodes_pb2,
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_generate_random_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

T = TypeVar("T")
M = TypeVar("M", bound=Message)
Responder = Callable[[Call[Any]], Any]


def drive(steps: KeyFlow[T], respond: Responder) -> tuple[T, list[Call[Any]]]:
    """Run a flow as the clients do: each call's result (or exception) goes back into it."""
    calls: list[Call[Any]] = []
    try:
        call = next(steps)
        while True:
            calls.append(call)
            try:
                result = respond(call)
            except TesseraError as error:
                call = steps.throw(error)
                continue
            call = steps.send(result)
    except StopIteration as done:
        value: T = done.value
        return value, calls


def body_of(call: Call[Any], kind: type[M]) -> M:
    """A call's body as sent, read as the message type it must be."""
    message = kind()
    message.ParseFromString(call.body.SerializeToString())
    return message


def ref(spec: KeySpec, name: str = "k", provider: int = 1) -> KeyRef:
    return KeyRef(name, provider, spec.attributes())


EVERY_OPCODE = [int(op) for op in Opcode]


def known(opcodes: list[int] | None = None, providers: tuple[int, ...] = (1,)) -> Capabilities:
    """Capabilities already learnt: `providers` serve `opcodes` (default: everything)."""
    capabilities = Capabilities()
    answers = {
        Opcode.LIST_PROVIDERS: [ProviderInfo(p, "", "", "", (0, 0, 0)) for p in (*providers, 0)],
        Opcode.LIST_OPCODES: EVERY_OPCODE if opcodes is None else opcodes,
    }
    for provider in providers:
        drive(capabilities.opcodes(provider), lambda c: answers[c.opcode])
    drive(capabilities.providers(), lambda c: answers[c.opcode])
    return capabilities


def test_sign_uses_sign_message_with_the_specs_algorithm() -> None:
    signature, calls = drive(_keyflows.sign(ref(ECDSA_P256), b"data", known()), lambda c: b"sig")
    assert signature == b"sig"
    [call] = calls
    assert call.opcode is Opcode.PSA_SIGN_MESSAGE
    assert call.provider == 1 and call.key_name == "k"
    body = body_of(call, psa_sign_message_pb2.Operation)
    assert body.message == b"data"
    assert body.alg.ecdsa.hash_alg.specific == Algorithm.SHA_256


def test_a_hash_only_key_hashes_here_and_signs_the_digest() -> None:
    attributes = ECDSA_P256.attributes()
    attributes.key_policy.key_usage_flags.sign_message = False
    attributes.key_policy.key_usage_flags.verify_message = False
    key = KeyRef("h", 1, attributes)
    _, calls = drive(_keyflows.sign(key, b"data", known()), lambda c: b"sig")
    assert [c.opcode for c in calls] == [Opcode.PSA_SIGN_HASH]
    assert body_of(calls[0], psa_sign_hash_pb2.Operation).hash == hashlib.sha256(b"data").digest()
    _, calls = drive(_keyflows.verify(key, b"sig", b"data", known()), lambda c: None)
    assert [c.opcode for c in calls] == [Opcode.PSA_VERIFY_HASH]
    verified = body_of(calls[0], psa_verify_hash_pb2.Operation)
    assert verified.hash == hashlib.sha256(b"data").digest()


def test_a_wildcard_hash_becomes_the_curves_hash() -> None:
    attributes = tessera.ECDSA_P384.attributes()
    attributes.key_policy.key_algorithm.asymmetric_signature.ecdsa.hash_alg.any.SetInParent()
    alg = _keyflows.signature_algorithm(KeyRef("k", 1, attributes))
    assert alg.ecdsa.hash_alg.specific == Algorithm.SHA_384


def test_verification_failure_propagates() -> None:
    def refuse(call: Call[Any]) -> None:
        raise InvalidSignatureError(operation=call.operation, key_name=call.key_name)

    with pytest.raises(InvalidSignatureError, match="PsaVerifyMessage on key 'k'"):
        drive(_keyflows.verify(ref(ECDSA_P256), b"sig", b"data", known()), refuse)


def test_aead_encrypt_takes_a_fresh_nonce_from_the_service() -> None:
    def service(call: Call[Any]) -> bytes:
        if call.opcode is Opcode.PSA_GENERATE_RANDOM:
            assert body_of(call, psa_generate_random_pb2.Operation).size == 12
            return b"N" * 12
        assert call.opcode is Opcode.PSA_AEAD_ENCRYPT
        body = body_of(call, psa_aead_encrypt_pb2.Operation)
        assert body.nonce == b"N" * 12
        assert body.additional_data == b"ad"
        assert body.alg.aead_with_default_length_tag == Algorithm.Aead.GCM
        return b"sealed+tag"

    flow = _keyflows.encrypt(ref(tessera.AES_256_GCM), b"pt", b"ad", known())
    sealed, calls = drive(flow, service)
    assert sealed == b"N" * 12 + b"sealed+tag"
    assert calls[0].provider == 1  # the nonce comes from the key's own provider


@pytest.mark.parametrize("size", [0, 11, 13])
def test_aead_encrypt_refuses_a_nonce_of_the_wrong_size(size: int) -> None:
    """A service that answers with too few or too many random bytes would make a ciphertext
    that cannot be split again: refused before anything is sealed."""

    def service(call: Call[Any]) -> bytes:
        assert call.opcode is Opcode.PSA_GENERATE_RANDOM
        return b"N" * size

    flow = _keyflows.encrypt(ref(tessera.AES_256_GCM), b"pt", b"ad", known())
    with pytest.raises(ProtocolError, match=f"12 random bytes, got {size}"):
        drive(flow, service)


def test_aead_decrypt_splits_the_nonce_off() -> None:
    def service(call: Call[Any]) -> bytes:
        assert call.opcode is Opcode.PSA_AEAD_DECRYPT
        body = body_of(call, psa_aead_decrypt_pb2.Operation)
        assert (body.nonce, body.ciphertext) == (b"N" * 12, b"sealed")
        return b"pt"

    plain, _ = drive(
        _keyflows.decrypt(ref(tessera.AES_256_GCM), b"N" * 12 + b"sealed", b"", known()), service
    )
    assert plain == b"pt"
    with pytest.raises(UsageError, match="shorter than its nonce"):
        drive(_keyflows.decrypt(ref(tessera.AES_256_GCM), b"short", b"", known()), service)


def test_rsa_encryption_label_is_the_associated_data() -> None:
    flow = _keyflows.encrypt(ref(tessera.RSA_3072_OAEP), b"pt", b"label", known())
    _, calls = drive(flow, lambda c: b"")
    [call] = calls
    assert call.opcode is Opcode.PSA_ASYMMETRIC_ENCRYPT
    assert body_of(call, psa_asymmetric_encrypt_pb2.Operation).salt == b"label"


@pytest.mark.parametrize(
    ("spec", "most"),
    [
        (rsa_oaep(2048), 2048 // 8 - 2 * 32 - 2),
        (rsa_oaep(3072, Algorithm.SHA_512), 3072 // 8 - 2 * 64 - 2),
    ],
)
def test_rsa_plaintext_over_the_bound_is_refused_before_sending(spec: KeySpec, most: int) -> None:
    """The service's own bound (`EncryptionAlgorithm.max_plaintext`): up to it is sent."""
    _, calls = drive(_keyflows.encrypt(ref(spec), bytes(most), b"", known()), lambda c: b"")
    assert [c.opcode for c in calls] == [Opcode.PSA_ASYMMETRIC_ENCRYPT]
    with pytest.raises(UsageError, match=f"encrypts at most {most} bytes at once"):
        drive(_keyflows.encrypt(ref(spec), bytes(most + 1), b"", known()), lambda c: b"")


@pytest.mark.parametrize(
    ("flow", "complaint"),
    [
        (lambda: _keyflows.sign(ref(tessera.AES_256_GCM), b"", Capabilities()), "cannot sign"),
        (lambda: _keyflows.encrypt(ref(ECDSA_P256), b"", b"", Capabilities()), "cannot encrypt"),
        (lambda: _keyflows.mac(ref(ECDSA_P256), b"", Capabilities()), "cannot compute MACs"),
        (lambda: _keyflows.agree(ref(ECDSA_P256), b""), "cannot agree"),
        (lambda: _keyflows.public_key(ref(tessera.HMAC_SHA256)), "symmetric"),
        (
            lambda: _keyflows.certificate_request(
                ref(tessera.AES_256_GCM), "CN=x", (), Capabilities()
            ),
            "cannot sign",
        ),
    ],
)
def test_misuse_is_refused_before_anything_is_sent(
    flow: Callable[[], KeyFlow[Any]], complaint: str
) -> None:
    def nothing_expected(call: Call[Any]) -> None:
        raise AssertionError(f"sent {call.opcode.name}")

    with pytest.raises(UsageError, match=complaint):
        drive(flow(), nothing_expected)


def _provider_service(
    opcodes: dict[int, list[int]], can: set[int]
) -> tuple[Responder, list[tuple[str, int]]]:
    asked: list[tuple[str, int]] = []

    def respond(call: Call[Any]) -> Any:
        if call.opcode is Opcode.LIST_OPCODES:
            provider_id = body_of(call, list_opcodes_pb2.Operation).provider_id
            asked.append(("ListOpcodes", provider_id))
            return opcodes[provider_id]
        assert call.opcode is Opcode.CAN_DO_CRYPTO
        asked.append(("CanDoCrypto", call.provider))
        if call.provider not in can:
            raise NotSupportedError(operation="CanDoCrypto")
        return None

    return respond, asked


def providers(*ids: int) -> Capabilities:
    """Capabilities that know the service's providers, and nothing about their opcodes."""
    capabilities = Capabilities()
    listed = [ProviderInfo(p, "", "", "", (0, 0, 0)) for p in (*ids, 0)]
    drive(capabilities.providers(), lambda c: listed)
    return capabilities


def choose(respond: Responder, capabilities: Capabilities) -> _placement.Placement:
    flow = _keyflows.choose_provider(ECDSA_P256.attributes(), _keyflows.GENERATE, capabilities)
    return drive(flow, respond)[0]


def test_first_provider_that_says_it_can() -> None:
    full = [int(Opcode.CAN_DO_CRYPTO), int(Opcode.PSA_GENERATE_KEY)]
    respond, asked = _provider_service({1: full, 2: full}, can={2})
    capabilities = providers(1, 2)
    assert choose(respond, capabilities) == _placement.Placement(2)
    assert asked == [("ListOpcodes", 1), ("CanDoCrypto", 1), ("ListOpcodes", 2), ("CanDoCrypto", 2)]
    asked.clear()
    choose(respond, capabilities)
    assert asked == [("CanDoCrypto", 1), ("CanDoCrypto", 2)]  # opcodes are asked once


def test_a_provider_that_cannot_say_is_the_fallback() -> None:
    full = [int(Opcode.CAN_DO_CRYPTO)]
    respond, _ = _provider_service({1: [int(Opcode.PSA_GENERATE_KEY)], 2: full}, can=set())
    assert choose(respond, providers(1, 2)) == _placement.Placement(1)


def test_when_every_provider_refuses_the_preferred_one_is_tried() -> None:
    full = [int(Opcode.CAN_DO_CRYPTO)]
    respond, _ = _provider_service({1: full, 2: full}, can=set())
    assert choose(respond, providers(1, 2)) == _placement.Placement(1, (1, 2))


def _refusing(opcodes: list[int], generate: Exception | None) -> Responder:
    def respond(call: Call[Any]) -> Any:
        if call.opcode is Opcode.LIST_OPCODES:
            return opcodes
        if call.opcode is Opcode.CAN_DO_CRYPTO:
            raise NotSupportedError(operation="CanDoCrypto")
        assert call.opcode is Opcode.PSA_GENERATE_KEY
        if generate is not None:
            raise generate
        return None

    return respond


def test_a_key_can_do_crypto_refused_is_still_made_if_the_provider_can() -> None:
    # Parsec 1.1.0's CanDoCrypto refuses ECDH keys its Mbed Crypto provider makes.
    respond = _refusing([int(Opcode.CAN_DO_CRYPTO)], generate=None)
    made, calls = drive(_keyflows.generate("k", tessera.ECDH_P256, None, providers(1)), respond)
    assert made.provider == 1
    assert [c.opcode for c in calls][-1] is Opcode.PSA_GENERATE_KEY


def test_a_key_nobody_can_make_says_so() -> None:
    refusal = InvalidArgumentError(operation="PsaGenerateKey", key_name="k")
    respond = _refusing([int(Opcode.CAN_DO_CRYPTO)], generate=refusal)
    with pytest.raises(NotSupportedError) as raised:
        drive(_keyflows.generate("k", tessera.ECDSA_P384, None, providers(1)), respond)
    assert str(raised.value) == (
        "no provider can generate key 'k': CanDoCrypto said no (provider 1), and so did "
        "PsaGenerateKey in provider 1: an argument is invalid (PSA_ERROR_INVALID_ARGUMENT)"
    )


def test_a_refusal_after_a_yes_is_the_services_own() -> None:
    refusal = InvalidArgumentError(operation="PsaGenerateKey", key_name="k")
    with pytest.raises(InvalidArgumentError):
        drive(_keyflows.generate("k", ECDSA_P256, 1, Capabilities()), _refusing([], refusal))


def test_lookup_follows_provider_priority() -> None:
    keys = [
        KeyInfo(2, "k", tessera.AES_256_GCM.attributes()),
        KeyInfo(1, "k", ECDSA_P256.attributes()),
        KeyInfo(2, "only-in-2", tessera.HMAC_SHA256.attributes()),
    ]
    found, _ = drive(_keyflows.lookup("k", providers(1, 2)), lambda c: keys)
    assert (found.provider, found.attributes) == (1, ECDSA_P256.attributes())
    found, _ = drive(_keyflows.lookup("k", providers(2, 1)), lambda c: keys)
    assert found.provider == 2
    found, _ = drive(_keyflows.lookup("only-in-2", providers(1)), lambda c: keys)
    assert found.provider == 2  # in a provider the client did not list: still found
    with pytest.raises(DoesNotExistError, match="'missing'"):
        drive(_keyflows.lookup("missing", providers(1, 2)), lambda c: keys)
