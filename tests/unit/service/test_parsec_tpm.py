"""Parsec's TPM key contexts and the public areas they stand for, and what the migration does with
TPM keys where no TPM is reached (the swtpm run is tests/integration/test_tpm_migration.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tessera.psa.attributes import KeyAttributes, parse_attributes
from tessera.service.config import ServiceConfig, parse_config
from tessera.service.keystore import KeyStore, Owner
from tessera.service.migrate.errors import FormatError
from tessera.service.migrate.migrate import Outcome, migrate
from tessera.service.migrate.parsec_attributes import decode_attributes
from tessera.service.migrate.parsec_state import locate
from tessera.service.migrate.parsec_tpm import (
    LegacyContextError,
    ParsecTpmKey,
    checked_bits,
    child_public,
    decode_context,
)
from tessera.service.providers.tpm.context import decode_material
from tests.unit.service.migrate_support import (
    ECC_R1,
    ECDSA_SHA256,
    OAEP_SHA256,
    PKCS1_SIGN_SHA256,
    RSA_PAIR,
    RSA_PUBLIC,
    TPM_UUID,
    Row,
    attributes,
    u32,
    u64,
    write_sqlite_kim,
)

SIGN = {"sign_hash", "verify_hash"}
PSS_SHA384 = u32(5) + u32(2) + u32(0) + u32(7)
ECDSA_ANY = u32(5) + u32(4)
ECDSA_SHA3_256 = u32(5) + u32(3) + u32(0) + u32(12)
PKCS1_CRYPT = u32(6) + u32(0)
MODULUS = b"\xc1" + bytes(range(255))
X, Y = bytes(range(1, 33)), bytes(range(33, 65))


def vector(data: bytes) -> bytes:
    return u64(len(data)) + data


def context(public: bytes, private: bytes = b"blob", auth: bytes = bytes(32)) -> bytes:
    return u64(0) + u32(0) + u32(0) + vector(b"") + vector(auth) + public + vector(private)


RSA_KEY = u32(0) + vector(MODULUS)
ECC_KEY = u32(1) + vector(X) + vector(Y)


def typed(blob: bytes) -> KeyAttributes:
    return parse_attributes(decode_attributes(blob))


def test_contexts() -> None:
    rsa_key = decode_context(context(RSA_KEY, b"private", b"A" * 32))
    assert (rsa_key.modulus, rsa_key.point, rsa_key.private, rsa_key.auth) == (
        MODULUS,
        None,
        b"private",
        b"A" * 32,
    )
    assert "AAAA" not in repr(rsa_key) and "private" not in repr(rsa_key)
    ecc = decode_context(context(ECC_KEY))
    assert ecc.point == (X, Y) and ecc.modulus is None and ecc.is_key_pair
    public = decode_context(context(RSA_KEY, b"", b""))
    assert not public.is_key_pair


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (context(RSA_KEY)[:-3], "truncated"),
        (context(RSA_KEY) + b"x", "trailing"),
        (context(u32(2)), "unknown public key variant"),
        (context(RSA_KEY, auth=bytes(65)), "65-byte auth value"),
        (context(RSA_KEY, b"", b"auth"), "no private part"),
        (context(u32(0) + vector(b"")), "impossible key"),
    ],
)
def test_malformed_contexts(blob: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        decode_context(blob)


def test_legacy_contexts_are_named() -> None:
    legacy = u64(3) + u32(0x80000000) + u32(0x40000001) + vector(b"saved") + vector(b"auth")
    with pytest.raises(LegacyContextError, match=r"pre-1\.0"):
        decode_context(legacy)


@pytest.mark.parametrize(
    ("key", "record", "message"),
    [
        (context(RSA_KEY), attributes(RSA_PAIR, 3072, SIGN, PKCS1_SIGN_SHA256), "2048-bit"),
        (context(RSA_KEY), attributes(ECC_R1, 256, SIGN, ECDSA_SHA256), "Parsec's record says"),
        (context(ECC_KEY), attributes(RSA_PAIR, 2048, SIGN, PKCS1_SIGN_SHA256), "says RSA"),
        (context(ECC_KEY), attributes(ECC_R1, 200, SIGN, ECDSA_SHA256), "192 to 521"),
        (context(RSA_KEY, b"", b""), attributes(RSA_PAIR, 2048, SIGN, PKCS1_SIGN_SHA256), "public"),
        (context(RSA_KEY), attributes(RSA_PUBLIC, 2048, SIGN, PKCS1_SIGN_SHA256), "key pair"),
    ],
)
def test_context_and_record_must_agree(key: bytes, record: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        checked_bits(decode_context(key), typed(record))


@pytest.mark.parametrize(
    "policy", [ECDSA_ANY, u32(5) + u32(1), u32(5) + u32(3) + u32(0) + u32(3)]
)  # any hash, raw PKCS#1 v1.5, MD5
def test_policies_parsec_cannot_make_keys_with(policy: bytes) -> None:
    key = decode_context(context(ECC_KEY if policy != u32(5) + u32(1) else RSA_KEY))
    record = typed(attributes(ECC_R1 if key.point else RSA_PAIR, 256, SIGN, policy))
    with pytest.raises(FormatError, match="Parsec's TPM provider makes"):
        child_public(key, record, 256 if key.point else 2048)


needs_pytss = pytest.mark.skipif(
    importlib.util.find_spec("tpm2_pytss") is None, reason="tpm2-pytss is not installed"
)


def _expected(kind: str, hash_name: str = "SHA256") -> bytes:
    """The child's public area built field by field with tpm2-pytss, as tss-esapi builds it."""
    from tpm2_pytss.constants import TPM2_ALG, TPM2_ECC, TPMA_OBJECT
    from tpm2_pytss.types import (
        TPM2B_PUBLIC,
        TPMS_ECC_PARMS,
        TPMS_ECC_POINT,
        TPMS_RSA_PARMS,
        TPMS_SCHEME_HASH,
        TPMT_ECC_SCHEME,
        TPMT_KDF_SCHEME,
        TPMT_PUBLIC,
        TPMT_RSA_SCHEME,
        TPMT_SYM_DEF_OBJECT,
        TPMU_ASYM_SCHEME,
        TPMU_PUBLIC_ID,
        TPMU_PUBLIC_PARMS,
    )

    hashed = TPMU_ASYM_SCHEME(anySig=TPMS_SCHEME_HASH(hashAlg=getattr(TPM2_ALG, hash_name)))
    attrs: Any = (
        TPMA_OBJECT.FIXEDTPM
        | TPMA_OBJECT.FIXEDPARENT
        | TPMA_OBJECT.SENSITIVEDATAORIGIN
        | TPMA_OBJECT.USERWITHAUTH
        | TPMA_OBJECT.SIGN_ENCRYPT
    )
    none = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL)
    if kind == "ecdsa":
        ecc = TPMS_ECC_PARMS(
            symmetric=none,
            scheme=TPMT_ECC_SCHEME(scheme=TPM2_ALG.ECDSA, details=hashed),
            curveID=TPM2_ECC.NIST_P256,
            kdf=TPMT_KDF_SCHEME(scheme=TPM2_ALG.NULL),
        )
        parameters = TPMU_PUBLIC_PARMS(eccDetail=ecc)
        unique = TPMU_PUBLIC_ID(ecc=TPMS_ECC_POINT(x=X, y=Y))
        key_type = TPM2_ALG.ECC
    else:
        if kind == "decrypt":
            attrs |= TPMA_OBJECT.DECRYPT
            scheme = TPMT_RSA_SCHEME(scheme=TPM2_ALG.NULL)
        else:
            scheme = TPMT_RSA_SCHEME(scheme=getattr(TPM2_ALG, kind.upper()), details=hashed)
        rsa = TPMS_RSA_PARMS(symmetric=none, scheme=scheme, keyBits=2048, exponent=0)
        parameters = TPMU_PUBLIC_PARMS(rsaDetail=rsa)
        unique = TPMU_PUBLIC_ID(rsa=MODULUS)
        key_type = TPM2_ALG.RSA
    area = TPMT_PUBLIC(
        type=key_type,
        nameAlg=TPM2_ALG.SHA256,
        objectAttributes=attrs,
        parameters=parameters,
        unique=unique,
    )
    return bytes(TPM2B_PUBLIC(publicArea=area).marshal())


