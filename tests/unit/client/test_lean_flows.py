"""The idiomatic flows on decoded attributes send what they sent reading protobuf messages.

The flows read a key's algorithm and usage with `protowire` (`KeyRef.fields`) and send the
algorithm back encoded by it. The oracle is the protobuf reading they replace (kept here): over
random attributes (every algorithm, empty and absent parts, unknown enum values), each request
is protobuf's own encoding of the same operation with the algorithm protobuf would have sent.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf.message import Message

import tessera
from tessera.client import _calls, _keyflows, _messages, _signflows
from tessera.client._calls import KeyInfo
from tessera.client._errors import NotSupportedError, TesseraError, UsageError
from tessera.client._keyflows import KeyFlow
from tessera.client._keyref import KeyRef
from tessera.client._protocol import Call, Encoded, decode_reply
from tessera.client.specs import KeySpec
from tessera.psa import hashes as psa_hashes
from tessera.wire.contracts import operation_type, result_type
from tessera.wire.framing import Frame
from tessera.wire.header import Header
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    psa_key_attributes_pb2,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.protowire import encode
from tests.unit.client.test_keyflows import drive, known
from tests.unit.wire.test_protowire import _protobuf, _values

KeyAttributes = psa_key_attributes_pb2.KeyAttributes
SPECS = [value for value in vars(tessera.client.specs).values() if isinstance(value, KeySpec)] + [
    tessera.client.specs.rsa_pkcs1v15_sign(2048),
    tessera.client.specs.hmac(Algorithm.SHA_512),
]


# The oracle: how the flows read the signature algorithm from protobuf before.
_HASH_AND_SIGN = ("rsa_pkcs1v15_sign", "rsa_pss", "ecdsa", "deterministic_ecdsa")
_CURVE_HASHES = {256: Algorithm.SHA_256, 384: Algorithm.SHA_384, 521: Algorithm.SHA_512}


def protobuf_signature_algorithm(
    attributes: KeyAttributes,
) -> Algorithm.AsymmetricSignature | None:
    algorithm = attributes.key_policy.key_algorithm
    if algorithm.WhichOneof("variant") != "asymmetric_signature":
        return None
    signature = Algorithm.AsymmetricSignature()
    signature.CopyFrom(algorithm.asymmetric_signature)
    variant = signature.WhichOneof("variant")
    if variant in _HASH_AND_SIGN:
        sign_hash = getattr(signature, variant).hash_alg
        if sign_hash.WhichOneof("variant") == "any":
            sign_hash.specific = _CURVE_HASHES.get(attributes.key_bits, Algorithm.SHA_256)
    return signature


def protobuf_hash_of(signature: Algorithm.AsymmetricSignature) -> int | None:
    variant = signature.WhichOneof("variant")
    if variant in _HASH_AND_SIGN:
        specific: int = getattr(signature, variant).hash_alg.specific
        return specific
    return None


def random_attributes(rng: random.Random) -> KeyAttributes:
    """Random attributes; half of them with a signature algorithm (the flows' main case)."""
    values = _values(_messages.KEY_ATTRIBUTES, rng)
    if rng.random() < 0.5:
        policy = values.setdefault("key_policy", {})
        signature = _values(_messages.ASYMMETRIC_SIGNATURE, rng)
        policy["key_algorithm"] = {"asymmetric_signature": signature}
        values["key_bits"] = rng.choice([0, 255, 256, 384, 521, 2048])
    built = _protobuf(KeyAttributes, values)
    assert isinstance(built, KeyAttributes)
    return built


def cases(count: int) -> list[KeyAttributes]:
    rng = random.Random(f"lean flows {count}")
    return [spec.attributes() for spec in SPECS] + [random_attributes(rng) for _ in range(count)]


def sent_as(call: Call[Any], **fields: Any) -> bytes:
    """Protobuf's encoding of the call's operation with these fields."""
    message: Message = operation_type(call.opcode)(key_name=call.key_name, **fields)
    return message.SerializeToString()


def encoded_ref(attributes: KeyAttributes) -> KeyRef:
    """The key as the client finds it: attributes as the service encoded them."""
    return KeyRef.of(KeyInfo(1, "k", encoded_attributes=attributes.SerializeToString()))


@pytest.mark.parametrize("attributes", cases(400))
def test_signature_algorithms_are_protobufs(attributes: KeyAttributes) -> None:
    ref = encoded_ref(attributes)
    expected = protobuf_signature_algorithm(attributes)
    if expected is None:
        with pytest.raises(UsageError, match="cannot sign"):
            _signflows.signature_fields(ref)
        return
    fields = _signflows.signature_fields(ref)
    assert encode(_messages.ASYMMETRIC_SIGNATURE, fields) == expected.SerializeToString()
    assert _signflows.hash_of(fields) == protobuf_hash_of(expected)
    assert _signflows.signature_algorithm(ref) == expected
    assert ref.fields == encoded_ref(attributes).fields  # the key's own fields are untouched


def _run(flow: Any, respond: Any) -> tuple[Any, list[Call[Any]], str | None]:
    """The flow's value, its calls, and the failure it raised (type and text), if any."""
    calls: list[Call[Any]] = []

    def recording(call: Call[Any]) -> Any:
        calls.append(call)
        return respond(call)

    try:
        value, _ = drive(flow, recording)
    except TesseraError as error:
        return None, calls, f"{type(error).__name__}: {error}"
    return value, calls, None


def _signature_service(call: Call[Any]) -> bytes | None:
    if call.opcode in (Opcode.PSA_SIGN_MESSAGE, Opcode.PSA_SIGN_HASH):
        return b"sig"
    return None


@pytest.mark.parametrize("attributes", cases(150))
@pytest.mark.parametrize(
    "served",
    [
        None,  # every opcode
        [int(Opcode.PSA_SIGN_HASH), int(Opcode.PSA_VERIFY_HASH)],  # Mbed Crypto's
        [int(Opcode.PSA_SIGN_MESSAGE), int(Opcode.PSA_VERIFY_MESSAGE)],
    ],
    ids=["all", "hash", "message"],
)
def test_signing_flows_send_protobufs_requests(
    attributes: KeyAttributes, served: list[int] | None
) -> None:
    """The same route as with the key's protobuf attributes, and the same bytes."""
    alg = protobuf_signature_algorithm(attributes)
    data, signature, digest = b"data", b"sig", b"\x11" * 32
    flows: dict[str, Callable[[KeyRef], KeyFlow[Any]]] = {
        "sign": lambda ref: _keyflows.sign(ref, data, known(served)),
        "verify": lambda ref: _keyflows.verify(ref, signature, data, known(served)),
        "sign_digest": lambda ref: _keyflows.sign_digest(ref, digest),
        "verify_digest": lambda ref: _keyflows.verify_digest(ref, signature, digest),
    }
    for name, flow in flows.items():
        value, calls, failure = _run(flow(encoded_ref(attributes)), _signature_service)
        # (a KeyRef of protobuf attributes, as the library's own keys and tests make them)
        same = _run(flow(KeyRef("k", 1, attributes)), _signature_service)
        assert (value, failure) == same[::2], name
        assert [c.body.SerializeToString() for c in calls] == [
            c.body.SerializeToString() for c in same[1]
        ]
        if alg is None:
            assert failure is not None and "cannot sign" in failure
            continue
        for call in calls:
            expected = {
                Opcode.PSA_SIGN_MESSAGE: {"message": data},
                Opcode.PSA_VERIFY_MESSAGE: {"message": data, "signature": signature},
            }.get(call.opcode)
            if expected is None:  # a digest: the caller's, or made here with the key's hash
                hashed = digest
                if not name.endswith("_digest"):
                    hash_alg = protobuf_hash_of(alg)
                    assert hash_alg is not None
                    hashed = psa_hashes.digest(hash_alg, data)
                expected = {"hash": hashed}
                if call.opcode is Opcode.PSA_VERIFY_HASH:
                    expected["signature"] = signature
            assert call.body.SerializeToString() == sent_as(call, alg=alg, **expected), name


def test_a_hash_this_library_cannot_compute_is_not_supported() -> None:
    attributes = tessera.ECDSA_P256.attributes()
    scheme = attributes.key_policy.key_algorithm.asymmetric_signature.ecdsa
    scheme.hash_alg.specific = 99  # type: ignore[assignment]  # a value the .proto does not name
    served = [int(Opcode.PSA_SIGN_HASH)]
    with pytest.raises(NotSupportedError):
        drive(_keyflows.sign(encoded_ref(attributes), b"data", known(served)), lambda c: b"")


@pytest.mark.parametrize("attributes", cases(200))
def test_cipher_and_mac_flows_send_protobufs_requests(attributes: KeyAttributes) -> None:
    algorithm = attributes.key_policy.key_algorithm
    variant = algorithm.WhichOneof("variant")
    ref = encoded_ref(attributes)
    nonce = b"N" * 12
    flows: dict[str, Any] = {
        "encrypt": _keyflows.encrypt(ref, b"pt", b"ad", known()),
        "decrypt": _keyflows.decrypt(ref, nonce + b"ct", b"ad", known()),
        "mac": _keyflows.mac(ref, b"data", known()),
        "verify_mac": _keyflows.verify_mac(ref, b"data", b"tag", known()),
    }
    for name, flow in flows.items():
        _, calls, failure = _run(
            flow, lambda c: nonce if c.opcode is Opcode.PSA_GENERATE_RANDOM else b""
        )
        calls = [c for c in calls if c.opcode is not Opcode.PSA_GENERATE_RANDOM]
        if name in ("encrypt", "decrypt") and variant == "aead":
            data = "plaintext" if name == "encrypt" else "ciphertext"
            value = b"pt" if name == "encrypt" else b"ct"
            [call] = calls
            expected = sent_as(
                call, alg=algorithm.aead, nonce=nonce, additional_data=b"ad", **{data: value}
            )
            assert call.body.SerializeToString() == expected
        elif name in ("encrypt", "decrypt") and variant == "asymmetric_encryption":
            if failure is not None:  # too long for the RSA key's size, said before sending
                assert name == "encrypt" and "encrypts at most" in failure and not calls
                continue
            data = "plaintext" if name == "encrypt" else "ciphertext"
            value = b"pt" if name == "encrypt" else nonce + b"ct"
            [call] = calls
            expected = sent_as(
                call, alg=algorithm.asymmetric_encryption, salt=b"ad", **{data: value}
            )
            assert call.body.SerializeToString() == expected
        elif name in ("mac", "verify_mac") and variant == "mac":
            [call] = calls
            extra = {"mac": b"tag"} if name == "verify_mac" else {}
            assert call.body.SerializeToString() == sent_as(
                call, alg=algorithm.mac, input=b"data", **extra
            )
        else:
            assert failure is not None and failure.startswith("UsageError") and not calls


@pytest.mark.parametrize("opcode", list(_messages.WITH_ALGORITHM), ids=lambda op: op.name)
def test_calls_with_an_encoded_algorithm_are_protobufs(opcode: Opcode) -> None:
    """The operation layer's call builders: given `Encoded`, the same request and the same
    reading of the answer as given the protobuf algorithm."""
    operation, result = _messages.WITH_ALGORITHM[opcode]
    alg_schema = operation.by_name["alg"].schema
    assert alg_schema is not None
    rng = random.Random(f"encoded {opcode.name}")
    request: Any = operation_type(opcode)()  # each of them has an `alg`
    alg_type = type(request.alg)
    builders: dict[Opcode, Callable[[Any], Call[Any]]] = {
        Opcode.PSA_SIGN_MESSAGE: lambda alg: _calls.sign_message(1, "k", alg, b"m"),
        Opcode.PSA_SIGN_HASH: lambda alg: _calls.sign_hash(1, "k", alg, b"h"),
        Opcode.PSA_VERIFY_MESSAGE: lambda alg: _calls.verify_message(1, "k", alg, b"m", b"s"),
        Opcode.PSA_VERIFY_HASH: lambda alg: _calls.verify_hash(1, "k", alg, b"h", b"s"),
        Opcode.PSA_AEAD_ENCRYPT: lambda alg: _calls.aead_encrypt(
            1, "k", alg, nonce=b"n", aad=b"", plaintext=b"p"
        ),
        Opcode.PSA_AEAD_DECRYPT: lambda alg: _calls.aead_decrypt(
            1, "k", alg, nonce=b"n", aad=b"a", ciphertext=b"c"
        ),
        Opcode.PSA_ASYMMETRIC_ENCRYPT: lambda alg: _calls.asymmetric_encrypt(
            1, "k", alg, b"p", b"l"
        ),
        Opcode.PSA_ASYMMETRIC_DECRYPT: lambda alg: _calls.asymmetric_decrypt(1, "k", alg, b"c"),
        Opcode.PSA_MAC_COMPUTE: lambda alg: _calls.mac_compute(1, "k", alg, b"i"),
        Opcode.PSA_MAC_VERIFY: lambda alg: _calls.mac_verify(1, "k", alg, b"i", b"t"),
    }
    builder = builders[opcode]
    answer = _protobuf(result_type(opcode), _values(result, rng)).SerializeToString()
    for _ in range(50):
        values = _values(alg_schema, rng)
        lean = builder(Encoded(encode(alg_schema, values)))
        full = builder(_protobuf(alg_type, values))
        assert lean.result is not None and full.result is None  # protobuf only when given it
        assert lean.body.SerializeToString() == full.body.SerializeToString()
        assert (lean.opcode, lean.provider, lean.key_name) == (full.opcode, 1, "k")
        frame = Frame(Header(opcode=int(opcode)), answer)
        assert decode_reply(lean, frame) == decode_reply(full, frame)


def test_a_key_ref_keeps_the_encoding_and_makes_protobuf_on_demand() -> None:
    attributes = tessera.ECDSA_P384.attributes()
    ref = encoded_ref(attributes)
    assert ref._attributes is None  # nothing parsed with protobuf yet
    assert ref.key_bits == 384 and ref.usage_fields["sign_hash"] is True
    assert ref.algorithm_fields["asymmetric_signature"]["ecdsa"] is not None
    assert ref._attributes is None
    assert ref.attributes == attributes and ref.algorithm == attributes.key_policy.key_algorithm
    assert ref.usage == attributes.key_policy.key_usage_flags
    assert ref == KeyRef("k", 1, attributes) and ref != KeyRef("k", 2, attributes)
    assert repr(ref).startswith("KeyRef(name='k', provider=1, attributes=")
    with pytest.raises(AttributeError):
        ref.name = "other"
    with pytest.raises(TypeError):
        KeyRef("k", 1)
    empty = KeyRef("k", 1, encoded=b"")
    assert empty.key_bits == 0 and not any(empty.usage_fields.values())
    assert empty.algorithm_fields == _messages_defaults(_messages.ALGORITHM)


def _messages_defaults(schema: Any) -> dict[str, Any]:
    from tessera.wire.protowire import decode

    return decode(schema, b"")
