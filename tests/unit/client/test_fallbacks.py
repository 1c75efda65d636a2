"""The flows against providers that offer less (Parsec's Mbed Crypto provider has no
PsaSignMessage, no PsaVerifyMessage, no MAC): where they fall back, and where they must not."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import tessera
from tessera.client import _keyflows, specs
from tessera.client._errors import NotSupportedError, UsageError
from tessera.client._keyflows import Capabilities, KeyRef
from tessera.client._protocol import Call
from tessera.client.specs import ECDSA_P256, KeySpec
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    psa_hash_compute_pb2,
    psa_sign_hash_pb2,
    psa_verify_hash_pb2,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tests.unit.client.test_keyflows import body_of, drive

# What Parsec 1.1.0's Mbed Crypto provider lists.
MBED_CRYPTO = frozenset(
    {
        Opcode.PSA_GENERATE_KEY,
        Opcode.PSA_DESTROY_KEY,
        Opcode.PSA_SIGN_HASH,
        Opcode.PSA_VERIFY_HASH,
        Opcode.PSA_IMPORT_KEY,
        Opcode.PSA_EXPORT_PUBLIC_KEY,
        Opcode.PSA_ASYMMETRIC_ENCRYPT,
        Opcode.PSA_ASYMMETRIC_DECRYPT,
        Opcode.PSA_EXPORT_KEY,
        Opcode.PSA_GENERATE_RANDOM,
        Opcode.PSA_HASH_COMPUTE,
        Opcode.PSA_HASH_COMPARE,
        Opcode.PSA_AEAD_ENCRYPT,
        Opcode.PSA_AEAD_DECRYPT,
        Opcode.PSA_RAW_KEY_AGREEMENT,
        Opcode.CAN_DO_CRYPTO,
    }
)
EVERYTHING = frozenset(Opcode)


class Provider:
    """A provider 1 that serves `opcodes` and records every call it gets."""

    def __init__(self, opcodes: frozenset[Opcode], **answers: Any) -> None:
        self.opcodes = opcodes
        self.answers = answers
        self.calls: list[Call[Any]] = []

    def __call__(self, call: Call[Any]) -> Any:
        self.calls.append(call)
        if call.opcode is Opcode.LIST_OPCODES:
            return [int(op) for op in self.opcodes]
        assert call.opcode in self.opcodes, f"sent {call.opcode.name}, which is not offered"
        answer = self.answers.get(call.opcode.name.lower(), b"answer")
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def sent(self) -> list[Opcode]:
        return [call.opcode for call in self.calls]


def key(spec: KeySpec, *usage: str) -> KeyRef:
    """A key of `spec` in provider 1, with only the usage flags given (default: the spec's)."""
    attributes = spec.attributes()
    if usage:
        flags = attributes.key_policy.key_usage_flags
        for field, _ in flags.ListFields():
            setattr(flags, field.name, False)
        for name in usage:
            setattr(flags, name, True)
    return KeyRef("k", 1, attributes)


def test_without_sign_message_the_message_is_hashed_here_and_the_digest_signed() -> None:
    provider = Provider(MBED_CRYPTO)
    capabilities = Capabilities()
    signature, _ = drive(_keyflows.sign(key(ECDSA_P256), b"hello", capabilities), provider)
    assert signature == b"answer"
    assert provider.sent == [Opcode.LIST_OPCODES, Opcode.PSA_SIGN_HASH]
    signed = body_of(provider.calls[1], psa_sign_hash_pb2.Operation)
    assert signed.hash == hashlib.sha256(b"hello").digest()
    assert signed.alg.ecdsa.hash_alg.specific == Algorithm.SHA_256

    drive(_keyflows.verify(key(ECDSA_P256), b"sig", b"hello", capabilities), provider)
    assert provider.sent[2:] == [Opcode.PSA_VERIFY_HASH]  # ListOpcodes was asked once
    verified = body_of(provider.calls[2], psa_verify_hash_pb2.Operation)
    assert (verified.hash, verified.signature) == (hashlib.sha256(b"hello").digest(), b"sig")


def test_the_digest_uses_the_keys_own_hash() -> None:
    provider = Provider(MBED_CRYPTO)
    spec = specs.rsa_pss(2048, Algorithm.SHA_384)
    drive(_keyflows.sign(key(spec), b"hello", Capabilities()), provider)
    signed = body_of(provider.calls[-1], psa_sign_hash_pb2.Operation)
    assert signed.hash == hashlib.sha384(b"hello").digest()


def test_a_provider_with_sign_message_gets_the_message() -> None:
    provider = Provider(EVERYTHING)
    drive(_keyflows.sign(key(ECDSA_P256), b"hello", Capabilities()), provider)
    assert provider.sent == [Opcode.LIST_OPCODES, Opcode.PSA_SIGN_MESSAGE]


@pytest.mark.parametrize(
    ("flow", "operation"),
    [
        (lambda k, c: _keyflows.sign(k, b"m", c), "sign"),
        (lambda k, c: _keyflows.verify(k, b"s", b"m", c), "verify"),
    ],
)
def test_a_key_for_messages_only_is_never_used_on_a_digest(flow: Any, operation: str) -> None:
    # PSA: SIGN_HASH implies SIGN_MESSAGE, not the reverse; Mbed Crypto refuses PsaSignHash.
    provider = Provider(MBED_CRYPTO)
    only = key(ECDSA_P256, f"{operation}_message")
    with pytest.raises(NotSupportedError) as refused:
        drive(flow(only, Capabilities()), provider)
    assert provider.sent == [Opcode.LIST_OPCODES]
    message = str(refused.value)
    assert message == (
        f"key 'k' cannot {operation} messages: provider 1 has no Psa{operation.title()}Message, "
        f"and its policy permits {operation}_message but not {operation}_hash, which "
        f"Psa{operation.title()}Hash on a digest made here would need"
    )
    assert "\n" not in message and refused.value.key_name == "k"


def test_a_key_for_messages_only_signs_where_the_service_takes_messages() -> None:
    provider = Provider(EVERYTHING)
    drive(_keyflows.sign(key(ECDSA_P256, "sign_message"), b"m", Capabilities()), provider)
    assert provider.sent[-1] is Opcode.PSA_SIGN_MESSAGE


def test_a_key_for_digests_only_signs_messages_where_only_messages_are_taken() -> None:
    provider = Provider(EVERYTHING - {Opcode.PSA_SIGN_HASH})
    drive(_keyflows.sign(key(ECDSA_P256, "sign_hash"), b"m", Capabilities()), provider)
    assert provider.sent[-1] is Opcode.PSA_SIGN_MESSAGE  # SIGN_HASH implies SIGN_MESSAGE


def test_a_key_for_digests_only_is_hashed_here_where_both_are_taken() -> None:
    provider = Provider(EVERYTHING)
    drive(_keyflows.sign(key(ECDSA_P256, "sign_hash"), b"m", Capabilities()), provider)
    assert provider.sent[-1] is Opcode.PSA_SIGN_HASH


def test_pure_eddsa_has_no_digest_to_fall_back_to() -> None:
    provider = Provider(MBED_CRYPTO)
    with pytest.raises(NotSupportedError, match=r"its algorithm \(pure_eddsa\) names no hash"):
        drive(_keyflows.sign(key(tessera.ED25519), b"m", Capabilities()), provider)


def test_a_provider_without_either_operation() -> None:
    provider = Provider(MBED_CRYPTO - {Opcode.PSA_SIGN_HASH})
    with pytest.raises(NotSupportedError, match="has no PsaSignMessage and no PsaSignHash"):
        drive(_keyflows.sign(key(ECDSA_P256), b"m", Capabilities()), provider)


def test_a_key_that_may_not_sign_is_refused_before_anything_is_sent() -> None:
    provider = Provider(EVERYTHING)
    with pytest.raises(UsageError, match="cannot sign messages"):
        drive(_keyflows.sign(key(ECDSA_P256, "verify_hash"), b"m", Capabilities()), provider)
    assert provider.calls == []


def test_csr_signing_falls_back_too() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    point = private.public_key().public_numbers()
    exported = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
    raw = b"\x01" * 64
    provider = Provider(MBED_CRYPTO, psa_export_public_key=exported, psa_sign_hash=raw)
    with pytest.raises(tessera.ProtocolError):  # the signature is junk, and is checked
        drive(_keyflows.certificate_request(key(ECDSA_P256), "CN=x", (), Capabilities()), provider)
    assert Opcode.PSA_SIGN_HASH in provider.sent


# hashes


def test_a_digest_is_computed_here_when_the_provider_has_no_hash_compute() -> None:
    provider = Provider(frozenset({Opcode.PSA_SIGN_HASH}))
    digest, _ = drive(_keyflows.digest(1, Algorithm.SHA_256, b"abc", Capabilities()), provider)
    assert digest == hashlib.sha256(b"abc").digest()
    assert provider.sent == [Opcode.LIST_OPCODES]


def test_a_digest_the_provider_cannot_make_is_made_here() -> None:
    refusal = NotSupportedError(operation="PsaHashCompute")
    provider = Provider(MBED_CRYPTO, psa_hash_compute=refusal)
    flow = _keyflows.digest(1, Algorithm.SHA3_256, b"abc", Capabilities())
    assert drive(flow, provider)[0] == hashlib.sha3_256(b"abc").digest()
    sent = body_of(provider.calls[-1], psa_hash_compute_pb2.Operation)
    assert sent.alg == Algorithm.SHA3_256  # the service was asked first


def test_a_deprecated_hash_refused_by_the_service_stays_refused() -> None:
    refusal = NotSupportedError(operation="PsaHashCompute")
    provider = Provider(MBED_CRYPTO, psa_hash_compute=refusal)
    with pytest.raises(NotSupportedError):
        drive(_keyflows.digest(1, Algorithm.MD5, b"abc", Capabilities()), provider)


def test_a_digest_goes_to_the_preferred_provider() -> None:
    provider = Provider(MBED_CRYPTO, psa_hash_compute=b"from the service")
    listed = [tessera.ProviderInfo(p, "", "", "", (0, 0, 0)) for p in (1, 0)]

    def service(call: Call[Any]) -> Any:
        return listed if call.opcode is Opcode.LIST_PROVIDERS else provider(call)

    digest, calls = drive(
        _keyflows.digest(None, Algorithm.SHA_256, b"abc", Capabilities()), service
    )
    assert digest == b"from the service" and calls[-1].provider == 1


# AEAD nonces


def test_aead_nonces_come_from_here_when_the_provider_has_no_generator() -> None:
    provider = Provider(frozenset({Opcode.PSA_AEAD_ENCRYPT}), psa_aead_encrypt=b"sealed")
    capabilities = Capabilities()
    first, _ = drive(_keyflows.encrypt(key(tessera.AES_256_GCM), b"p", b"", capabilities), provider)
    second, _ = drive(
        _keyflows.encrypt(key(tessera.AES_256_GCM), b"p", b"", capabilities), provider
    )
    assert first[12:] == second[12:] == b"sealed"
    assert first[:12] != second[:12]
    assert Opcode.PSA_GENERATE_RANDOM not in provider.sent
