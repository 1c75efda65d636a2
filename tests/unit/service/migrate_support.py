"""Synthetic Parsec state for the migration tests: bincode records, Mbed TLS key files, and both
kinds of key-info store, written from the formats' descriptions (tessera.service.migrate)."""

from __future__ import annotations

import sqlite3
import struct
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.psa import formats
from tessera.service.migrate.mbed_storage import ITS_MAGIC, KEY_MAGIC, its_file_name

MBED_UUID = "1c1139dc-ad7c-47dc-ad6b-db6fdb466552"
PKCS11_UUID = "30e39502-eba6-4d60-a4af-c518b7f5e38f"
TPM_UUID = "1e4954a4-ff21-46d3-ab0c-661eeb667e1d"

FLAGS = (
    "export",
    "copy",
    "cache",
    "encrypt",
    "decrypt",
    "sign_message",
    "verify_message",
    "sign_hash",
    "verify_hash",
    "derive",
)


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


# psa-crypto enum encodings (variant indexes), as bincode writes them.
ECC_R1 = u32(10) + u32(1)  # Type::EccKeyPair { SecpR1 }
RSA_PAIR = u32(9)
RSA_PUBLIC = u32(8)
AES = u32(3)
ECDSA_SHA256 = u32(5) + u32(3) + u32(0) + u32(6)  # AsymmetricSignature::Ecdsa(Specific(Sha256))
PKCS1_SIGN_SHA256 = u32(5) + u32(0) + u32(0) + u32(6)
OAEP_SHA256 = u32(6) + u32(1) + u32(6)
GCM = u32(4) + u32(0) + u32(1)

# PSA numeric encodings, as Mbed TLS writes them in key files.
TYPE_ECC_R1_PAIR = 0x7112
TYPE_RSA_PAIR = 0x7001
TYPE_AES = 0x2400
ALG_ECDSA_SHA256 = 0x06000609
USAGE_SIGN = 0x3C00


def attributes(key_type: bytes, bits: int, flags: set[str], alg: bytes) -> bytes:
    """psa-crypto `Attributes` (lifetime Persistent) in bincode."""
    usage = bytes(1 if flag in flags else 0 for flag in FLAGS)
    return u32(1) + key_type + u64(bits) + usage + alg


def key_record(type_code: int, bits: int, data: bytes, *, lifetime: int = 1) -> bytes:
    """A persistent key record (version 0)."""
    header = struct.pack(
        "<8sIIHHIIII", KEY_MAGIC, 0, lifetime, type_code, bits, USAGE_SIGN, 0, 0, len(data)
    )
    return header + data


def its_file(payload: bytes, size: int | None = None) -> bytes:
    """An ITS file around a payload."""
    return struct.pack("<8sII", ITS_MAGIC, len(payload) if size is None else size, 0) + payload


def write_key_file(directory: Path, key_id: int, type_code: int, bits: int, data: bytes) -> Path:
    path = directory / its_file_name(key_id)
    path.write_bytes(its_file(key_record(type_code, bits, data)))
    return path


@dataclass(frozen=True)
class Row:
    """One key_mapping row."""

    app: str
    name: str
    key_id: bytes
    attributes: bytes
    uuid: str = MBED_UUID
    auth: int = 1


def write_sqlite_kim(path: Path, rows: list[Row], *, schema_version: int = 1) -> None:
    """A key-info store with Parsec's SQLite schema."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE kim_metadata (id TEXT NOT NULL, int_value INTEGER NOT NULL)")
    db.execute("INSERT INTO kim_metadata VALUES ('schema_version', ?)", (schema_version,))
    db.execute(
        "CREATE TABLE key_mapping (authenticator_id INTEGER NOT NULL, application_name TEXT NOT "
        "NULL, key_name TEXT NOT NULL, provider_uuid TEXT NOT NULL, provider_name TEXT NOT NULL,"
        " key_id BLOB NOT NULL, key_id_version INTEGER NOT NULL, key_attributes BLOB NOT NULL, "
        "key_attributes_version INTEGER NOT NULL, PRIMARY KEY (authenticator_id, "
        "application_name, key_name))"
    )
    for row in rows:
        db.execute(
            "INSERT INTO key_mapping VALUES (?, ?, ?, ?, ?, ?, 1, ?, 1)",
            (row.auth, row.app, row.name, row.uuid, "provider", row.key_id, row.attributes),
        )
    db.commit()
    db.close()


def write_on_disk_kim(root: Path, app: str, provider_id: int, name: str, info: bytes) -> Path:
    """One mapping file of an on-disk store."""
    folder = root / urlsafe_b64encode(app.encode()).decode() / str(provider_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / urlsafe_b64encode(name.encode()).decode()
    path.write_bytes(info)
    return path


@dataclass(frozen=True)
class Installation:
    """A small Parsec installation: one ECC, one RSA and one AES key, two applications."""

    directory: Path
    ecc: bytes
    rsa: bytes
    aes: bytes


def make_installation(directory: Path) -> Installation:
    """Key files, a config.toml and a SQLite store, as Parsec 1.1.0 would leave them."""
    directory.mkdir(parents=True, exist_ok=True)
    ecc = formats.encode_key(ec.generate_private_key(ec.SECP256R1()), 256)
    rsa_key = formats.encode_key(rsa.generate_private_key(65537, 2048), 2048)
    aes = bytes(range(32))
    write_key_file(directory, 1, TYPE_ECC_R1_PAIR, 256, ecc)
    write_key_file(directory, 2, TYPE_RSA_PAIR, 2048, rsa_key)
    write_key_file(directory, 3, TYPE_AES, 256, aes)
    sign = {"sign_hash", "verify_hash"}
    rows = [
        Row("alice", "ecc", u32(1), attributes(ECC_R1, 256, sign, ECDSA_SHA256)),
        Row("alice", "rsa", u32(2), attributes(RSA_PAIR, 2048, sign, PKCS1_SIGN_SHA256)),
        Row("bob", "ecc", u32(3), attributes(AES, 0, {"encrypt", "decrypt"}, GCM)),
    ]
    write_sqlite_kim(directory / "kim.sqlite3", rows)
    (directory / "config.toml").write_text(
        '[listener]\nsocket_path = "parsec.sock"\n\n'
        '[[key_manager]]\nname = "k"\nmanager_type = "SQLite"\nsqlite_db_path = "kim.sqlite3"\n\n'
        '[[provider]]\nprovider_type = "MbedCrypto"\nkey_info_manager = "k"\n'
    )
    return Installation(directory, ecc, rsa_key, aes)