@needs_pytss
@pytest.mark.parametrize(
    ("kind", "hash_name", "record"),
    [
        ("ecdsa", "SHA256", attributes(ECC_R1, 256, SIGN, ECDSA_SHA256)),
        ("rsassa", "SHA256", attributes(RSA_PAIR, 2048, SIGN, PKCS1_SIGN_SHA256)),
        ("rsapss", "SHA384", attributes(RSA_PAIR, 2048, SIGN, PSS_SHA384)),
        ("decrypt", "SHA256", attributes(RSA_PAIR, 2048, {"decrypt"}, OAEP_SHA256)),
        ("decrypt", "SHA256", attributes(RSA_PAIR, 0, {"decrypt"}, PKCS1_CRYPT)),
    ],
)
def test_public_areas_are_tss_esapis(kind: str, hash_name: str, record: bytes) -> None:
    key = decode_context(context(ECC_KEY if kind == "ecdsa" else RSA_KEY))
    attrs = typed(record)
    assert child_public(key, attrs, checked_bits(key, attrs)) == _expected(kind, hash_name)


@pytest.fixture
def config(short_tmp: Path) -> ServiceConfig:
    """A TPM provider nobody answers for: the tests below must not need the TPM."""
    tpm = {"provider_type": "tpm", "tcti": "swtpm:host=127.0.0.1,port=9"}
    return parse_config({"core_settings": {"state_dir": str(short_tmp / "t")}, "provider": [tpm]})


