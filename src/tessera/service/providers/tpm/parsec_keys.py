"""Keys that Parsec's TPM provider made, used where they are: Parsec's storage key and the rows
that name its children (no `tpm2-pytss` here).

Parsec's TPM keys are children of its own storage key ("root key"), a primary key of the owner
hierarchy that Parsec re-creates at every start and never stores. Its template (tss-esapi's
TransientKeyContext, Parsec 1.x with tss-esapi 7.1 to 7.7): RSA 2048, exponent 0 (65537),
restricted decryption, name algorithm SHA-256, object attributes fixedTPM, fixedParent,
sensitiveDataOrigin and userWithAuth, no auth policy, empty unique, and as the symmetric algorithm
for its children AES-256-CFB where TPM2_TestParms accepts it, else AES-128-CFB. A primary is derived
from the hierarchy's seed and its template only (not its auth value), so creating it again from
this template gives the same key, under which Parsec's children load; its auth value is Tessera's
choice (empty, as Tessera's own storage key).

Each child has its own random auth value (32 bytes), which Parsec kept in plaintext in its key-info
store. Tessera keeps it only sealed by the key-encryption key, in the key's row:

    03 || parent (1 byte) || TPM2B_PUBLIC || TPM2B_PRIVATE || KEK-sealed auth value

(the TPM2Bs marshalled, each with its 2-byte big-endian size, so they delimit themselves).

The sealed auth is bound (AEAD associated data) to the row's owner, provider, name and attributes
and to the parent and both blobs, so it opens for this row and these blobs only.
"""

from __future__ import annotations

import enum
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from tessera.service.config import ConfigError
from tessera.service.keystore import Owner
from tessera.service.keystore.kek import KEK_FILE_NAME, KeyEncryptionKey, load_or_create_file_kek
from tessera.service.providers.tpm.caps import WrappedKey
from tessera.wire.status import Status, StatusError

PARSEC = 3  # the material tag of a re-attached Parsec key
MAX_AUTH = 64  # TPM2B_AUTH holds at most the largest digest
_BINDING_LABEL = b"tessera tpm parsec auth v1"

# TPM 2.0 constants (Part 2: Structures).
_ALG_RSA = 0x0001
_ALG_AES = 0x0006
_ALG_SHA256 = 0x000B
_ALG_NULL = 0x0010
_ALG_CFB = 0x0043
_FIXED_TPM = 1 << 1
_FIXED_PARENT = 1 << 4
_SENSITIVE_DATA_ORIGIN = 1 << 5
_USER_WITH_AUTH = 1 << 6
_RESTRICTED = 1 << 16
_DECRYPT = 1 << 17
_PARSEC_PRIMARY_ATTRIBUTES = (
    _FIXED_TPM | _FIXED_PARENT | _SENSITIVE_DATA_ORIGIN | _USER_WITH_AUTH | _RESTRICTED | _DECRYPT
)


class ParsecParent(enum.IntEnum):
    """The two templates Parsec's storage key can have, in the order Parsec tries them."""

    AES_256_CFB = 1
    AES_128_CFB = 2

    @property
    def aes_bits(self) -> int:
        """The AES key size that protects the children."""
        return 256 if self is ParsecParent.AES_256_CFB else 128

    @property
    def label(self) -> str:
        """For people: "AES-256-CFB"."""
        return f"AES-{self.aes_bits}-CFB"


def sized(data: bytes) -> bytes:
    """A TPM2B: a 2-byte big-endian size, then the bytes."""
    if len(data) > 0xFFFF:
        raise ValueError("too large for a TPM2B")
    return struct.pack(">H", len(data)) + data


def parent_template(parent: ParsecParent) -> bytes:
    """Parsec's storage key's template, a marshalled TPM2B_PUBLIC."""
    area = struct.pack(">HHI", _ALG_RSA, _ALG_SHA256, _PARSEC_PRIMARY_ATTRIBUTES)
    area += sized(b"")  # no auth policy
    area += struct.pack(">HHH", _ALG_AES, parent.aes_bits, _ALG_CFB)  # children's protection
    area += struct.pack(">HHI", _ALG_NULL, 2048, 0)  # no scheme (restricted), 2048 bits, 65537
    area += sized(b"")  # empty unique
    return sized(area)


