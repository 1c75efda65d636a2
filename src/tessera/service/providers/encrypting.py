"""What AsymmetricEncrypt and AsymmetricDecrypt check before a device provider computes.

The PKCS#11 and TPM providers open the key for the use (`KeyUse`) and refuse a salt with
PKCS#1 v1.5 (only OAEP takes a label), in that order, as the software provider does.
"""

from __future__ import annotations

from typing import TypeVar

from tessera.psa.algorithms import EncryptionAlgorithm, EncryptionScheme, parse_encryption
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.key_use import KeyUse
from tessera.wire.proto import psa_algorithm_pb2
from tessera.wire.status import Status, StatusError

S = TypeVar("S")
K = TypeVar("K")


def prepare_encryption(
    keys: KeyUse[S, K, EncryptionAlgorithm],
    state: S,
    owner: Owner,
    name: str,
    alg_pb: psa_algorithm_pb2.Algorithm.AsymmetricEncryption,
    *,
    salt: bytes,
    usage: Usage,
) -> tuple[K, EncryptionAlgorithm]:
    """The key and algorithm of an encryption or decryption, checked alike."""
    alg = parse_encryption(alg_pb)
    key = keys.open(state, owner, name, usage, alg)
    if alg.scheme is EncryptionScheme.RSA_PKCS1V15 and salt:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "PKCS#1 v1.5 encryption takes no salt")
    return key, alg
