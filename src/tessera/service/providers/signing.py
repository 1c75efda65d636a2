"""SignHash, VerifyHash, SignMessage and VerifyMessage, written once for every provider.

The four operations differ between providers only in their primitives: how a key is opened for a
use (`KeyUse`: its policy, then which key/algorithm pairs the provider refuses), what it checks
about a given hash, and how it signs and verifies. A provider's signature module describes those
in a `SignPrimitives` and exposes `signature_operations(primitives)` as its `KEY_OPERATIONS`
table (see `key_operations`).

Messages are hashed in this process with the algorithm's hash (PureEdDSA signs the message
itself), so a provider only ever signs and verifies hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tessera.psa.algorithms import (
    SignAlgorithm,
    SignScheme,
    parse_sign,
    require_specific,
)
from tessera.psa.hashes import digest
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import KeyOperation
from tessera.service.providers.key_use import KeyUse
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_algorithm_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)

S = TypeVar("S")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class SignPrimitives(Generic[S, K]):
    """What one provider does differently: `S` is its state, `K` its opened key."""

    #: How a key is opened for a signature algorithm.
    keys: KeyUse[S, K, SignAlgorithm]
    #: Refuse a hash given to SignHash/VerifyHash that does not fit the algorithm and key.
    check_hash: Callable[[S, K, SignAlgorithm, bytes], None]
    #: The signature of a hash, in PSA format.
    sign: Callable[[S, K, SignAlgorithm, bytes], bytes]
    #: Raise InvalidSignature unless the signature (PSA format) is over the hash.
    verify: Callable[[S, K, SignAlgorithm, bytes, bytes], None]


def message_input(alg: SignAlgorithm, message: bytes) -> bytes:
    """What SignMessage signs: the message's hash, or the message itself for PureEdDSA."""
    if alg.scheme is SignScheme.PURE_EDDSA:
        return message
    assert alg.hash is not None
    return digest(alg.hash, message)


def signature_operations(p: SignPrimitives[S, K]) -> tuple[KeyOperation[S, Any, Any], ...]:
    """The four signature operations of a provider with primitives `p`."""

    def prepare(
        state: S,
        owner: Owner,
        name: str,
        alg_pb: psa_algorithm_pb2.Algorithm.AsymmetricSignature,
        usage: Usage,
    ) -> tuple[K, SignAlgorithm]:
        alg = require_specific(parse_sign(alg_pb))
        return p.keys.open(state, owner, name, usage, alg), alg

    def sign_hash(
        state: S, owner: Owner, op: psa_sign_hash_pb2.Operation
    ) -> psa_sign_hash_pb2.Result:
        key, alg = prepare(state, owner, op.key_name, op.alg, Usage.SIGN_HASH)
        p.check_hash(state, key, alg, op.hash)
        return psa_sign_hash_pb2.Result(signature=p.sign(state, key, alg, op.hash))

    def verify_hash(
        state: S, owner: Owner, op: psa_verify_hash_pb2.Operation
    ) -> psa_verify_hash_pb2.Result:
        key, alg = prepare(state, owner, op.key_name, op.alg, Usage.VERIFY_HASH)
        p.check_hash(state, key, alg, op.hash)
        p.verify(state, key, alg, op.hash, op.signature)
        return psa_verify_hash_pb2.Result()

    def sign_message(
        state: S, owner: Owner, op: psa_sign_message_pb2.Operation
    ) -> psa_sign_message_pb2.Result:
        key, alg = prepare(state, owner, op.key_name, op.alg, Usage.SIGN_MESSAGE)
        signature = p.sign(state, key, alg, message_input(alg, op.message))
        return psa_sign_message_pb2.Result(signature=signature)

    def verify_message(
        state: S, owner: Owner, op: psa_verify_message_pb2.Operation
    ) -> psa_verify_message_pb2.Result:
        key, alg = prepare(state, owner, op.key_name, op.alg, Usage.VERIFY_MESSAGE)
        p.verify(state, key, alg, message_input(alg, op.message), op.signature)
        return psa_verify_message_pb2.Result()

    return (
        KeyOperation(contracts.PSA_SIGN_HASH, sign_hash),
        KeyOperation(contracts.PSA_VERIFY_HASH, verify_hash),
        KeyOperation(contracts.PSA_SIGN_MESSAGE, sign_message),
        KeyOperation(contracts.PSA_VERIFY_MESSAGE, verify_message),
    )
