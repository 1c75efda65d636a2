"""`tessera migrate-parsec` re-attaches Parsec's TPM keys: keys made on a temporary swtpm as
Parsec's TPM provider makes them (children of its RSA storage key, each with its own auth value), a
Parsec-like key-info store holding their contexts, then the migration, then signatures,
decryption and key attestation through Tessera's TPM provider on the same swtpm."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    attest_key_pb2,
    prepare_key_attestation_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
)
from tessera.wire.status import Status
from tests.integration.client_support import short_dir
from tests.integration.provider_calls import ProviderCalls
from tests.support import start_service, stop_service
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
    write_sqlite_kim,
)
from tests.unit.software.builders import A, oaep, sign

pytestmark = pytest.mark.integration

if importlib.util.find_spec("tpm2_pytss") is None or shutil.which("swtpm") is None:
    pytest.skip(
        "tpm2-pytss or swtpm is not installed (scripts/bootstrap installs them): TPM tests skipped",
        allow_module_level=True,
    )

from tests.integration.parsec_tpm_support import (  # noqa: E402 - needs tpm2-pytss
    MadeKey,
    ParsecTpm,
    imported_rsa,
    legacy_context,
    start_swtpm,
    stop_swtpm,
)

TPM = 3
SIGN = {"sign_hash", "verify_hash"}
GOOD = ("ecc", "rsa", "pss", "enc", "pub", "ecc128")
PSS_SHA384 = u32(5) + u32(2) + u32(0) + u32(7)  # AsymmetricSignature::RsaPss(Specific(Sha384))


@dataclass(frozen=True)
class Setup:
    """Keys Parsec made on a swtpm, Parsec's store naming them, and Tessera's configuration."""

    parsec: Path
    config: Path
    state: Path
    keys: dict[str, MadeKey]
    outside: rsa.RSAPrivateKey  # the private half of the imported public key


def _parsec_keys(tcti: str) -> tuple[dict[str, MadeKey], list[Row]]:
    parsec = ParsecTpm(tcti)
    try:
        keys = {
            "ecc": parsec.create("ecdsa"),
            "rsa": parsec.create("rsassa"),
            "pss": parsec.create("rsapss", "sha384"),
            "enc": parsec.create("decrypt"),
        }
        root_name = parsec.primary_name()
        # A Parsec that ran where the TPM lacked AES-256 made its storage key with AES-128.
        other = parsec.create_primary(128 if parsec.aes_bits == 256 else 256, os.urandom(32))
        keys["ecc128"] = parsec.create("ecdsa", parent=other)
        parsec.flush(other)
        elsewhere = parsec.create_primary(parsec.aes_bits, os.urandom(32), endorsement=True)
        keys["foreign"] = parsec.create("ecdsa", parent=elsewhere)  # as from another TPM
    finally:
        parsec.close()
    signing = attributes(ECC_R1, 256, SIGN, ECDSA_SHA256)
    rows = [
        Row("alice", "ecc", keys["ecc"].key_id, signing, TPM_UUID),
        Row(
            "alice", "rsa", keys["rsa"].key_id, attributes(RSA_PAIR, 2048, SIGN, PKCS1_SIGN_SHA256)
        ),
        Row("alice", "pss", keys["pss"].key_id, attributes(RSA_PAIR, 2048, SIGN, PSS_SHA384)),
        Row(
            "alice", "enc", keys["enc"].key_id, attributes(RSA_PAIR, 2048, {"decrypt"}, OAEP_SHA256)
        ),
        Row("bob", "ecc128", keys["ecc128"].key_id, signing, TPM_UUID),
        Row("bob", "foreign", keys["foreign"].key_id, signing, TPM_UUID),
        Row("bob", "legacy", legacy_context(), signing, TPM_UUID),
        # Parsec 1.4+: its storage key's name, under its internal identity (authenticator 255).
        Row(
            "parsec",
            "RootKeyTPM",
            struct.pack("<Q", len(root_name)) + root_name,
            attributes(RSA_PUBLIC, 2048, set(), u32(0)),
            TPM_UUID,
            auth=255,
        ),
    ]
    rows = [Row(r.app, r.name, r.key_id, r.attributes, TPM_UUID, r.auth) for r in rows]
    return keys, rows


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[Setup, str]]:
    with short_dir() as folder:
        swtpm, tcti = start_swtpm(folder / "tpm")
        try:
            keys, rows = _parsec_keys(tcti)
            outside = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            modulus = outside.public_key().public_numbers().n.to_bytes(256, "big")
            verify_only = attributes(RSA_PUBLIC, 2048, {"verify_hash"}, PKCS1_SIGN_SHA256)
            rows.append(Row("bob", "pub", imported_rsa(modulus), verify_only, TPM_UUID))
            parsec = folder / "parsec"
            parsec.mkdir()
            write_sqlite_kim(parsec / "kim.sqlite3", rows)
            config = folder / "tessera.toml"
            config.write_text(
                '[authenticator]\nauth_types = ["direct"]\n\n'
                f'[[provider]]\nprovider_type = "tpm"\ntcti = "{tcti}"\n'
            )
            yield Setup(parsec, config, folder / "tessera", keys, outside), tcti
        finally:
            stop_swtpm(swtpm)


def _migrate(setup: Setup, *extra: str) -> tuple[int, dict[str, str]]:
    """Run the command; its exit status and each key's outcome line."""
    command = [sys.executable, "-m", "tessera.cli.main", "migrate-parsec"]
    command += ["--parsec-dir", os.fspath(setup.parsec)]
    command += ["--kim", os.fspath(setup.parsec / "kim.sqlite3")]
    command += ["--config", os.fspath(setup.config), "--state-dir", os.fspath(setup.state)]
    done = subprocess.run([*command, *extra], capture_output=True, text=True, check=False)
    assert not done.stderr, done.stderr
    lines = {}
    for line in done.stdout.splitlines():
        for name in (*GOOD, "foreign", "legacy", "RootKeyTPM"):
            if f' key "{name}" ' in line:
                lines[name] = line
    return done.returncode, lines


