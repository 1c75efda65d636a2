"""Key policy checks every provider makes before using a key: usage flag, permitted algorithm,
wildcard hashes, output size.

Shared by the software and PKCS#11 providers so both refuse exactly the same requests.
"""

from __future__ import annotations

from tessera.psa.algorithms import DEPRECATED_HASHES, Algorithm, Hash, SignAlgorithm, hashes_in
from tessera.psa.attributes import KeyAttributes
from tessera.psa.usage import Usage
from tessera.wire.status import Status, StatusError

__all__ = ["check_output_size", "check_policy"]


def check_policy(
    attributes: KeyAttributes, usage: Usage, alg: Algorithm, *, allow_deprecated: bool
) -> None:
    """Check that a key's policy permits `usage` with `alg`.

    PsaErrorNotPermitted for a missing usage flag or an algorithm the policy does not permit.
    A deprecated hash reached only through an any-hash wildcard policy is DeprecatedPrimitive
    unless deprecated primitives are allowed: the wildcard must not silently admit SHA-1.
    """
    attributes.require(usage, alg)
    if (
        not allow_deprecated
        and isinstance(attributes.algorithm, SignAlgorithm)
        and attributes.algorithm.hash is Hash.ANY
        and any(h in DEPRECATED_HASHES for h in hashes_in(alg))
    ):
        raise StatusError(
            Status.DEPRECATED_PRIMITIVE, "deprecated hash requested through a wildcard policy"
        )


def check_output_size(size: int, limit: int) -> None:
    """ResponseTooLarge, before computing, when an output would exceed the buffer limit."""
    if size > limit:
        raise StatusError(Status.RESPONSE_TOO_LARGE, "the output would exceed the buffer limit")
