"""A key as the flows see it: where it lives and what its policy says.

The attributes stay as the service sent them (ListKeys) and are read with `protowire` when a
flow asks (`fields`, `algorithm_fields`, `usage_fields`): signing, verifying, encrypting and
MACs need no protobuf runtime. The protobuf views (`attributes`, `algorithm`, `usage`) are made
on first use, for the public API that hands them to callers and the flows that read them so.
"""

from __future__ import annotations

from tessera.client._errors import UsageError
from tessera.client._held_attributes import HeldAttributes
from tessera.client._messages import KEY_ATTRIBUTES, KEY_POLICY
from tessera.wire.protowire import decode, part

TYPE_CHECKING = False  # typing and protobuf are not imported at run time: the command's start-up
if TYPE_CHECKING:
    from typing import Any

    from tessera.client._calls import KeyInfo
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes, UsageFlags


class KeyRef(HeldAttributes):
    """Where a key lives and what it is: its attributes as a protobuf message, or encoded."""

    __slots__ = ("_fields", "name", "provider")
    name: str
    provider: int
    _fields: dict[str, Any] | None

    def __init__(
        self,
        name: str,
        provider: int,
        attributes: KeyAttributes | None = None,
        *,
        encoded: bytes | None = None,
    ) -> None:
        self._hold(attributes, encoded, "encoded")
        set_slot = object.__setattr__  # frozen, as the dataclass it replaces
        set_slot(self, "name", name)
        set_slot(self, "provider", provider)
        set_slot(self, "_fields", None)

    @classmethod
    def of(cls, info: KeyInfo) -> KeyRef:
        """The key ListKeys described (its attributes left encoded)."""
        return cls(info.name, info.provider_id, encoded=info.encoded_attributes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyRef):
            return NotImplemented
        mine, theirs = (self.name, self.provider), (other.name, other.provider)
        return mine == theirs and self.attributes == other.attributes

    __hash__ = None  # type: ignore[assignment]  # as the dataclass it replaces (mutable attributes)

    def __repr__(self) -> str:
        where = f"name={self.name!r}, provider={self.provider!r}"
        return f"KeyRef({where}, attributes={self.attributes!r})"

    @property
    def algorithm(self) -> Algorithm:
        """The one algorithm the key's policy permits (protobuf)."""
        return self.attributes.key_policy.key_algorithm

    @property
    def usage(self) -> UsageFlags:
        """The key's usage flags (protobuf)."""
        return self.attributes.key_policy.key_usage_flags

    @property
    def fields(self) -> dict[str, Any]:
        """The attributes as `protowire` decodes them (`_messages.KEY_ATTRIBUTES`); not to be
        modified (they are kept)."""
        if self._fields is None:
            object.__setattr__(self, "_fields", decode(KEY_ATTRIBUTES, self.encoded_attributes))
            assert self._fields is not None
        return self._fields

    @property
    def key_bits(self) -> int:
        """The key's size in bits (0 if the attributes do not say)."""
        bits: int = self.fields["key_bits"]
        return bits

    @property
    def algorithm_fields(self) -> dict[str, Any]:
        """The permitted algorithm, decoded (`_messages.ALGORITHM`)."""
        return part(KEY_POLICY, self._policy(), "key_algorithm")

    @property
    def usage_fields(self) -> dict[str, Any]:
        """The usage flags, decoded (`_messages.USAGE_FLAGS`: flag name -> bool)."""
        return part(KEY_POLICY, self._policy(), "key_usage_flags")

    def _policy(self) -> dict[str, Any]:
        return part(KEY_ATTRIBUTES, self.fields, "key_policy")


def usage_error(ref: KeyRef, what: str) -> UsageError:
    """Refusal of an operation the key's policy cannot allow (raised before anything is sent)."""
    return UsageError(f"key {ref.name!r} cannot {what} (its policy does not allow it)")
