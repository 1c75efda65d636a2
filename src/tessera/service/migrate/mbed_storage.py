"""Mbed TLS's persistent PSA keys, as Parsec's Mbed Crypto provider leaves them in its directory.

Mbed TLS (3.x, the version Parsec 1.x links) keeps each persistent key in one file of its
"ITS over stdio" backend, in the process's working directory:

- name: the 64-bit storage uid as 16 lowercase hex digits plus `.psa_its`; Parsec builds Mbed TLS
  without owner-encoded key ids, so the uid is the PSA key id (`0000000000000002.psa_its`).
- ITS header: the 8 bytes `PSA\\0ITS\\0`, the payload size (u32), the creation flags (u32).
  Writes go to `tempfile.psa_its` first and are renamed over the final name.
- payload, a key record: the 8 bytes `PSA\\0KEY\\0`, format version (u32, 0), lifetime (u32),
  key type (u16), size in bits (u16), policy: usage flags, algorithm, enrolment algorithm (u32
  each), key data length (u32), then the key data in PSA export format.

All integers are little-endian. The key data is plaintext: Mbed TLS does not encrypt it.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

from tessera.psa.key_types import DhFamily, EccFamily, KeyKind, KeyType
from tessera.service.migrate.errors import FormatError, KeyFileMissingError

ITS_MAGIC = b"PSA\x00ITS\x00"
ITS_SUFFIX = ".psa_its"
ITS_TEMPORARY = "tempfile" + ITS_SUFFIX  # present only while (or if a crash cut short) a write
KEY_MAGIC = b"PSA\x00KEY\x00"
_ITS_HEADER = struct.Struct("<8sII")
_KEY_HEADER = struct.Struct("<8sIIHHIIII")
# PSA_CRYPTO_MAX_STORAGE_SIZE is 8 KiB of key data; anything much larger is not a key file.
MAX_FILE_SIZE = 64 * 1024
_LOCAL_STORAGE = 0  # lifetime location 0: the key data itself is in the file

_PLAIN_TYPES = {
    0x1001: KeyKind.RAW_DATA,
    0x1100: KeyKind.HMAC,
    0x1200: KeyKind.DERIVE,
    0x2400: KeyKind.AES,
    0x2301: KeyKind.DES,
    0x2403: KeyKind.CAMELLIA,
    0x2002: KeyKind.ARC4,  # Mbed TLS 2.x only
    0x2004: KeyKind.CHACHA20,
    0x4001: KeyKind.RSA_PUBLIC_KEY,
    0x7001: KeyKind.RSA_KEY_PAIR,
}
_FAMILY_BASES = {
    0x4100: KeyKind.ECC_PUBLIC_KEY,
    0x7100: KeyKind.ECC_KEY_PAIR,
    0x4200: KeyKind.DH_PUBLIC_KEY,
    0x7200: KeyKind.DH_KEY_PAIR,
}
_ECC_FAMILIES = {
    0x17: EccFamily.SECP_K1,
    0x12: EccFamily.SECP_R1,
    0x1B: EccFamily.SECP_R2,
    0x27: EccFamily.SECT_K1,
    0x22: EccFamily.SECT_R1,
    0x2B: EccFamily.SECT_R2,
    0x30: EccFamily.BRAINPOOL_P_R1,
    0x41: EccFamily.MONTGOMERY,
    0x42: EccFamily.TWISTED_EDWARDS,
}
_DH_FAMILIES = {0x03: DhFamily.RFC7919}


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One key record: what Mbed TLS enforced for the key, and its plaintext data."""

    lifetime: int
    type_code: int
    bits: int
    usage: int
    algorithm: int
    algorithm2: int
    data: bytes = field(repr=False)

    @property
    def key_type(self) -> KeyType:
        """The PSA key type (FormatError for a type Tessera does not name)."""
        return key_type_from_code(self.type_code)


def its_file_name(uid: int) -> str:
    """The file name the ITS backend uses for a storage uid."""
    if not 0 <= uid < 1 << 64:
        raise FormatError(f"{uid} is not a storage uid")
    return f"{uid >> 32:08x}{uid & 0xFFFFFFFF:08x}{ITS_SUFFIX}"


def key_type_from_code(code: int) -> KeyType:
    """A PSA key type from its 16-bit encoding."""
    if code in _PLAIN_TYPES:
        return KeyType(_PLAIN_TYPES[code])
    kind = _FAMILY_BASES.get(code & 0xFF00)
    family: EccFamily | DhFamily | None = None
    if kind in (KeyKind.ECC_PUBLIC_KEY, KeyKind.ECC_KEY_PAIR):
        family = _ECC_FAMILIES.get(code & 0xFF)
    elif kind is not None:
        family = _DH_FAMILIES.get(code & 0xFF)
    if kind is None or family is None:
        raise FormatError(f"unknown PSA key type 0x{code:04x}")
    return KeyType(kind, family)


def parse_its(blob: bytes) -> bytes:
    """The payload of an ITS file: its header checked, and its length exact."""
    if len(blob) < _ITS_HEADER.size:
        raise FormatError("the key file is truncated (no complete ITS header)")
    magic, size, _flags = _ITS_HEADER.unpack_from(blob)
    if magic != ITS_MAGIC:
        raise FormatError("the key file is not a PSA ITS file (bad magic)")
    payload = blob[_ITS_HEADER.size :]
    if len(payload) < size:
        raise FormatError(f"the key file is truncated ({len(payload)} of {size} bytes)")
    if len(payload) > size:
        raise FormatError(f"the key file has {len(payload) - size} bytes past its recorded size")
    return payload


def parse_key_record(payload: bytes) -> StoredKey:
    """A persistent key record (the ITS payload)."""
    if len(payload) < _KEY_HEADER.size:
        raise FormatError("the key record is truncated (no complete header)")
    fields = _KEY_HEADER.unpack_from(payload)
    magic, version, lifetime, type_code, bits, usage, alg, alg2, length = fields
    if magic != KEY_MAGIC:
        raise FormatError("the file holds no PSA key record (bad magic)")
    if version != 0:
        raise FormatError(f"unknown key record format version {version}")
    data = payload[_KEY_HEADER.size :]
    if len(data) != length:
        raise FormatError(f"the key record says {length} bytes of key data but holds {len(data)}")
    if not length:
        raise FormatError("the key record holds no key data")
    if (lifetime >> 8) != _LOCAL_STORAGE:
        raise FormatError(
            f"the key's lifetime 0x{lifetime:08x} places it in a secure element: "
            "the file holds no key material"
        )
    return StoredKey(lifetime, type_code, bits, usage, alg, alg2, data)


def read_key(directory: Path, key_id: int) -> tuple[Path, StoredKey]:
    """The file of PSA key `key_id` in `directory`, and its parsed record."""
    path = directory / its_file_name(key_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise KeyFileMissingError(f"its key file {path.name} is missing") from None
    except OSError as error:
        raise FormatError(f"cannot open its key file {path.name}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FormatError(f"{path.name} is not a regular file")
        if info.st_size > MAX_FILE_SIZE:
            raise FormatError(f"{path.name} is {info.st_size} bytes: too large for a key file")
        with os.fdopen(os.dup(fd), "rb") as file:
            blob = file.read(MAX_FILE_SIZE + 1)
    finally:
        os.close(fd)
    try:
        return path, parse_key_record(parse_its(blob))
    except FormatError as error:
        raise FormatError(f"{path.name}: {error}") from None
