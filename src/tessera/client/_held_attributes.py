"""Key attributes held as the service encoded them or as a protobuf message, each made from
the other on first use: the `tessera` command reads keys from the encoding (no protobuf
runtime), the public API hands protobuf messages to its callers."""

from __future__ import annotations

TYPE_CHECKING = False  # protobuf is not imported at run time: the command's start-up
if TYPE_CHECKING:
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes


class HeldAttributes:
    """A frozen value holding a key's attributes, encoded or decoded."""

    __slots__ = ("_attributes", "_encoded")
    _attributes: KeyAttributes | None
    _encoded: bytes | None

    def _hold(self, attributes: KeyAttributes | None, encoded: bytes | None, what: str) -> None:
        if (attributes is None) == (encoded is None):
            raise TypeError(f"{type(self).__name__} takes attributes or {what}")
        object.__setattr__(self, "_attributes", attributes)
        object.__setattr__(self, "_encoded", encoded)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    @property
    def attributes(self) -> KeyAttributes:
        """The key's PSA attributes (protobuf, read from the encoding on first use)."""
        if self._attributes is None:
            from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

            assert self._encoded is not None
            object.__setattr__(self, "_attributes", KeyAttributes.FromString(self._encoded))
            assert self._attributes is not None
        return self._attributes

    @property
    def encoded_attributes(self) -> bytes:
        """The attributes' protobuf encoding."""
        if self._encoded is None:
            assert self._attributes is not None
            object.__setattr__(self, "_encoded", self._attributes.SerializeToString())
            assert self._encoded is not None
        return self._encoded
