"""The few DER encoders a certificate request needs, against X.690 examples and cryptography."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tessera.client import _der


@pytest.mark.parametrize(
    ("size", "encoded"),
    [
        (0, "00"),
        (0x7F, "7f"),
        (0x80, "8180"),
        (0xFF, "81ff"),
        (0x100, "820100"),
        (0x10000, "83010000"),
    ],
)
def test_length(size: int, encoded: str) -> None:
    assert _der.length(size).hex() == encoded


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "020100"),
        (1, "020101"),
        (127, "02017f"),
        (128, "02020080"),  # a leading zero keeps it positive
        (255, "020200ff"),
        (256, "02020100"),
        (32, "020120"),
        (65537, "0203010001"),
    ],
)
def test_integer(value: int, encoded: str) -> None:
    assert _der.integer(value).hex() == encoded


def test_negative_integers_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        _der.integer(-1)


@pytest.mark.parametrize(
    ("dotted", "encoded"),
    [
        ("1.2.840.113549", "06062a864886f70d"),  # X.690's own example
        ("2.999.3", "0603883703"),  # X.690 8.19.5: the first two arcs need two bytes
        ("1.2.840.10045.4.3.2", "06082a8648ce3d040302"),  # ecdsa-with-SHA256
        ("1.3.101.112", "06032b6570"),  # Ed25519
        ("2.5.4.3", "0603550403"),  # commonName
        ("0.0", "060100"),
    ],
)
def test_oid(dotted: str, encoded: str) -> None:
    assert _der.oid(dotted).hex() == encoded


@pytest.mark.parametrize("dotted", ["1", "3.1", "1.40", "0.99", "1.-2.3"])
def test_invalid_oids_are_refused(dotted: str) -> None:
    with pytest.raises(ValueError, match="object identifier"):
        _der.oid(dotted)


def test_oid_matches_cryptography_encoding() -> None:
    # cryptography writes the OID inside a Name: the same TLV must appear there.
    custom = "1.3.6.1.4.1.99999.1"
    name = x509.Name([x509.NameAttribute(x509.ObjectIdentifier(custom), "v")])
    assert _der.oid(custom) in name.public_bytes()
    cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "v")])
    assert _der.oid("2.5.4.3") in cn.public_bytes()


def test_constructed_and_primitive_elements() -> None:
    assert _der.sequence().hex() == "3000"
    assert _der.sequence(_der.NULL, _der.integer(5)).hex() == "3005" + "0500" + "020105"
    assert _der.bit_string(b"\xab").hex() == "030200ab"
    assert _der.explicit(0, b"").hex() == "a000"
    assert _der.explicit(2, _der.integer(32)).hex() == "a203020120"
    long_content = b"\x00" * 200
    assert _der.tlv(0x04, long_content)[:3].hex() == "0481c8"
