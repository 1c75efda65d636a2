"""The RFC 7919 finite-field Diffie-Hellman groups (ffdhe2048 ... ffdhe8192).

RFC 7919 defines each prime as p = 2^b - 2^(b-64) + (floor(2^(b-130) * e) + X) * 2^64 - 1 with
g = 2, where X is the smallest integer making p a safe prime. We compute p from that definition
(e by its series, in integers) rather than carrying five long hex constants; the unit tests check
the results against the RFC's published leading and trailing words and for being safe primes.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field

GENERATOR = 2

# X for each group size b (RFC 7919, appendix A).
_OFFSETS = {2048: 560316, 3072: 2625351, 4096: 5736041, 6144: 15705020, 8192: 10965728}

GROUP_BITS = tuple(_OFFSETS)


def _e_times_power_of_two(exponent: int) -> int:
    """floor(e * 2^exponent), from e = sum 1/k!, with guard bits so the floor is exact."""
    guard = 64
    term = 1 << (exponent + guard)
    total = 0
    k = 0
    while term:
        total += term
        k += 1
        term //= k
    return total >> guard


@functools.cache
def ffdhe_prime(bits: int) -> int:
    """The prime of the RFC 7919 group of `bits` bits (KeyError for other sizes)."""
    offset = _OFFSETS[bits]
    return (
        (1 << bits)
        - (1 << (bits - 64))
        + (_e_times_power_of_two(bits - 130) + offset) * (1 << 64)
        - 1
    )


# Private exponent sizes for generated keys (RFC 7919, appendix A: about twice the group's
# security strength). Short exponents are as strong against the best attacks and much faster.
_EXPONENT_BITS = {2048: 225, 3072: 275, 4096: 325, 6144: 375, 8192: 400}


@dataclass(frozen=True, slots=True)
class FfdhPublicKey:
    """y = g^x mod p in the RFC 7919 group of `bits` bits."""

    bits: int
    y: int

    def __post_init__(self) -> None:
        if not 1 < self.y < ffdhe_prime(self.bits) - 1:
            raise ValueError("DH public value out of range")

    def public_bytes(self) -> bytes:
        """y, big-endian, as long as p (the PSA format)."""
        return self.y.to_bytes(self.bits // 8, "big")


@dataclass(frozen=True, slots=True)
class FfdhPrivateKey:
    """A private exponent x in the RFC 7919 group of `bits` bits.

    Computed with Python integers: `cryptography` deprecated its finite-field DH in release 50.
    Python's modular exponentiation is not constant-time; the exponent is fixed per key, so the
    leak is at most its running time for that key, not its bits request by request.
    """

    bits: int
    x: int = field(repr=False)

    def __post_init__(self) -> None:
        if not 1 < self.x < ffdhe_prime(self.bits) - 1:
            raise ValueError("DH private value out of range")

    @classmethod
    def generate(cls, bits: int) -> FfdhPrivateKey:
        """A fresh key with a random exponent of the RFC's recommended size."""
        size = _EXPONENT_BITS[bits]
        return cls(bits, secrets.randbits(size) | (1 << (size - 1)))

    def private_bytes(self) -> bytes:
        """x, big-endian, as long as p (the PSA format)."""
        return self.x.to_bytes(self.bits // 8, "big")

    def public_key(self) -> FfdhPublicKey:
        """g^x mod p."""
        return FfdhPublicKey(self.bits, pow(GENERATOR, self.x, ffdhe_prime(self.bits)))

    def exchange(self, peer: FfdhPublicKey) -> bytes:
        """g^(xy) mod p, big-endian, as long as p; ValueError for a degenerate result."""
        if peer.bits != self.bits:
            raise ValueError("the peer key is in another group")
        p = ffdhe_prime(self.bits)
        shared = pow(peer.y, self.x, p)
        if shared in (0, 1, p - 1):
            raise ValueError("degenerate shared secret")
        return shared.to_bytes(self.bits // 8, "big")
