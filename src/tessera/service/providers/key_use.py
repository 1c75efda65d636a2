"""Opening a key for one use: the key's policy, then what the provider itself refuses.

Every key operation starts so; a provider describes how for each family of algorithms with a
`KeyUse`, which the shared operations (`signing`, `encrypting`) are built from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tessera.psa.algorithms import Algorithm
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner

S = TypeVar("S")
K = TypeVar("K")
A = TypeVar("A", bound=Algorithm)


@dataclass(frozen=True, slots=True)
class KeyUse(Generic[S, K, A]):
    """How a provider with state `S` opens its keys `K` for algorithms `A`."""

    #: Open the owner's key and check its policy allows the use with the algorithm.
    open_for: Callable[[S, Owner, str, Usage, Algorithm], K]
    #: Refuse a key/algorithm/use combination the provider cannot serve.
    check: Callable[[S, K, A, Usage], None]

    def open(self, state: S, owner: Owner, name: str, usage: Usage, alg: A) -> K:
        """The owner's key `name`, allowed and able to serve `usage` with `alg`."""
        key = self.open_for(state, owner, name, usage, alg)
        self.check(state, key, alg, usage)
        return key