def test_parsec_tpm_keys_are_reattached_and_used(setup: tuple[Setup, str]) -> None:
    parsec = setup[0]
    status, lines = _migrate(parsec, "--dry-run")
    assert status == 4, lines  # "foreign" and "legacy" cannot be migrated
    assert all(lines[n].startswith("would migrate") for n in GOOD), lines
    assert not (parsec.state / "keys.sqlite3").exists()

    status, lines = _migrate(parsec)
    assert all(lines[n].startswith("migrated") for n in GOOD), lines
    assert "AES-128-CFB" in lines["ecc128"] and "AES-256-CFB" in lines["ecc"], lines
    assert "rsa-public-key 2048-bit" in lines["pub"], lines
    assert lines["foreign"].startswith("failed") and "does not load" in lines["foreign"], lines
    assert lines["legacy"].startswith("failed") and "pre-1.0" in lines["legacy"], lines
    assert lines["RootKeyTPM"].startswith("not a key"), lines
    assert "re-creates (AES-256-CFB)" in lines["RootKeyTPM"], lines
    status, lines = _migrate(parsec)
    assert all(lines[n].startswith("already migrated") for n in GOOD), lines

    # The auth values are in Tessera's store only sealed by its key-encryption key.
    with sqlite3.connect(parsec.state / "keys.sqlite3") as db:
        stored = b"".join(bytes(m) for (m,) in db.execute("SELECT material FROM keys"))
    assert len(stored) > 1000 and not any(k.auth in stored for k in parsec.keys.values())

    service = start_service(parsec.state, config=parsec.config)
    try:
        wire = ProviderCalls(service, TPM)
        _sign_and_decrypt(wire, parsec)
        _attest(wire)
    finally:
        stop_service(service)
    log = (parsec.state / "service.log").read_bytes()
    assert not any(k.auth.hex().encode() in log for k in parsec.keys.values())


