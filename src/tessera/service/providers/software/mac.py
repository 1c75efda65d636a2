"""MACs: HMAC over any available hash and AES-CMAC, full length or truncated.

PSA usage: computing a MAC needs SIGN_MESSAGE (or SIGN_HASH, which implies it), verifying needs
VERIFY_MESSAGE (or VERIFY_HASH). Truncations below 4 bytes are NotSupported (too weak to offer).
Verification compares in constant time; a mismatch of value or length is InvalidSignature.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import algorithms

from tessera.psa.algorithms import MacAlgorithm, MacKind, parse_mac
from tessera.psa.hashes import hash_algorithm
from tessera.psa.key_types import KeyKind, KeyType
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.software.policy import Settings, open_for
from tessera.wire import contracts
from tessera.wire.proto import psa_mac_compute_pb2, psa_mac_verify_pb2
from tessera.wire.status import Status, StatusError

MIN_TRUNCATED_LENGTH = 4
MAC_USAGES = (Usage.SIGN_MESSAGE, Usage.VERIFY_MESSAGE)


def check_mac(key_type: KeyType, bits: int, alg: MacAlgorithm, usage: Usage) -> None:
    """Refuse a key/algorithm combination that cannot work."""
    if alg.kind is MacKind.CBC_MAC:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "CBC-MAC is not supported")
    if alg.kind is MacKind.HMAC:
        if key_type.kind is not KeyKind.HMAC:
            raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "HMAC needs an HMAC key")
        assert alg.hash is not None
        hash_algorithm(alg.hash)
    elif key_type.kind is not KeyKind.AES:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "CMAC needs an AES key")
    if alg.length is not None and alg.length < MIN_TRUNCATED_LENGTH:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "MACs shorter than 4 bytes")


def _compute(alg: MacAlgorithm, key: bytes, data: bytes) -> bytes:
    if alg.kind is MacKind.HMAC:
        assert alg.hash is not None
        mac = crypto_hmac.HMAC(key, hash_algorithm(alg.hash))
        mac.update(data)
        full = mac.finalize()
    else:
        block_mac = cmac.CMAC(algorithms.AES(key))
        block_mac.update(data)
        full = block_mac.finalize()
    return full[: alg.output_length]


@serves(contracts.PSA_MAC_COMPUTE)
def mac_compute(
    settings: Settings, owner: Owner, op: psa_mac_compute_pb2.Operation
) -> psa_mac_compute_pb2.Result:
    """PsaMacCompute."""
    alg = parse_mac(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.SIGN_MESSAGE, alg)
    check_mac(key.attributes.key_type, key.bits, alg, Usage.SIGN_MESSAGE)
    return psa_mac_compute_pb2.Result(mac=_compute(alg, key.data, op.input))


@serves(contracts.PSA_MAC_VERIFY)
def mac_verify(
    settings: Settings, owner: Owner, op: psa_mac_verify_pb2.Operation
) -> psa_mac_verify_pb2.Result:
    """PsaMacVerify."""
    alg = parse_mac(op.alg)
    key = open_for(settings, owner, op.key_name, Usage.VERIFY_MESSAGE, alg)
    check_mac(key.attributes.key_type, key.bits, alg, Usage.VERIFY_MESSAGE)
    if not hmac.compare_digest(_compute(alg, key.data, op.input), op.mac):
        raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "the MAC does not match")
    return psa_mac_verify_pb2.Result()
