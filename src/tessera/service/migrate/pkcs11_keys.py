"""Re-attaching Parsec's PKCS#11 keys: a row of Tessera's PKCS#11 provider naming Parsec's objects.

Parsec's PKCS#11 provider names a key's token objects by a 4-byte CKA_ID, its u32 key id
big-endian (a key pair: a private and a public object; an imported public key: a public
object). The key stays where it is: the row's material is that CKA_ID, which Tessera's PKCS#11
provider accepts beside its own 16-byte ids, and its attributes are Parsec's record with the
size read from the token. Nothing is copied and nothing on the token changes; from then on
destroying the key in Tessera destroys the objects, so Parsec must be retired, not run beside.

The token is Tessera's first PKCS#11 provider's, opened (and logged in) only when a PKCS#11 key
is met; it must be the token Parsec used, and the objects are checked before a row is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tessera.psa.attributes import KeyAttributes, encode_attributes, parse_attributes
from tessera.service.config import ConfigError, ServiceConfig
from tessera.service.keystore import KeyRecord, KeyStore, Owner
from tessera.service.migrate.errors import FormatError
from tessera.service.migrate.parsec_attributes import decode_attributes, decode_u32_key_id
from tessera.service.migrate.parsec_kim import ParsecKey
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.wire.status import Status, StatusError

if TYPE_CHECKING:  # the provider (and python-pkcs11) load only when a PKCS#11 key is met
    from tessera.service.providers.pkcs11.adopt import Token

PARSEC_ID_BYTES = 4


@dataclass
class TokenSide:
    """Tessera's first PKCS#11 provider, as the migration sees it."""

    provider_id: int
    settings: Pkcs11Settings
    _token: Token | None = field(default=None, init=False)
    _error: str | None = field(default=None, init=False)

    @classmethod
    def of(cls, config: ServiceConfig) -> TokenSide | None:
        """The side of the configuration's first PKCS#11 provider, if it has one."""
        for entry in config.providers:
            if entry.provider_type == "pkcs11" and isinstance(entry.settings, Pkcs11Settings):
                return cls(entry.provider_id, entry.settings)
        return None

    def token(self) -> Token:
        """The token, logged in; the same one-line error for every key if it cannot be."""
        if self._token is None and self._error is None:
            from tessera.service.providers.pkcs11.adopt import open_token

            try:
                self._token = open_token(self.settings)
            except ConfigError as error:
                self._error = str(error)
        if self._token is None:
            raise FormatError(self._error or "the token cannot be opened")
        return self._token

    def close(self) -> None:
        if self._token is not None:
            self._token.close()


@dataclass(frozen=True, slots=True)
class Attached:
    """What re-attaching one key found: the row it needs and, if one exists, the row there."""

    record: KeyRecord
    attributes: KeyAttributes
    existing: KeyRecord | None


def parsec_object_id(key: ParsecKey) -> bytes:
    """The CKA_ID of a Parsec PKCS#11 key's objects (FormatError for a malformed key id)."""
    return decode_u32_key_id(key.key_id).to_bytes(PARSEC_ID_BYTES, "big")


def plan(key: ParsecKey, owner: Owner, side: TokenSide, keystore: KeyStore | None) -> Attached:
    """Check the token's objects against Parsec's record; the row that would name them.

    FormatError or StatusError (one line) when they do not match or cannot be read.
    """
    from tessera.service.providers.pkcs11.adopt import size_on_token

    object_id = parsec_object_id(key)
    requested = decode_attributes(key.attributes)
    attributes = parse_attributes(requested)
    bits = size_on_token(side.token(), object_id, attributes)
    sized = KeyAttributes(attributes.key_type, bits, attributes.usage, attributes.algorithm)
    row = encode_attributes(requested, bits)
    record = KeyRecord(owner, side.provider_id, key.key_name, row, object_id)
    return Attached(record, sized, _existing(keystore, record))


def _existing(keystore: KeyStore | None, record: KeyRecord) -> KeyRecord | None:
    if keystore is None:
        return None
    try:
        return keystore.get(record.owner, record.provider_id, record.name)
    except StatusError as error:
        if error.status is Status.PSA_ERROR_DOES_NOT_EXIST:
            return None
        raise


def same_key(attached: Attached) -> bool:
    """The row there is the one this key needs (a second run)."""
    existing = attached.existing
    return (
        existing is not None
        and existing.attributes == attached.record.attributes
        and existing.material == attached.record.material
    )
