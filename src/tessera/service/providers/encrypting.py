"""What AsymmetricEncrypt and AsymmetricDecrypt check before a device provider computes.

The PKCS#11 and TPM providers open the key for the use, refuse what their own checks refuse, and
refuse a salt with PKCS#1 v1.5 (only OAEP takes a label), in that order, as the software
provider does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tessera.psa.algorithms import (
    Algorithm,
    EncryptionAlgorithm,
    EncryptionScheme,
    parse_encryption,
)
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.wire.proto import psa_algorithm_pb2
from tessera.wire.status import Status, StatusError

S = TypeVar("S")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class EncryptionKeys(Generic[S, K]):
    """How a provider with state `S` opens its keys `K` for asymmetric encryption."""

    #: Open the owner's key and check its policy allows the use with the algorithm.
    open_for: Callable[[S, Owner, str, Usage, Algorithm], K]
    #: Refuse a key/algorithm/use combination the provider cannot serve.
    check: Callable[[S, K, EncryptionAlgorithm, Usage], None]

    def prepare(
        self,
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
        key = self.open_for(state, owner, name, usage, alg)
        self.check(state, key, alg, usage)
        if alg.scheme is EncryptionScheme.RSA_PKCS1V15 and salt:
            raise StatusError(
                Status.PSA_ERROR_INVALID_ARGUMENT, "PKCS#1 v1.5 encryption takes no salt"
            )
        return key, alg
