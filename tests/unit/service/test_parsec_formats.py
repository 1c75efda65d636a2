"""The parsers of Parsec's on-disk records: bincode key ids and attributes, Mbed TLS key files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tessera.psa.attributes import parse_attributes
from tessera.psa.key_types import EccFamily, KeyKind, KeyType
from tessera.service.migrate.errors import FormatError
from tessera.service.migrate.mbed_storage import (
    MAX_FILE_SIZE,
    its_file_name,
    key_type_from_code,
    parse_its,
    parse_key_record,
    read_key,
)
from tessera.service.migrate.parsec_attributes import decode_attributes, decode_u32_key_id
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tests.unit.service.migrate_support import (
    AES,
    ECC_R1,
    ECDSA_SHA256,
    GCM,
    OAEP_SHA256,
    RSA_PAIR,
    TYPE_ECC_R1_PAIR,
    attributes,
    its_file,
    key_record,
    u32,
    u64,
    write_key_file,
)

# Captured from Parsec 1.1.0's SQLite store (key_attributes column), for an ECC P-256 key
# generated with sign_hash/verify_hash and ECDSA(SHA-256), and an AES key imported with
# export/encrypt/decrypt, GCM and key_bits 0. Parsec's interface added the message flags.
PARSEC_ECC = bytes.fromhex(
    "010000000A0000000100000000010000000000000000000000010101010005000000030000000000000006000000"
)
PARSEC_AES = bytes.fromhex(
    "0100000003000000000000000000000001000001010000000000040000000000000001000000"
)


def test_captured_ecc_attributes() -> None:
    pb = decode_attributes(PARSEC_ECC)
    parsed = parse_attributes(pb)
    assert parsed.key_type == KeyType(KeyKind.ECC_KEY_PAIR, EccFamily.SECP_R1)
    assert parsed.bits == 256
    flags = pb.key_policy.key_usage_flags
    assert (flags.sign_hash, flags.verify_hash, flags.sign_message, flags.export) == (
        True,
        True,
        True,
        False,
    )
    sign = pb.key_policy.key_algorithm.asymmetric_signature
    assert sign.ecdsa.hash_alg.specific == Algorithm.SHA_256


def test_captured_aes_attributes() -> None:
    pb = decode_attributes(PARSEC_AES)
    assert pb.key_type.HasField("aes") and pb.key_bits == 0
    assert pb.key_policy.key_usage_flags.export and pb.key_policy.key_usage_flags.decrypt
    assert pb.key_policy.key_algorithm.aead.aead_with_default_length_tag == Algorithm.Aead.GCM


@pytest.mark.parametrize(
    ("encoded", "check"),
    [
        (u32(0), lambda a: a.HasField("none")),
        (u32(1) + u32(6), lambda a: a.hash == Algorithm.SHA_256),
        (u32(2) + u32(0) + u32(0) + u32(7), lambda a: a.mac.full_length.hmac.hash_alg == 8),
        (u32(2) + u32(1) + u32(2) + u64(8), lambda a: a.mac.truncated.mac_length == 8),
        (u32(3) + u32(6), lambda a: a.cipher == Algorithm.CBC_NO_PADDING),
        (u32(4) + u32(1) + u32(0) + u64(8), lambda a: a.aead.aead_with_shortened_tag.tag_length),
        (u32(5) + u32(1), lambda a: a.asymmetric_signature.HasField("rsa_pkcs1v15_sign_raw")),
        (
            u32(5) + u32(2) + u32(1),
            lambda a: a.asymmetric_signature.rsa_pss.hash_alg.HasField("any"),
        ),
        (u32(5) + u32(4), lambda a: a.asymmetric_signature.HasField("ecdsa_any")),
        (OAEP_SHA256, lambda a: a.asymmetric_encryption.rsa_oaep.hash_alg == Algorithm.SHA_256),
        (u32(6) + u32(0), lambda a: a.asymmetric_encryption.HasField("rsa_pkcs1v15_crypt")),
        (u32(7) + u32(0) + u32(1), lambda a: a.key_agreement.raw == 2),
        (
            u32(7) + u32(1) + u32(1) + u32(0) + u32(6),
            lambda a: a.key_agreement.with_key_derivation.kdf_alg.hkdf.hash_alg == 7,
        ),
        (u32(8) + u32(2) + u32(7), lambda a: a.key_derivation.tls12_psk_to_ms.hash_alg == 8),
    ],
)
def test_algorithms(encoded: bytes, check: object) -> None:
    pb = decode_attributes(attributes(RSA_PAIR, 2048, set(), encoded))
    assert callable(check) and check(pb.key_policy.key_algorithm)


def test_key_types_and_lifetimes() -> None:
    dh = decode_attributes(attributes(u32(13) + u32(0), 2048, set(), GCM))
    assert dh.key_type.HasField("dh_public_key") and dh.key_type.dh_public_key.group_family == 0
    custom = u32(2) + u32(0x80) + AES + u64(128) + bytes(10) + GCM
    assert decode_attributes(custom).key_bits == 128


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (attributes(ECC_R1, 256, set(), ECDSA_SHA256)[:-1], "truncated"),
        (attributes(ECC_R1, 256, set(), ECDSA_SHA256) + b"\x00", "trailing"),
        (b"", "truncated"),
        (u32(1) + u32(14), "unknown key type variant 14"),
        (u32(1) + u32(10) + u32(9), "unknown curve family variant 9"),
        (u32(1) + AES + u64(1 << 40), "impossible size"),
        (u32(1) + AES + u64(128) + b"\x02" + bytes(9) + GCM, "holds 2 where a boolean"),
        (attributes(AES, 128, set(), u32(9)), "unknown algorithm variant 9"),
        (attributes(AES, 128, set(), u32(1) + u32(15)), "unknown hash variant 15"),
        (attributes(AES, 128, set(), u32(4) + u32(1) + u32(0) + u64(1 << 33)), "impossible"),
    ],
)
def test_malformed_attributes(blob: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        decode_attributes(blob)


def test_u32_key_ids() -> None:
    assert decode_u32_key_id(u32(0x2A)) == 0x2A
    with pytest.raises(FormatError, match="truncated"):
        decode_u32_key_id(b"\x01\x00\x00")
    with pytest.raises(FormatError, match="trailing"):
        decode_u32_key_id(bytes(5))


def test_its_file_names() -> None:
    assert its_file_name(2) == "0000000000000002.psa_its"
    assert its_file_name(0x1_0000_00FF) == "00000001000000ff.psa_its"
    with pytest.raises(FormatError):
        its_file_name(-1)


def test_key_file_round_trip() -> None:
    data = bytes(range(32))
    stored = parse_key_record(parse_its(its_file(key_record(TYPE_ECC_R1_PAIR, 256, data))))
    assert stored.key_type == KeyType(KeyKind.ECC_KEY_PAIR, EccFamily.SECP_R1)
    assert (stored.bits, stored.data, stored.lifetime) == (256, data, 1)
    assert "data" not in repr(stored)  # key material never reaches a log through repr


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0x1001, KeyType(KeyKind.RAW_DATA)),
        (0x2400, KeyType(KeyKind.AES)),
        (0x4001, KeyType(KeyKind.RSA_PUBLIC_KEY)),
        (0x7117, KeyType(KeyKind.ECC_KEY_PAIR, EccFamily.SECP_K1)),
        (0x4130, KeyType(KeyKind.ECC_PUBLIC_KEY, EccFamily.BRAINPOOL_P_R1)),
        (0x7141, KeyType(KeyKind.ECC_KEY_PAIR, EccFamily.MONTGOMERY)),
        (0x7203, KeyType(KeyKind.DH_KEY_PAIR)),
    ],
)
def test_key_type_codes(code: int, expected: KeyType) -> None:
    found = key_type_from_code(code)
    assert found.kind is expected.kind
    if expected.family is not None:
        assert found.family is expected.family


@pytest.mark.parametrize("code", [0x0000, 0x7199, 0x7204, 0x3001, 0x1203])
def test_unknown_key_type_codes(code: int) -> None:
    with pytest.raises(FormatError, match=f"0x{code:04x}"):
        key_type_from_code(code)


RECORD = key_record(TYPE_ECC_R1_PAIR, 256, bytes(32))


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"PSA\x00IT", "truncated \\(no complete ITS header\\)"),
        (b"XXXXXXXX" + its_file(RECORD)[8:], "not a PSA ITS file"),
        (its_file(RECORD)[:-5], "truncated \\(63 of 68 bytes\\)"),
        (its_file(RECORD) + b"\x00", "1 bytes past its recorded size"),
        (its_file(RECORD[:20]), "no complete header"),
        (its_file(b"PSA\x00KEZ\x00" + RECORD[8:]), "no PSA key record"),
        (its_file(RECORD[:8] + u32(1) + RECORD[12:]), "format version 1"),
        (its_file(RECORD[:-1]), "says 32 bytes of key data but holds 31"),
        (its_file(key_record(0x2400, 128, b"")), "no key data"),
        (its_file(key_record(0x2400, 128, bytes(16), lifetime=0x101)), "secure element"),
    ],
)
def test_malformed_key_files(tmp_path: Path, blob: bytes, message: str) -> None:
    (tmp_path / its_file_name(7)).write_bytes(blob)
    with pytest.raises(FormatError, match=message) as raised:
        read_key(tmp_path, 7)
    assert str(raised.value).startswith("0000000000000007.psa_its: ")
    assert "\n" not in str(raised.value)


def test_read_key_refuses_what_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="missing"):
        read_key(tmp_path, 1)
    (tmp_path / its_file_name(2)).mkdir()
    with pytest.raises(FormatError, match=r"not a regular file|cannot open"):
        read_key(tmp_path, 2)
    target = write_key_file(tmp_path, 3, TYPE_ECC_R1_PAIR, 256, bytes(32))
    os.symlink(target, tmp_path / its_file_name(4))
    with pytest.raises(FormatError, match="cannot open"):
        read_key(tmp_path, 4)
    (tmp_path / its_file_name(5)).write_bytes(bytes(MAX_FILE_SIZE + 1))
    with pytest.raises(FormatError, match="too large"):
        read_key(tmp_path, 5)
    path, stored = read_key(tmp_path, 3)
    assert path.name == its_file_name(3) and stored.bits == 256
