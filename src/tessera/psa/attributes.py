"""PSA key attributes: type, size and policy, parsed once into a typed value."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.psa.algorithms import Algorithm, parse_algorithm, permits
from tessera.psa.key_types import KeyType, parse_key_type
from tessera.psa.usage import Usage, UsageFlags
from tessera.wire.proto import psa_key_attributes_pb2
from tessera.wire.status import Status, StatusError


@dataclass(frozen=True, slots=True)
class KeyAttributes:
    """A key's type, size in bits (0 = "take it from the data" on import) and policy."""

    key_type: KeyType
    bits: int
    usage: UsageFlags
    algorithm: Algorithm

    def require(self, usage: Usage, algorithm: Algorithm) -> None:
        """PsaErrorNotPermitted unless the policy allows this use with this algorithm."""
        self.usage.require(usage)
        if not permits(self.algorithm, algorithm):
            raise StatusError(
                Status.PSA_ERROR_NOT_PERMITTED, "the key's policy does not permit this algorithm"
            )


def parse_attributes(pb: psa_key_attributes_pb2.KeyAttributes) -> KeyAttributes:
    """Typed attributes; invalid types or algorithms are PsaErrorInvalidArgument."""
    if not pb.HasField("key_type"):
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "no key type given")
    policy = pb.key_policy
    return KeyAttributes(
        key_type=parse_key_type(pb.key_type),
        bits=pb.key_bits,
        usage=UsageFlags.from_proto(policy.key_usage_flags),
        algorithm=parse_algorithm(policy.key_algorithm),
    )


def decode_attributes(data: bytes) -> psa_key_attributes_pb2.KeyAttributes:
    """Stored attribute bytes back into their protobuf message."""
    pb = psa_key_attributes_pb2.KeyAttributes()
    pb.ParseFromString(data)
    return pb


def encode_attributes(pb: psa_key_attributes_pb2.KeyAttributes, bits: int) -> bytes:
    """The bytes stored for a key: the caller's attributes with the actual size filled in.

    Serialised deterministically because they are bound into the key's encryption.
    """
    stored = psa_key_attributes_pb2.KeyAttributes()
    stored.CopyFrom(pb)
    stored.key_bits = bits
    return stored.SerializeToString(deterministic=True)
