"""What AsymmetricEncrypt and AsymmetricDecrypt check before a device provider computes.

The PKCS#11 and TPM providers open the key for the use (`KeyUse`) and refuse a salt with
PKCS#1 v1.5 (only OAEP takes a label), in that order, as the software provider does.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from tessera.psa.algorithms import EncryptionAlgorithm, EncryptionScheme, parse_encryption
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.key_use import KeyUse
from tessera.wire.proto import psa_algorithm_pb2
from tessera.wire.status import Status, StatusError

S = TypeVar("S")
K = TypeVar("K")


class EncryptionRequest(Protocol):
    """What PsaAsymmetricEncrypt and PsaAsymmetricDecrypt requests both name."""

    @property
    def key_name(self) -> str: ...
    @property
    def alg(self) -> psa_algorithm_pb2.Algorithm.AsymmetricEncryption: ...
    @property
    def salt(self) -> bytes: ...


def prepare_encryption(
    keys: KeyUse[S, K, EncryptionAlgorithm],
    state: S,
    owner: Owner,
    op: EncryptionRequest,
    usage: Usage,
) -> tuple[K, EncryptionAlgorithm]:
    """The key and algorithm of an encryption or decryption, checked alike."""
    alg = parse_encryption(op.alg)
    key = keys.open(state, owner, op.key_name, usage, alg)
    if alg.scheme is EncryptionScheme.RSA_PKCS1V15 and op.salt:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "PKCS#1 v1.5 encryption takes no salt")
    return key, alg


def check_plaintext_length(bits: int, alg: EncryptionAlgorithm, plaintext: bytes) -> None:
    """InvalidArgument for more than one RSA block holds under `alg`'s padding (PKCS#1 v1.5:
    11 bytes; OAEP: two hashes and 2 bytes: `EncryptionAlgorithm.max_plaintext`)."""
    if len(plaintext) > alg.max_plaintext(bits):
        raise StatusError(
            Status.PSA_ERROR_INVALID_ARGUMENT, "plaintext too long for this key and algorithm"
        )
