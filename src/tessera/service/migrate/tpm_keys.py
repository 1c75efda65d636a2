"""Re-attaching Parsec's TPM keys: a row of Tessera's TPM provider naming the key Parsec made.

A TPM key cannot change parent, so the key stays a child of Parsec's storage key, which Tessera's
TPM provider re-creates from Parsec's template when the key is used (`providers.tpm.parsec_keys`).
The row holds the key's TPM2B_PUBLIC (rebuilt as tss-esapi builds it, `parsec_tpm`) and
TPM2B_PRIVATE, which template of Parsec's storage key it loads under (found by loading it here:
a key of another TPM, or of a cleared owner hierarchy, fails), and its auth value sealed by
Tessera's key-encryption key. A public key Parsec imported becomes an imported public key.

Nothing in the TPM changes and nothing stays loaded; Parsec's store is only read. From then on the
key is Tessera's: retire Parsec (it would still use the same key under the same auth value).

Parsec 1.4 and later also record the name of their storage key, under their internal identity:
that record is no key; it is checked against the storage key this TPM derives.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.psa.algorithms import Hash
from tessera.psa.attributes import KeyAttributes, encode_attributes, parse_attributes
from tessera.psa.formats import encode_key, import_key
from tessera.psa.key_types import KeyKind
from tessera.service.config import ConfigError, ServiceConfig
from tessera.service.keystore import KeyRecord, KeyStore, Owner
from tessera.service.keystore.kek import KeyEncryptionKey
from tessera.service.migrate.errors import FormatError
from tessera.service.migrate.parsec_attributes import Reader, decode_attributes
from tessera.service.migrate.parsec_kim import ParsecKey, ParsecProvider
from tessera.service.migrate.parsec_tpm import (
    ParsecTpmKey,
    checked_bits,
    child_public,
    decode_context,
    private_blob,
)
from tessera.service.providers.tpm import checks
from tessera.service.providers.tpm.caps import WrappedKey
from tessera.service.providers.tpm.config import TpmSettings
from tessera.service.providers.tpm.context import decode_material, encode_public
from tessera.service.providers.tpm.parsec_keys import (
    ParsecParent,
    RowRef,
    binding,
    encode_parsec,
)
from tessera.wire.status import Status, StatusError

if TYPE_CHECKING:  # tpm2-pytss loads only when a TPM key is met
    from tessera.service.providers.tpm._parsec import ParsecKeyCheck

#: Parsec 1.4+'s record of its storage key's name: (application, authenticator id, key name).
ROOT_RECORD = ("parsec", 255, "RootKeyTPM")
_TESSERA_CURVES = (256, 384, 521)
_TESSERA_HASHES = (Hash.SHA_1, Hash.SHA_256, Hash.SHA_384, Hash.SHA_512)


class NotBridgedError(Exception):
    """Parsec's key is sound, but Tessera's TPM provider cannot use it (one line)."""


@dataclass
class TpmSide:
    """Tessera's first TPM provider, as the migration sees it."""

    provider_id: int
    settings: TpmSettings
    _check: ParsecKeyCheck | None = field(default=None, init=False)
    _error: str | None = field(default=None, init=False)

    @classmethod
    def of(cls, config: ServiceConfig) -> TpmSide | None:
        """The side of the configuration's first TPM provider, if it has one."""
        for entry in config.providers:
            if entry.provider_type == "tpm" and isinstance(entry.settings, TpmSettings):
                return cls(entry.provider_id, entry.settings)
        return None

    def check(self) -> ParsecKeyCheck:
        """The TPM, opened once; the same one-line error for every key if it cannot be."""
        if self._check is None and self._error is None:
            try:
                from tessera.service.providers.tpm._parsec import ParsecKeyCheck
            except ImportError as error:
                self._error = f"tpm2-pytss is not usable ({error})"
            else:
                try:
                    self._check = ParsecKeyCheck(self.settings)
                except ConfigError as error:
                    self._error = str(error)
        if self._check is None:
            raise FormatError(self._error or "the TPM cannot be opened")
        return self._check

    def close(self) -> None:
        if self._check is not None:
            self._check.close()


def is_root_record(key: ParsecKey) -> bool:
    """Parsec's record of its storage key (not a key). The authenticator is not compared: an
    on-disk store does not record it."""
    app, _, name = ROOT_RECORD
    return key.provider is ParsecProvider.TPM and (key.app_name, key.key_name) == (app, name)


def check_root_record(key: ParsecKey, side: TpmSide | None) -> str:
    """What the record says, checked against this TPM (FormatError if it does not match)."""
    reader = Reader(key.key_id, "the storage key record")
    recorded = reader.byte_vector()
    reader.finish()
    if side is None:
        return "the name of Parsec's TPM storage key; nothing to migrate"
    parent = side.check().root_names().get(recorded)
    if parent is None:
        raise FormatError(
            "Parsec's storage key is not the one this TPM derives from Parsec's template (another "
            "TPM, or its owner hierarchy was cleared): Parsec's TPM keys cannot load here"
        )
    return f"the name of Parsec's TPM storage key, which Tessera re-creates ({parent.label})"


