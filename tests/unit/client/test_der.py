"""The few DER encoders a certificate request needs, against X.690 examples and cryptography."""

from __future__ import annotations

import random

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


def _cryptographys_reading(data: bytes) -> tuple[int, int] | None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        return decode_dss_signature(data)
    except ValueError:
        return None


def _ours(data: bytes) -> tuple[int, int] | None:
    try:
        return _der.ecdsa_signature(data)
    except ValueError:
        return None


def _signatures(rng: random.Random) -> list[bytes]:
    """DER signatures over the sizes that occur (and edges: zero, high bits, long lengths)."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    values = [0, 1, 0x7F, 0x80, 0xFF, 2**255, 2**256 - 1, 2**520, 2**4000]
    values += [rng.getrandbits(rng.choice([8, 255, 256, 384, 521, 1100])) for _ in range(20)]
    return [encode_dss_signature(rng.choice(values), rng.choice(values)) for _ in range(40)]


def _damaged(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(out) + 1)
        action = rng.choice(["flip", "insert", "delete", "cut", "append"])
        if action == "flip" and out:
            out[min(at, len(out) - 1)] = rng.choice([0x00, 0x02, 0x30, 0x7F, 0x80, 0x81, 0xFF])
        elif action in {"flip", "insert"}:
            out[at:at] = bytes([rng.randrange(256)])
        elif action == "delete" and out:
            del out[min(at, len(out) - 1)]
        elif action == "cut":
            del out[at:]
        else:
            out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
    return bytes(out)


@pytest.mark.parametrize("seed", range(10))
def test_ecdsa_signatures_are_read_as_cryptography_reads_them(seed: int) -> None:
    """What `tessera verify` turns from DER into r || s: the same values where cryptography
    reads a signature, a refusal where it does not (then the bytes go to the service as
    given)."""
    rng = random.Random(f"der {seed}")
    for signature in _signatures(rng):
        assert _ours(signature) == _cryptographys_reading(signature) is not None
        for _ in range(100):
            damaged = _damaged(signature, rng)
            assert _ours(damaged) == _cryptographys_reading(damaged), damaged.hex()


@pytest.mark.parametrize(
    "hex_data",
    [
        "",
        "30",
        "3000",
        "3003020101",  # one integer
        "300602010102010100",  # data after the integers (in the sequence's length)
        "30060201010201010000",  # data after the sequence
        "3080020101020101" + "0000",  # indefinite length
        "308106020101020101",  # a long-form length that fits the short form
        "30820006020101020101",
        "3006020200010201ff",  # a non-minimal integer, then a negative one
        "30060201ff020101",  # a negative integer
        "3005020002010101",  # an empty integer
        "31060201010201 01".replace(" ", ""),  # a SET, not a SEQUENCE
        "300603010102010101",  # a BIT STRING where an integer goes
        "3084000000060201010201 01".replace(" ", ""),  # four length bytes, not minimal
    ],
)
def test_malformed_signatures_are_refused_as_cryptography_refuses_them(hex_data: str) -> None:
    data = bytes.fromhex(hex_data)
    assert _cryptographys_reading(data) is None
    with pytest.raises(ValueError):
        _der.ecdsa_signature(data)


def test_a_long_form_length_is_read() -> None:
    r, s = 2**1100 - 1, 3
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    data = encode_dss_signature(r, s)
    assert data[1] == 0x81 and _der.ecdsa_signature(data) == (r, s)
