"""Re-attached Parsec keys in the TPM provider's rows: Parsec's storage key template, the row
format, and the sealed auth value's binding (no TPM needed)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tessera.service.keystore import Owner
from tessera.service.keystore.kek import load_or_create_file_kek
from tessera.service.providers.tpm.caps import WrappedKey
from tessera.service.providers.tpm.context import decode_material
from tessera.service.providers.tpm.parsec_keys import (
    PARSEC,
    AuthKeeper,
    ParsecParent,
    RowRef,
    encode_parsec,
    parent_template,
    sized,
    split_parsec,
)
from tessera.wire.status import Status, StatusError

KEY = WrappedKey(sized(b"public area"), sized(b"private blob"), 1, os.urandom(32))
ROW = RowRef(Owner("alice", 1), 3, "ecc", b"attributes")

needs_pytss = pytest.mark.skipif(
    importlib.util.find_spec("tpm2_pytss") is None, reason="tpm2-pytss is not installed"
)


@needs_pytss
@pytest.mark.parametrize("parent", list(ParsecParent))
def test_parent_template_is_tss_esapis(parent: ParsecParent) -> None:
    """The template, built field by field with tpm2-pytss, marshals to the same bytes."""
    from tpm2_pytss.constants import TPM2_ALG, TPMA_OBJECT
    from tpm2_pytss.types import (
        TPM2B_PUBLIC,
        TPMS_RSA_PARMS,
        TPMT_PUBLIC,
        TPMT_RSA_SCHEME,
        TPMT_SYM_DEF_OBJECT,
        TPMU_PUBLIC_PARMS,
        TPMU_SYM_KEY_BITS,
        TPMU_SYM_MODE,
    )

    sym = TPMT_SYM_DEF_OBJECT(
        algorithm=TPM2_ALG.AES,
        keyBits=TPMU_SYM_KEY_BITS(aes=parent.aes_bits),
        mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
    )
    attrs = (
        TPMA_OBJECT.FIXEDTPM
        | TPMA_OBJECT.FIXEDPARENT
        | TPMA_OBJECT.SENSITIVEDATAORIGIN
        | TPMA_OBJECT.USERWITHAUTH
        | TPMA_OBJECT.RESTRICTED
        | TPMA_OBJECT.DECRYPT
    )
    rsa = TPMS_RSA_PARMS(
        symmetric=sym, scheme=TPMT_RSA_SCHEME(scheme=TPM2_ALG.NULL), keyBits=2048, exponent=0
    )
    area = TPMT_PUBLIC(
        type=TPM2_ALG.RSA,
        nameAlg=TPM2_ALG.SHA256,
        objectAttributes=attrs,
        parameters=TPMU_PUBLIC_PARMS(rsaDetail=rsa),
    )
    assert parent_template(parent) == bytes(TPM2B_PUBLIC(publicArea=area).marshal())


def test_row_round_trip(tmp_path: Path) -> None:
    kek, _ = load_or_create_file_kek(tmp_path)
    material = encode_parsec(kek, ROW, KEY)
    assert material[0] == PARSEC and KEY.auth not in material
    held, sealed = decode_material(material)
    assert held == WrappedKey(KEY.public, KEY.private, 1) and held.auth == b""
    assert split_parsec(material) == (held, sealed)
    assert AuthKeeper(tmp_path).open(ROW, held, sealed) == KEY.auth


@pytest.mark.parametrize(
    "row",
    [
        RowRef(Owner("mallory", 1), 3, "ecc", b"attributes"),
        RowRef(Owner("alice", 3), 3, "ecc", b"attributes"),
        RowRef(Owner("alice", 1), 4, "ecc", b"attributes"),
        RowRef(Owner("alice", 1), 3, "other", b"attributes"),
        RowRef(Owner("alice", 1), 3, "ecc", b"edited"),
    ],
)
def test_the_auth_value_opens_for_its_row_only(tmp_path: Path, row: RowRef) -> None:
    kek, _ = load_or_create_file_kek(tmp_path)
    held, sealed = split_parsec(encode_parsec(kek, ROW, KEY))
    with pytest.raises(StatusError) as caught:
        AuthKeeper(tmp_path).open(row, held, sealed)
    assert caught.value.status is Status.PSA_ERROR_DATA_CORRUPT


def test_the_auth_value_opens_for_its_blobs_only(tmp_path: Path) -> None:
    kek, _ = load_or_create_file_kek(tmp_path)
    held, sealed = split_parsec(encode_parsec(kek, ROW, KEY))
    keeper = AuthKeeper(tmp_path)
    for other in (
        WrappedKey(sized(b"another area"), held.private, 1),
        WrappedKey(held.public, held.private, 2),
    ):
        with pytest.raises(StatusError):
            keeper.open(ROW, other, sealed)


def test_a_missing_kek_is_reported_not_made(tmp_path: Path) -> None:
    kek, _ = load_or_create_file_kek(tmp_path / "old")
    held, sealed = split_parsec(encode_parsec(kek, ROW, KEY))
    with pytest.raises(StatusError) as caught:
        AuthKeeper(tmp_path / "new").open(ROW, held, sealed)
    assert "key-encryption key" in str(caught.value) and "missing" in str(caught.value)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "material",
    [
        b"\x03",
        b"\x03\x01",
        b"\x03\x09\x00\x01a\x00\x01bsealed",  # no such template
        b"\x03\x01\x00\x05abc",  # truncated public area
        b"\x03\x01\x00\x01a\x00\x01b",  # nothing sealed
        b"\x03\x01\x00\x01a\x00\x00sealed",  # no private part
    ],
)
def test_malformed_rows_are_data_corrupt(material: bytes) -> None:
    with pytest.raises(StatusError) as caught:
        decode_material(material)
    assert caught.value.status is Status.PSA_ERROR_DATA_CORRUPT


def test_only_parsec_key_pairs_are_encoded(tmp_path: Path) -> None:
    kek, _ = load_or_create_file_kek(tmp_path)
    for key in (
        WrappedKey(KEY.public, KEY.private, 0, KEY.auth),  # Tessera's own
        WrappedKey(KEY.public, b"", 1, KEY.auth),
        WrappedKey(KEY.public, KEY.private, 1, bytes(65)),
        WrappedKey(b"\x00\x09short", KEY.private, 1, KEY.auth),
    ):
        with pytest.raises(ValueError):
            encode_parsec(kek, ROW, key)
