"""PSA hash algorithms and their `cryptography` counterparts."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

from tessera.psa.ripemd160 import ripemd160
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.status import Status, StatusError

_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    Algorithm.MD5: hashes.MD5,
    Algorithm.SHA_1: hashes.SHA1,
    Algorithm.SHA_224: hashes.SHA224,
    Algorithm.SHA_256: hashes.SHA256,
    Algorithm.SHA_384: hashes.SHA384,
    Algorithm.SHA_512: hashes.SHA512,
    Algorithm.SHA_512_224: hashes.SHA512_224,
    Algorithm.SHA_512_256: hashes.SHA512_256,
    Algorithm.SHA3_224: hashes.SHA3_224,
    Algorithm.SHA3_256: hashes.SHA3_256,
    Algorithm.SHA3_384: hashes.SHA3_384,
    Algorithm.SHA3_512: hashes.SHA3_512,
}

# Hashes no library here computes; PSA names them but we answer NotSupported.
_UNAVAILABLE = frozenset({Algorithm.MD2, Algorithm.MD4})


def hash_algorithm(alg: int) -> hashes.HashAlgorithm:
    """A fresh `cryptography` hash object for a PSA hash identifier."""
    cls = _HASHES.get(alg)
    if cls is not None:
        return cls()
    if alg in _UNAVAILABLE or alg == Algorithm.RIPEMD160:
        # RIPEMD-160 is digest-only: `cryptography` has no object to sign or MAC with.
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "hash algorithm not available")
    raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "not a hash algorithm")


def digest(alg: int, data: bytes) -> bytes:
    """The digest of `data` under a PSA hash identifier."""
    if alg == Algorithm.RIPEMD160:
        return ripemd160(data)
    hasher = hashes.Hash(hash_algorithm(alg))
    hasher.update(data)
    return hasher.finalize()


def supported_hashes() -> frozenset[int]:
    """PSA hash identifiers this build can compute (with `digest`)."""
    return frozenset(_HASHES) | {Algorithm.RIPEMD160}
