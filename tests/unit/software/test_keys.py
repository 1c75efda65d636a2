"""Key management on the software provider: generate, import, export, destroy, storage."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from tessera.psa.dh_groups import ffdhe_prime
from tessera.service.config import ConfigError
from tessera.service.keystore import KeyStore, Owner
from tessera.service.providers.software import SoftwareProvider
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
)
from tessera.wire.status import Status

from .builders import A, attributes, expect_status, sign_policy
from .conftest import APP, OTHER_APP, make_provider

DER = serialization.Encoding.DER


def generate(p: SoftwareProvider, name: str, attrs: psa_key_attributes_pb2.KeyAttributes) -> None:
    p.call(
        contracts.PSA_GENERATE_KEY,
        APP,
        psa_generate_key_pb2.Operation(key_name=name, attributes=attrs),
    )


def import_(
    p: SoftwareProvider,
    name: str,
    attrs: psa_key_attributes_pb2.KeyAttributes,
    data: bytes,
    ctx: object = APP,
) -> None:
    op = psa_import_key_pb2.Operation(key_name=name, attributes=attrs, data=data)
    p.call(contracts.PSA_IMPORT_KEY, ctx, op)  # type: ignore[arg-type]


def export(p: SoftwareProvider, name: str, ctx: object = APP) -> bytes:
    result = p.call(contracts.PSA_EXPORT_KEY, ctx, psa_export_key_pb2.Operation(key_name=name))  # type: ignore[arg-type]
    return result.data


def export_public(p: SoftwareProvider, name: str) -> bytes:
    return p.call(
        contracts.PSA_EXPORT_PUBLIC_KEY, APP, psa_export_public_key_pb2.Operation(key_name=name)
    ).data


RSA_KEY = rsa.generate_private_key(65537, 2048)
RSA_DER = RSA_KEY.private_bytes(
    DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
)
RSA_PUBLIC_DER = RSA_KEY.public_key().public_bytes(DER, serialization.PublicFormat.PKCS1)


@pytest.mark.parametrize(
    ("kind", "bits", "family"),
    [
        ("aes", 128, None),
        ("aes", 192, None),
        ("aes", 256, None),
        ("chacha20", 256, None),
        ("hmac", 256, None),
        ("hmac", 1024, None),
        ("raw_data", 8, None),
        ("ecc_key_pair", 256, psa_key_attributes_pb2.KeyType.SECP_R1),
        ("ecc_key_pair", 384, psa_key_attributes_pb2.KeyType.SECP_R1),
        ("ecc_key_pair", 521, psa_key_attributes_pb2.KeyType.SECP_R1),
        ("ecc_key_pair", 256, psa_key_attributes_pb2.KeyType.SECP_K1),
        ("ecc_key_pair", 255, psa_key_attributes_pb2.KeyType.MONTGOMERY),
        ("ecc_key_pair", 448, psa_key_attributes_pb2.KeyType.MONTGOMERY),
        ("ecc_key_pair", 255, psa_key_attributes_pb2.KeyType.TWISTED_EDWARDS),
        ("ecc_key_pair", 448, psa_key_attributes_pb2.KeyType.TWISTED_EDWARDS),
        ("dh_key_pair", 2048, psa_key_attributes_pb2.KeyType.RFC7919),
        ("rsa_key_pair", 2048, None),
    ],
)
def test_generated_keys_export_in_psa_format_and_reimport(
    provider: SoftwareProvider, kind: str, bits: int, family: int | None
) -> None:
    attrs = attributes(kind, bits, family=family, export=True)
    generate(provider, "k", attrs)
    data = export(provider, "k")
    if kind in ("aes", "chacha20", "hmac", "raw_data"):
        assert len(data) == bits // 8
    # What we export, we import back unchanged (the formats are one and the same).
    import_(provider, "again", attributes(kind, 0, family=family, export=True), data)
    assert export(provider, "again") == data
    if kind.endswith("key_pair"):
        public = export_public(provider, "k")
        public_kind = kind.replace("key_pair", "public_key")
        import_(provider, "pub", attributes(public_kind, 0, family=family, export=True), public)
        assert export(provider, "pub") == public


def test_import_fills_in_the_size(provider: SoftwareProvider, tmp_path: Path) -> None:
    import_(provider, "r", attributes("rsa_key_pair", 0), RSA_DER)
    record = provider.keystore.get(Owner("app", 1), 1, "r")
    stored = psa_key_attributes_pb2.KeyAttributes()
    stored.ParseFromString(record.attributes)
    assert stored.key_bits == 2048


@pytest.mark.parametrize(
    ("kind", "family", "data", "status"),
    [
        # SubjectPublicKeyInfo and PKCS#8 are not the PSA formats.
        (
            "rsa_public_key",
            None,
            RSA_KEY.public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo),
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        (
            "rsa_key_pair",
            None,
            RSA_KEY.private_bytes(
                DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        ("rsa_key_pair", None, RSA_DER[:-1], Status.PSA_ERROR_INVALID_ARGUMENT),
        ("aes", None, bytes(15), Status.PSA_ERROR_INVALID_ARGUMENT),
        ("chacha20", None, bytes(16), Status.PSA_ERROR_INVALID_ARGUMENT),
        ("raw_data", None, b"", Status.PSA_ERROR_INVALID_ARGUMENT),
        # A compressed point, and a point not on the curve.
        (
            "ecc_public_key",
            psa_key_attributes_pb2.KeyType.SECP_R1,
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint),
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        (
            "ecc_public_key",
            psa_key_attributes_pb2.KeyType.SECP_R1,
            b"\x04" + bytes(63) + b"\x01",
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        # Zero is not a private scalar; nor is the group order or more.
        (
            "ecc_key_pair",
            psa_key_attributes_pb2.KeyType.SECP_R1,
            bytes(32),
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        (
            "ecc_key_pair",
            psa_key_attributes_pb2.KeyType.SECP_R1,
            b"\xff" * 32,
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        (
            "ecc_key_pair",
            psa_key_attributes_pb2.KeyType.SECP_R1,
            bytes(30) + b"\x01",  # 31 bytes: no curve of the family
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        (
            "dh_key_pair",
            psa_key_attributes_pb2.KeyType.RFC7919,
            bytes(255) + b"\x01",
            Status.PSA_ERROR_INVALID_ARGUMENT,
        ),
        (
            "dh_key_pair",
            psa_key_attributes_pb2.KeyType.RFC7919,
            bytes(100),
            Status.PSA_ERROR_NOT_SUPPORTED,
        ),
        ("des", None, bytes(8), Status.PSA_ERROR_NOT_SUPPORTED),
    ],
)
def test_import_refuses_what_is_not_the_psa_format(
    provider: SoftwareProvider, kind: str, family: int | None, data: bytes, status: Status
) -> None:
    with expect_status(status):
        import_(provider, "k", attributes(kind, 0, family=family), data)
    with expect_status(Status.PSA_ERROR_DOES_NOT_EXIST):
        export(provider, "k")


def test_import_size_must_match_the_data(provider: SoftwareProvider) -> None:
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        import_(provider, "k", attributes("aes", 256), bytes(16))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        import_(provider, "r", attributes("rsa_key_pair", 3072), RSA_DER)


@pytest.mark.parametrize(
    ("attrs", "status"),
    [
        (attributes("aes", 100), Status.PSA_ERROR_INVALID_ARGUMENT),
        (attributes("aes", 0), Status.PSA_ERROR_INVALID_ARGUMENT),
        (attributes("hmac", 12), Status.PSA_ERROR_INVALID_ARGUMENT),
        (attributes("hmac", 0x10000), Status.PSA_ERROR_INVALID_ARGUMENT),
        (attributes("rsa_public_key", 2048), Status.PSA_ERROR_INVALID_ARGUMENT),
        (attributes("rsa_key_pair", 2560), Status.PSA_ERROR_NOT_SUPPORTED),
        (attributes("rsa_key_pair", 8192), Status.PSA_ERROR_NOT_SUPPORTED),
        (
            attributes("ecc_key_pair", 257, family=psa_key_attributes_pb2.KeyType.SECP_R1),
            Status.PSA_ERROR_NOT_SUPPORTED,
        ),
        (attributes("camellia", 128), Status.PSA_ERROR_NOT_SUPPORTED),
        (
            attributes("dh_key_pair", 1024, family=psa_key_attributes_pb2.KeyType.RFC7919),
            Status.PSA_ERROR_NOT_SUPPORTED,
        ),
        (psa_key_attributes_pb2.KeyAttributes(key_bits=128), Status.PSA_ERROR_INVALID_ARGUMENT),
    ],
)
def test_generate_refuses_bad_sizes_and_types(
    provider: SoftwareProvider, attrs: psa_key_attributes_pb2.KeyAttributes, status: Status
) -> None:
    with expect_status(status):
        generate(provider, "k", attrs)


def test_export_needs_the_export_flag_but_public_export_does_not(
    provider: SoftwareProvider,
) -> None:
    family = psa_key_attributes_pb2.KeyType.SECP_R1
    generate(provider, "ec", attributes("ecc_key_pair", 256, family=family, sign_hash=True))
    with expect_status(Status.PSA_ERROR_NOT_PERMITTED):
        export(provider, "ec")
    public = export_public(provider, "ec")
    assert len(public) == 65 and public[0] == 4
    generate(provider, "aes", attributes("aes", 128, encrypt=True))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        export_public(provider, "aes")


def test_public_key_export_matches_cryptography(provider: SoftwareProvider) -> None:
    import_(provider, "r", attributes("rsa_key_pair", 2048), RSA_DER)
    assert export_public(provider, "r") == RSA_PUBLIC_DER
    x = x25519.X25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    import_(
        provider,
        "x",
        attributes("ecc_key_pair", 255, family=psa_key_attributes_pb2.KeyType.MONTGOMERY),
        x.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()),
    )
    assert export_public(provider, "x") == x.public_key().public_bytes_raw()
    for private, bits in (
        (ed25519.Ed25519PrivateKey.generate(), 255),
        (ed448.Ed448PrivateKey.generate(), 448),
    ):
        name = f"ed{bits}"
        data = private.private_bytes(
            raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        import_(
            provider,
            name,
            attributes("ecc_key_pair", bits, family=psa_key_attributes_pb2.KeyType.TWISTED_EDWARDS),
            data,
        )
        assert export_public(provider, name) == private.public_key().public_bytes_raw()
    x4 = x448.X448PrivateKey.generate()
    data = x4.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    import_(
        provider,
        "x448",
        attributes("ecc_key_pair", 0, family=psa_key_attributes_pb2.KeyType.MONTGOMERY),
        data,
    )
    assert export_public(provider, "x448") == x4.public_key().public_bytes_raw()


def test_dh_public_key_is_g_to_the_x(provider: SoftwareProvider) -> None:
    x = (12345678901234567890).to_bytes(256, "big")
    import_(
        provider,
        "dh",
        attributes("dh_key_pair", 2048, family=psa_key_attributes_pb2.KeyType.RFC7919),
        x,
    )
    p = ffdhe_prime(2048)
    assert export_public(provider, "dh") == pow(2, 12345678901234567890, p).to_bytes(256, "big")


def test_existing_and_missing_keys(provider: SoftwareProvider) -> None:
    generate(provider, "k", attributes("aes", 128))
    with expect_status(Status.PSA_ERROR_ALREADY_EXISTS):
        generate(provider, "k", attributes("aes", 256))
    with expect_status(Status.PSA_ERROR_ALREADY_EXISTS):
        import_(provider, "k", attributes("aes", 0), bytes(16))
    provider.call(contracts.PSA_DESTROY_KEY, APP, psa_destroy_key_pb2.Operation(key_name="k"))
    with expect_status(Status.PSA_ERROR_DOES_NOT_EXIST):
        provider.call(contracts.PSA_DESTROY_KEY, APP, psa_destroy_key_pb2.Operation(key_name="k"))
    with expect_status(Status.PSA_ERROR_DOES_NOT_EXIST):
        export(provider, "k")
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        generate(provider, "", attributes("aes", 128))


def test_applications_are_isolated_even_with_the_same_key_name(provider: SoftwareProvider) -> None:
    import_(provider, "shared-name", attributes("aes", 0, export=True), b"A" * 16, ctx=APP)
    with expect_status(Status.PSA_ERROR_DOES_NOT_EXIST):
        export(provider, "shared-name", ctx=OTHER_APP)
    with expect_status(Status.PSA_ERROR_DOES_NOT_EXIST):
        provider.call(
            contracts.PSA_DESTROY_KEY,
            OTHER_APP,
            psa_destroy_key_pb2.Operation(key_name="shared-name"),
        )
    import_(provider, "shared-name", attributes("aes", 0, export=True), b"B" * 16, ctx=OTHER_APP)
    assert export(provider, "shared-name", ctx=APP) == b"A" * 16
    assert export(provider, "shared-name", ctx=OTHER_APP) == b"B" * 16


def test_deprecated_primitives(
    provider: SoftwareProvider, lenient: SoftwareProvider, caplog: pytest.LogCaptureFixture
) -> None:
    sha1_ecdsa = attributes(
        "ecc_key_pair",
        256,
        sign_policy("ecdsa", A.SHA_1),
        family=psa_key_attributes_pb2.KeyType.SECP_R1,
        sign_hash=True,
    )
    with expect_status(Status.DEPRECATED_PRIMITIVE):
        generate(provider, "sha1", sha1_ecdsa)
    generate(lenient, "sha1", sha1_ecdsa)
    small_rsa = rsa.generate_private_key(65537, 1024)
    small_der = small_rsa.private_bytes(
        DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    with expect_status(Status.DEPRECATED_PRIMITIVE):
        generate(provider, "small", attributes("rsa_key_pair", 1024))
    generate(lenient, "small", attributes("rsa_key_pair", 1024))  # as Parsec, where allowed
    with expect_status(Status.DEPRECATED_PRIMITIVE):
        generate(provider, "des", attributes("des", 64))
    # Import is allowed, with a warning that names no key.
    with caplog.at_level(logging.WARNING):
        import_(provider, "small", attributes("rsa_key_pair", 0, export=True), small_der)
    assert "deprecated" in caplog.text and "small" not in caplog.text
    assert export(provider, "small") == small_der


def test_material_at_rest_is_encrypted_and_bound_to_its_row(
    provider: SoftwareProvider, tmp_path: Path
) -> None:
    secret = os.urandom(32)
    import_(provider, "a", attributes("aes", 0, export=True), secret)
    import_(provider, "b", attributes("aes", 0, export=True), os.urandom(32))
    database = provider.keystore.path
    provider.keystore.close()
    # Closing checkpoints the WAL; read whatever files SQLite left, all of them.
    raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert secret not in raw
    with sqlite3.connect(database) as db:
        rows = dict(db.execute("SELECT key_name, material FROM keys").fetchall())
        # Swap the material of the two rows: each must now refuse to open.
        db.execute("UPDATE keys SET material = ? WHERE key_name = 'a'", (rows["b"],))
    reopened, store = make_provider(tmp_path)
    try:
        with expect_status(Status.PSA_ERROR_DATA_CORRUPT):
            export(reopened, "a")
        assert len(export(reopened, "b")) == 32
    finally:
        store.close()


def test_edited_attributes_break_the_binding(provider: SoftwareProvider, tmp_path: Path) -> None:
    import_(provider, "a", attributes("aes", 0), os.urandom(16))
    database = provider.keystore.path
    provider.keystore.close()
    granted = attributes("aes", 128, export=True).SerializeToString(deterministic=True)
    with sqlite3.connect(database) as db:
        db.execute("UPDATE keys SET attributes = ?", (granted,))
    reopened, store = make_provider(tmp_path)
    try:
        with expect_status(Status.PSA_ERROR_DATA_CORRUPT):
            export(reopened, "a")
    finally:
        store.close()


def test_kek_file_is_private_and_checked(tmp_path: Path) -> None:
    state = tmp_path / "s"
    provider, store = make_provider(state)
    import_(provider, "k", attributes("aes", 0), bytes(16))
    store.close()
    kek = state / "kek"
    assert kek.stat().st_mode & 0o777 == 0o600
    assert kek.stat().st_size == 32
    assert [p.name for p in state.iterdir() if p.name.startswith(".kek")] == []
    kek.chmod(0o640)
    with pytest.raises(ConfigError, match="mode 0640"):
        make_provider(state)
    kek.chmod(0o600)
    kek.write_bytes(bytes(31))
    with pytest.raises(ConfigError, match="31 bytes"):
        make_provider(state)
    kek.unlink()
    with pytest.raises(ConfigError, match="is missing but the key store holds keys"):
        make_provider(state)  # a fresh KEK would never open the stored key: refuse
    assert not kek.exists()


def test_key_wrapped_under_another_kek_is_data_corrupt(tmp_path: Path) -> None:
    state = tmp_path / "s"
    provider, store = make_provider(state)
    import_(provider, "k", attributes("aes", 0), bytes(16))
    store.close()
    (state / "kek").write_bytes(bytes(32))  # the right shape, the wrong key
    replaced, store = make_provider(state)
    try:
        with expect_status(Status.PSA_ERROR_DATA_CORRUPT):
            export(replaced, "k")
    finally:
        store.close()


def test_a_new_state_dir_gets_a_kek_and_keeps_it(tmp_path: Path) -> None:
    provider, store = make_provider(tmp_path)
    import_(provider, "k", attributes("aes", 0, export=True), b"k" * 16)
    first = (tmp_path / "kek").read_bytes()
    store.close()
    again, store = make_provider(tmp_path)
    try:
        assert (tmp_path / "kek").read_bytes() == first
        assert export(again, "k") == b"k" * 16
    finally:
        store.close()


def test_keystore_rows_name_the_owner(tmp_path: Path) -> None:
    provider, store = make_provider(tmp_path)
    import_(provider, "k", attributes("aes", 0), bytes(16))
    assert [r.name for r in store.list_keys(Owner("app", 1))] == ["k"]
    assert store.list_keys(Owner("other", 1)) == []
    store.close()
    assert isinstance(store, KeyStore)