def _run(directory: Path, rows: list[Row], config: ServiceConfig, **options: bool) -> Any:
    directory.mkdir(exist_ok=True)
    if not (directory / "kim.sqlite3").exists():
        write_sqlite_kim(directory / "kim.sqlite3", rows)
    report = migrate(locate(directory, kim=directory / "kim.sqlite3"), config, **options)
    return {r.key_name: r for r in report.results}


def test_keys_without_the_tpm(short_tmp: Path, config: ServiceConfig) -> None:
    pub = context(RSA_KEY, b"", b"")
    p224 = attributes(ECC_R1, 224, SIGN, ECDSA_SHA256)
    rows = [
        Row("a", "pub", pub, attributes(RSA_PUBLIC, 2048, {"verify_hash"}, PKCS1_SIGN_SHA256)),
        Row("a", "p224", context(u32(1) + vector(X[:28]) + vector(Y[:28])), p224),
        Row("a", "sha3", context(ECC_KEY), attributes(ECC_R1, 256, SIGN, ECDSA_SHA3_256)),
        Row("a", "pair", context(ECC_KEY), attributes(ECC_R1, 256, SIGN, ECDSA_SHA256)),
        Row(
            "parsec",
            "RootKeyTPM",
            vector(b"\x00\x0b" + bytes(32)),
            attributes(RSA_PUBLIC, 2048, set(), u32(0)),
            auth=255,
        ),
    ]
    rows = [Row(r.app, r.name, r.key_id, r.attributes, TPM_UUID, r.auth) for r in rows]
    found = _run(short_tmp / "p", rows, config, dry_run=True)
    assert found["pub"].outcome is Outcome.WOULD_MIGRATE and not config.key_store_path.exists()
    assert found["p224"].outcome is Outcome.NOT_BRIDGED and "not 224" in found["p224"].detail
    assert found["sha3"].outcome is Outcome.NOT_BRIDGED and "SHA3_256" in found["sha3"].detail
    assert found["pair"].outcome is Outcome.FAILED  # the TPM cannot be reached
    assert "cannot reach the TPM" in found["pair"].detail or "tpm2-pytss" in found["pair"].detail
    found = _run(short_tmp / "p", rows, config)
    assert found["pub"].outcome is Outcome.MIGRATED
    assert found["RootKeyTPM"].outcome is Outcome.FAILED  # it cannot be checked either
    row = KeyStore(config.key_store_path).get(Owner("a", 1), 3, "pub")
    assert decode_material(row.material)[1][:5] == b"\x30\x82\x01\x0a\x02"  # RSAPublicKey DER
    assert _run(short_tmp / "p", rows, config)["pub"].outcome is Outcome.ALREADY_MIGRATED


def test_the_storage_key_record_without_a_tpm_provider(short_tmp: Path) -> None:
    config = parse_config({"core_settings": {"state_dir": str(short_tmp / "t")}})
    record = Row(
        "parsec",
        "RootKeyTPM",
        vector(b"\x00\x0b" + bytes(32)),
        attributes(RSA_PUBLIC, 2048, set(), u32(0)),
        TPM_UUID,
        255,
    )
    found = _run(short_tmp / "p", [record], config)
    assert found["RootKeyTPM"].outcome is Outcome.NOT_A_KEY
    assert found["RootKeyTPM"].outcome.usable


def test_public_point_sizes() -> None:
    key = ParsecTpmKey(None, (X, Y + b"\x01"), b"blob", b"")
    with pytest.raises(FormatError, match="does not fit"):
        checked_bits(key, typed(attributes(ECC_R1, 256, SIGN, ECDSA_SHA256)))