def _ecdsa_check(point: bytes, signature: bytes, value: bytes) -> None:
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    key.verify(der, value, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def _sign_and_decrypt(wire: ProviderCalls, setup: Setup) -> None:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"signed by Tessera with Parsec's TPM key")
    value = digest.finalize()
    keys = setup.keys
    ecdsa = sign("ecdsa", A.Hash.SHA_256)
    for app, name in (("alice", "ecc"), ("bob", "ecc128")):
        point = keys[name].point
        assert point is not None and wire.public(name, app) == point
        op = psa_sign_hash_pb2.Operation(key_name=name, alg=ecdsa, hash=value)
        _ecdsa_check(point, wire.ok(Opcode.PSA_SIGN_HASH, op, app).signature, value)
    assert keys["ecc"].point is not None
    message = psa_sign_message_pb2.Operation(key_name="ecc", alg=ecdsa, message=b"m")
    signed = wire.ok(Opcode.PSA_SIGN_MESSAGE, message, "alice").signature
    _ecdsa_check(keys["ecc"].point, signed, hashlib.sha256(b"m").digest())
    other = psa_sign_hash_pb2.Operation(
        key_name="ecc", alg=sign("ecdsa", A.Hash.SHA_384), hash=bytes(48)
    )
    assert wire.fails(Opcode.PSA_SIGN_HASH, other, "alice") is Status.PSA_ERROR_NOT_PERMITTED

    pkcs1 = sign("rsa_pkcs1v15_sign", A.Hash.SHA_256)
    op = psa_sign_hash_pb2.Operation(key_name="rsa", alg=pkcs1, hash=value)
    signature = wire.ok(Opcode.PSA_SIGN_HASH, op, "alice").signature
    assert keys["rsa"].modulus is not None
    public = rsa.RSAPublicNumbers(65537, keys["rsa"].modulus).public_key()
    public.verify(signature, value, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    verify = psa_verify_hash_pb2.Operation(
        key_name="rsa", alg=pkcs1, hash=value, signature=signature
    )
    wire.ok(Opcode.PSA_VERIFY_HASH, verify, "alice")
    assert wire.fails(Opcode.PSA_SIGN_HASH, op, "bob") is Status.PSA_ERROR_DOES_NOT_EXIST

    pss = sign("rsa_pss", A.Hash.SHA_384)
    value384 = hashlib.sha384(b"PSS").digest()
    op = psa_sign_hash_pb2.Operation(key_name="pss", alg=pss, hash=value384)
    signature = wire.ok(Opcode.PSA_SIGN_HASH, op, "alice").signature
    assert keys["pss"].modulus is not None
    public = rsa.RSAPublicNumbers(65537, keys["pss"].modulus).public_key()
    sha384 = hashes.SHA384()
    salt = padding.PSS(mgf=padding.MGF1(sha384), salt_length=padding.PSS.DIGEST_LENGTH)
    public.verify(signature, value384, salt, utils.Prehashed(sha384))

    assert keys["enc"].modulus is not None
    encrypting = rsa.RSAPublicNumbers(65537, keys["enc"].modulus).public_key()
    sha = hashes.SHA256()
    ciphertext = encrypting.encrypt(
        b"for Parsec's key", padding.OAEP(mgf=padding.MGF1(sha), algorithm=sha, label=None)
    )
    decrypt = psa_asymmetric_decrypt_pb2.Operation(
        key_name="enc", alg=oaep(A.Hash.SHA_256), ciphertext=ciphertext
    )
    assert wire.ok(Opcode.PSA_ASYMMETRIC_DECRYPT, decrypt, "alice").plaintext == b"for Parsec's key"

    outside = setup.outside.sign(value, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    check = psa_verify_hash_pb2.Operation(key_name="pub", alg=pkcs1, hash=value, signature=outside)
    wire.ok(Opcode.PSA_VERIFY_HASH, check, "bob")


def _attest(wire: ProviderCalls) -> None:
    """ActivateCredential with a Parsec key: its auth value authorizes it, and the credential
    opens only for its name."""
    from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_PUBLIC
    from tpm2_pytss.utils import make_credential

    prep = prepare_key_attestation_pb2
    params = prep.PrepareKeyAttestationParams(
        activate_credential=prep.PrepareKeyAttestationParams.ActivateCredential(
            attested_key_name="ecc"
        )
    )
    prepared: Any = wire.ok(
        Opcode.PREPARE_KEY_ATTESTATION, prep.Operation(parameters=params), "alice"
    ).output.activate_credential
    ek, _ = TPMT_PUBLIC.unmarshal(prepared.attesting_key_pub)
    blob, secret = make_credential(TPM2B_PUBLIC(publicArea=ek), b"resident", prepared.name)
    mechanism = attest_key_pb2.AttestationMechanismParams(
        activate_credential=attest_key_pb2.AttestationMechanismParams.ActivateCredential(
            credential_blob=bytes(blob), secret=bytes(secret)
        )
    )
    op = attest_key_pb2.Operation(attested_key_name="ecc", parameters=mechanism)
    result = wire.ok(Opcode.ATTEST_KEY, op, "alice")
    assert result.output.activate_credential.credential == b"resident"