@dataclass(frozen=True, slots=True)
class RowRef:
    """Which row a sealed auth value belongs to: owner, provider, key name, stored attributes."""

    owner: Owner
    provider_id: int
    name: str
    attributes: bytes


def binding(row: RowRef, key: WrappedKey) -> bytes:
    """The associated data that ties a sealed auth value to its row and its blobs."""
    parts = [
        _BINDING_LABEL,
        row.owner.name.encode("utf-8", "surrogatepass"),
        struct.pack(">I", row.owner.auth_type),
        struct.pack(">I", row.provider_id),
        row.name.encode("utf-8", "surrogatepass"),
        row.attributes,
        bytes([key.parent]),
        key.public,
        key.private,
    ]
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


def encode_parsec(kek: KeyEncryptionKey, row: RowRef, key: WrappedKey) -> bytes:
    """The row material of a re-attached Parsec key, its auth value sealed."""
    if not key.parent or not key.private or len(key.auth) > MAX_AUTH:
        raise ValueError("not a Parsec key pair")
    for blob in (key.public, key.private):  # each must be one whole TPM2B
        if len(blob) < 2 or int.from_bytes(blob[:2], "big") != len(blob) - 2:
            raise ValueError("not a marshalled TPM2B")
    sealed = kek.wrap(key.auth, binding(row, key))
    return bytes([PARSEC, key.parent]) + key.public + key.private + sealed


def split_parsec(material: bytes) -> tuple[WrappedKey, bytes]:
    """(the key without its auth value, the sealed auth value) of a PARSEC row's material."""
    try:
        if material[0] != PARSEC:
            raise ValueError("not a Parsec key row")
        parent = ParsecParent(material[1])
        public, offset = _tpm2b(material, 2)
        private, offset = _tpm2b(material, offset)
    except (IndexError, ValueError, struct.error):
        raise StatusError(
            Status.PSA_ERROR_DATA_CORRUPT, "the key's stored material is malformed"
        ) from None
    sealed = material[offset:]
    if not sealed or len(private) <= 2 or len(public) <= 2:
        raise StatusError(Status.PSA_ERROR_DATA_CORRUPT, "the key's stored material is malformed")
    return WrappedKey(public, private, int(parent)), sealed


def _tpm2b(data: bytes, offset: int) -> tuple[bytes, int]:
    """A marshalled TPM2B at `offset`, with its size prefix; and where it ends."""
    (size,) = struct.unpack_from(">H", data, offset)
    end = offset + 2 + size
    if end > len(data):
        raise ValueError("truncated")
    return data[offset:end], end


class AuthKeeper:
    """Opens sealed auth values with the key-encryption key, read from the state directory on
    first need (a TPM provider without re-attached Parsec keys never touches it)."""

    def __init__(self, state_dir: Path) -> None:
        self._state_dir = state_dir
        self._lock = threading.Lock()
        self._kek: KeyEncryptionKey | None = None

    def _key(self) -> KeyEncryptionKey:
        with self._lock:
            if self._kek is None:
                path = self._state_dir / KEK_FILE_NAME
                if not path.exists():  # never make one here: it could not open any row
                    raise StatusError(
                        Status.PSA_ERROR_DATA_CORRUPT,
                        f"the key-encryption key {path} is missing: a re-attached Parsec key "
                        "cannot be used without it",
                    )
                try:
                    self._kek, _ = load_or_create_file_kek(self._state_dir)
                except ConfigError as error:  # a file with a wrong mode or size
                    raise StatusError(Status.PSA_ERROR_STORAGE_FAILURE, str(error)) from None
            return self._kek

    def open(self, row: RowRef, key: WrappedKey, sealed: bytes) -> bytes:
        """The auth value (PsaErrorDataCorrupt if the row or its blobs were altered)."""
        return self._key().unwrap(sealed, binding(row, key))
