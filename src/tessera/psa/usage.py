"""PSA key usage flags and the check every operation makes against them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

from tessera.wire.proto import psa_key_attributes_pb2
from tessera.wire.status import Status, StatusError


class Usage(enum.Enum):
    """One usage flag (the protobuf field name)."""

    # Members are singletons compared by identity: hash them so too (Enum's own hash is a
    # Python-level call on the name, paid by every set and dict lookup on the request path).
    __hash__ = object.__hash__

    EXPORT = "export"
    COPY = "copy"
    CACHE = "cache"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    SIGN_MESSAGE = "sign_message"
    VERIFY_MESSAGE = "verify_message"
    SIGN_HASH = "sign_hash"
    VERIFY_HASH = "verify_hash"
    DERIVE = "derive"


@dataclass(frozen=True, slots=True)
class UsageFlags:
    """The usage flags of a key policy."""

    export: bool = False
    copy: bool = False
    cache: bool = False
    encrypt: bool = False
    decrypt: bool = False
    sign_message: bool = False
    verify_message: bool = False
    sign_hash: bool = False
    verify_hash: bool = False
    derive: bool = False

    @classmethod
    def from_proto(cls, pb: psa_key_attributes_pb2.UsageFlags) -> UsageFlags:
        """The typed flags of a protobuf message."""
        return cls(**{f.name: bool(getattr(pb, f.name)) for f in fields(cls)})

    def allows(self, usage: Usage) -> bool:
        """True when the flag is set, or implied.

        PSA Crypto 1.0 makes SIGN_HASH imply SIGN_MESSAGE and VERIFY_HASH imply VERIFY_MESSAGE
        (psa_set_key_usage_flags sets them), so a key made for hashes also signs messages.
        """
        if usage is Usage.SIGN_MESSAGE and self.sign_hash:
            return True
        if usage is Usage.VERIFY_MESSAGE and self.verify_hash:
            return True
        return bool(getattr(self, usage.value))

    def require(self, usage: Usage) -> None:
        """PsaErrorNotPermitted unless `usage` is allowed."""
        if not self.allows(usage):
            raise StatusError(
                Status.PSA_ERROR_NOT_PERMITTED, f"the key's policy lacks the {usage.value} flag"
            )

    @property
    def any_use(self) -> bool:
        """True when at least one cryptographic use (not export/copy/cache) is allowed."""
        return any(
            self.allows(u) for u in Usage if u not in (Usage.EXPORT, Usage.COPY, Usage.CACHE)
        )