@dataclass(frozen=True, slots=True)
class Attached:
    """What re-attaching one key found: the row it needs (but for the sealed auth value) and,
    if one exists, the row there."""

    owner: Owner
    provider_id: int
    name: str
    row_attributes: bytes
    attributes: KeyAttributes  # with the size filled in
    wrapped: WrappedKey | None  # a key pair, with its auth value
    public_data: bytes  # an imported public key's PSA data
    existing: KeyRecord | None

    @property
    def row(self) -> RowRef:
        """The row this key would have."""
        return RowRef(self.owner, self.provider_id, self.name, self.row_attributes)

    @property
    def parent(self) -> ParsecParent | None:
        """The template of Parsec's storage key this key pair loads under."""
        return ParsecParent(self.wrapped.parent) if self.wrapped is not None else None

    def record(self, kek: KeyEncryptionKey) -> KeyRecord:
        """The row to insert (the auth value sealed now: every seal is a fresh nonce)."""
        if self.wrapped is None:
            material = encode_public(self.public_data)
        else:
            material = encode_parsec(kek, self.row, self.wrapped)
        return KeyRecord(self.owner, self.provider_id, self.name, self.row_attributes, material)


def plan(key: ParsecKey, owner: Owner, side: TpmSide, keystore: KeyStore | None) -> Attached:
    """Check Parsec's context against its record and the TPM; what the row would hold.

    FormatError or StatusError (one line) when they do not match or cannot be read;
    NotBridgedError when Tessera's TPM provider could not use the key.
    """
    context = decode_context(key.key_id)
    requested = decode_attributes(key.attributes)
    attributes = parse_attributes(requested)
    bits = checked_bits(context, attributes)
    sized = KeyAttributes(attributes.key_type, bits, attributes.usage, attributes.algorithm)
    wrapped, data = None, b""
    if context.is_key_pair:
        _check_usable(sized)
        public, private = child_public(context, attributes, bits), private_blob(context)
        parent = side.check().parent_of(public, private)
        if parent is None:
            raise FormatError(
                "the key does not load under Parsec's storage key on this TPM (the key of "
                "another TPM, or its owner hierarchy was cleared since)"
            )
        wrapped = WrappedKey(public, private, int(parent), context.auth)
    else:
        bits, data = import_key(sized.key_type, bits, _psa_public(context, sized))
        try:
            checks.check_importable(sized)
        except StatusError as error:
            raise NotBridgedError(f"Tessera's TPM provider: {error}") from None
    row_attributes = encode_attributes(requested, bits)
    existing = _existing(keystore, owner, side.provider_id, key.key_name)
    return Attached(
        owner, side.provider_id, key.key_name, row_attributes, sized, wrapped, data, existing
    )


def _check_usable(attributes: KeyAttributes) -> None:
    if attributes.key_type.kind is KeyKind.ECC_KEY_PAIR and attributes.bits not in _TESSERA_CURVES:
        raise NotBridgedError(
            "Tessera's TPM provider uses SECP_R1 keys of 256, 384 and 521 bits, not "
            f"{attributes.bits}"
        )
    hash_alg = getattr(attributes.algorithm, "hash", None)
    if hash_alg is not None and hash_alg not in _TESSERA_HASHES:
        raise NotBridgedError(f"Tessera's TPM provider does not use {hash_alg.name} with the TPM")


def _psa_public(context: ParsecTpmKey, attributes: KeyAttributes) -> bytes:
    """An imported public key in PSA format (Parsec recorded no exponent: it uses 65537)."""
    if context.modulus is not None:
        numbers = rsa.RSAPublicNumbers(65537, int.from_bytes(context.modulus, "big"))
        return encode_key(numbers.public_key(), attributes.bits)
    assert context.point is not None
    size = (attributes.bits + 7) // 8
    return b"\x04" + b"".join(c.rjust(size, b"\x00") for c in context.point)


def _existing(
    keystore: KeyStore | None, owner: Owner, provider_id: int, name: str
) -> KeyRecord | None:
    if keystore is None:
        return None
    try:
        return keystore.get(owner, provider_id, name)
    except StatusError as error:
        if error.status is Status.PSA_ERROR_DOES_NOT_EXIST:
            return None
        raise


def same_key(attached: Attached, kek: KeyEncryptionKey | None) -> bool:
    """The row there is the one this key needs (a second run): same attributes, same blobs,
    and an auth value that opens to the same bytes."""
    existing = attached.existing
    if existing is None or existing.attributes != attached.row_attributes:
        return False
    if attached.wrapped is None:
        return existing.material == encode_public(attached.public_data)
    try:
        held, sealed = decode_material(existing.material)
    except StatusError:
        return False
    ours = attached.wrapped
    if held is None or (held.public, held.private, held.parent) != (
        ours.public,
        ours.private,
        ours.parent,
    ):
        return False
    if kek is None:
        return False
    try:
        return hmac.compare_digest(kek.unwrap(sealed, binding(attached.row, held)), ours.auth)
    except StatusError:
        return False
