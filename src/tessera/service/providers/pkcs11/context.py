"""What the PKCS#11 operation modules share: the token, the key store and the settings, and the
policy check every use of a key makes (the same helpers as the software provider's)."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.psa.algorithms import Algorithm
from tessera.psa.attributes import KeyAttributes, decode_attributes, parse_attributes
from tessera.psa.policy import check_policy
from tessera.psa.usage import Usage
from tessera.service.keystore import KeyStore, Owner
from tessera.service.providers.pkcs11._token import Token
from tessera.wire.status import Status, StatusError

#: The CKA_ID width of the keys this provider makes (random).
KEY_ID_BYTES = 16
#: The widths a row may hold: keys another service made keep their own ids (Parsec's PKCS#11
#: provider names its objects by a 4-byte key id).
KEY_ID_WIDTHS = range(1, 65)


@dataclass(frozen=True, slots=True)
class Context:
    """The provider's state, as the operation modules see it."""

    token: Token
    keystore: KeyStore
    provider_id: int
    allow_deprecated: bool
    buffer_limit: int
    software_public_operations: bool
    allow_export: bool
    # Answer CanDoCrypto as Parsec's service does (docs/compatibility.md).
    parsec_compatible: bool = False


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A key's attributes and the CKA_ID of its token objects."""

    name: str
    attributes: KeyAttributes
    key_id: bytes

    @property
    def bits(self) -> int:
        """The key's size."""
        return self.attributes.bits


def open_key(ctx: Context, owner: Owner, name: str) -> HeldKey:
    """The owner's key (PsaErrorDoesNotExist if the owner has none of that name)."""
    record = ctx.keystore.get(owner, ctx.provider_id, name)
    if len(record.material) not in KEY_ID_WIDTHS:
        raise StatusError(Status.PSA_ERROR_DATA_CORRUPT, "the key's token id is malformed")
    attributes = parse_attributes(decode_attributes(record.attributes))
    return HeldKey(name, attributes, record.material)


def open_for(ctx: Context, owner: Owner, name: str, usage: Usage, alg: Algorithm) -> HeldKey:
    """Open a key and check its policy permits `usage` with `alg` (as the software provider)."""
    key = open_key(ctx, owner, name)
    check_policy(key.attributes, usage, alg, allow_deprecated=ctx.allow_deprecated)
    return key
