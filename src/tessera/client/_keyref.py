"""A key as the flows see it: where it lives and what its policy says."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.client._errors import UsageError
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes, UsageFlags


@dataclass(frozen=True)
class KeyRef:
    """Where a key lives and what it is."""

    name: str
    provider: int
    attributes: KeyAttributes

    @property
    def algorithm(self) -> Algorithm:
        """The one algorithm the key's policy permits."""
        return self.attributes.key_policy.key_algorithm

    @property
    def usage(self) -> UsageFlags:
        """The key's usage flags."""
        return self.attributes.key_policy.key_usage_flags


def usage_error(ref: KeyRef, what: str) -> UsageError:
    """Refusal of an operation the key's policy cannot allow (raised before anything is sent)."""
    return UsageError(f"key {ref.name!r} cannot {what} (its policy does not allow it)")
