"""Keys made by Parsec's own service (1.1.0, Mbed Crypto provider) keep working after
`tessera migrate-parsec`: same applications, same names, same keys.

Skipped, saying why, where Parsec's prebuilt service is absent (see tests/interop.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

import tessera
from tessera.psa import formats
from tessera.psa.key_types import EccFamily, KeyKind, KeyType
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import (
    KeyAttributes,
    KeyPolicy,
    UsageFlags,
)
from tessera.wire.proto.psa_key_attributes_pb2 import KeyType as KeyTypePb
from tests.integration.client_support import psa_to_der, short_dir
from tests.interop import require, running_parsec
from tests.support import start_service, stop_service

Sig = Algorithm.AsymmetricSignature
Enc = Algorithm.AsymmetricEncryption
ECDSA_SHA256 = Sig(ecdsa=Sig.Ecdsa(hash_alg=Sig.SignHash(specific=Algorithm.SHA_256)))
PKCS1_SHA256 = Sig(
    rsa_pkcs1v15_sign=Sig.RsaPkcs1v15Sign(hash_alg=Sig.SignHash(specific=Algorithm.SHA_256))
)
PKCS1_CRYPT = Enc(rsa_pkcs1v15_crypt=Enc.RsaPkcs1v15Crypt())
OAEP_SHA256 = Enc(rsa_oaep=Enc.RsaOaep(hash_alg=Algorithm.SHA_256))
GCM = Algorithm.Aead(aead_with_default_length_tag=Algorithm.Aead.GCM)
SIGN = UsageFlags(sign_hash=True, verify_hash=True)
CRYPT = UsageFlags(encrypt=True, decrypt=True)

ECC_P256 = KeyTypePb(ecc_key_pair=KeyTypePb.EccKeyPair(curve_family=KeyTypePb.SECP_R1))
RSA_PAIR = KeyTypePb(rsa_key_pair=KeyTypePb.RsaKeyPair())


def _attributes(key_type: KeyTypePb, bits: int, usage: UsageFlags, alg: Algorithm) -> KeyAttributes:
    return KeyAttributes(
        key_type=key_type,
        key_bits=bits,
        key_policy=KeyPolicy(key_usage_flags=usage, key_algorithm=alg),
    )


# (application, key name, attributes): two applications, and one key name both of them use.
KEYS = [
    (
        "alice",
        "signing",
        _attributes(ECC_P256, 256, SIGN, Algorithm(asymmetric_signature=ECDSA_SHA256)),
    ),
    (
        "alice",
        "rsa-sign",
        _attributes(RSA_PAIR, 2048, SIGN, Algorithm(asymmetric_signature=PKCS1_SHA256)),
    ),
    (
        "bob",
        "signing",
        _attributes(ECC_P256, 256, SIGN, Algorithm(asymmetric_signature=ECDSA_SHA256)),
    ),
    (
        "bob",
        "rsa-pkcs1",
        _attributes(RSA_PAIR, 2048, CRYPT, Algorithm(asymmetric_encryption=PKCS1_CRYPT)),
    ),
    (
        "bob",
        "rsa-oaep",
        _attributes(RSA_PAIR, 2048, CRYPT, Algorithm(asymmetric_encryption=OAEP_SHA256)),
    ),
]
AES_KEY = bytes(range(16))
AES_ATTRIBUTES = KeyAttributes(
    key_type=KeyTypePb(aes=KeyTypePb.Aes()),
    key_bits=0,  # Parsec's store records 0; the size comes from the key file
    key_policy=KeyPolicy(key_usage_flags=CRYPT, key_algorithm=Algorithm(aead=GCM)),
)


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `tessera migrate-parsec` as an operator would."""
    command = [sys.executable, "-m", "tessera.cli.main", "migrate-parsec", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def ops(socket_path: Path, app: str) -> tessera.OperationClient:
    """The operation client, directly authenticated as `app`, on the default provider."""
    return tessera.OperationClient(f"unix:{socket_path}", auth=tessera.DirectAuth(app))


def test_parsec_keys_work_in_tessera_after_migration() -> None:
    require("parsec")
    with short_dir() as root:
        parsec_dir, tessera_dir = root / "parsec", root / "tessera"
        digest = hashlib.sha256(b"signed by Parsec").digest()
        made: dict[tuple[str, str], dict[str, bytes]] = {}
        dirs = ("--parsec-dir", os.fspath(parsec_dir), "--state-dir", os.fspath(tessera_dir))
        with running_parsec(root / "p.sock", parsec_dir) as parsec:
            for app, name, attributes in KEYS:
                with ops(parsec.socket_path, app) as client:
                    client.psa_generate_key(name, attributes)
                    made[app, name] = {"public": client.psa_export_public_key(name)}
            with ops(parsec.socket_path, "bob") as client:
                client.psa_import_key("aes", AES_ATTRIBUTES, AES_KEY)
                made["bob", "aes"] = {
                    "sealed": client.psa_aead_encrypt("aes", GCM, b"n" * 12, b"secret", b"ad")
                }
                made["bob", "rsa-pkcs1"]["sealed"] = client.psa_asymmetric_encrypt(
                    "rsa-pkcs1", PKCS1_CRYPT, b"pkcs1 secret"
                )
                made["bob", "rsa-oaep"]["sealed"] = client.psa_asymmetric_encrypt(
                    "rsa-oaep", OAEP_SHA256, b"oaep secret"
                )
                made["bob", "signing"]["signature"] = client.psa_sign_hash(
                    "signing", ECDSA_SHA256, digest
                )
            with ops(parsec.socket_path, "alice") as client:
                made["alice", "signing"]["signature"] = client.psa_sign_hash(
                    "signing", ECDSA_SHA256, digest
                )
                made["alice", "rsa-sign"]["signature"] = client.psa_sign_hash(
                    "rsa-sign", PKCS1_SHA256, digest
                )

            refused = migrate(*dirs)
            assert refused.returncode == 3, refused
            assert "Parsec is running" in refused.stderr and len(refused.stderr.splitlines()) == 1
            assert not (tessera_dir / "keys.sqlite3").exists()

        key_files = sorted(parsec_dir.glob("*.psa_its"))
        assert len(key_files) == 6
        dry = migrate(*dirs, "--dry-run")
        assert dry.returncode == 0, dry
        assert "6 keys: 6 would migrate." in dry.stdout
        assert not tessera_dir.exists() or not any(tessera_dir.iterdir())

        first = migrate(*dirs)
        assert first.returncode == 0, first
        assert "6 keys: 6 migrated." in first.stdout
        for path in key_files:
            assert f"shred -u {path}" in first.stdout
            assert path.exists()  # left for the operator to shred

        service = start_service(tessera_dir, "--auth", "direct")
        try:
            _check_keys(service.socket_path, made, digest)
            again = migrate(*dirs)
            assert again.returncode == 0, again
            assert "6 keys: 6 already migrated." in again.stdout
            with ops(service.socket_path, "alice") as client:
                assert sorted(k.name for k in client.list_keys()) == ["rsa-sign", "signing"]
            with ops(service.socket_path, "bob") as client:
                assert sorted(k.name for k in client.list_keys()) == [
                    "aes",
                    "rsa-oaep",
                    "rsa-pkcs1",
                    "signing",
                ]
        finally:
            stop_service(service)


def _check_keys(
    socket_path: Path, made: dict[tuple[str, str], dict[str, bytes]], digest: bytes
) -> None:
    """Tessera serves every migrated key: same public keys, and it uses them as Parsec did."""
    for app, name, _ in KEYS:
        with ops(socket_path, app) as client:
            assert client.psa_export_public_key(name) == made[app, name]["public"], (app, name)
    assert made["alice", "signing"]["public"] != made["bob", "signing"]["public"]
    with ops(socket_path, "alice") as client:
        client.psa_verify_hash(
            "signing", ECDSA_SHA256, digest, made["alice", "signing"]["signature"]
        )
        client.psa_verify_hash(
            "rsa-sign", PKCS1_SHA256, digest, made["alice", "rsa-sign"]["signature"]
        )
        fresh = client.psa_sign_hash("signing", ECDSA_SHA256, digest)
        public = formats.public_key(
            KeyType(KeyKind.ECC_PUBLIC_KEY, EccFamily.SECP_R1),
            256,
            made["alice", "signing"]["public"],
        )
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(psa_to_der(fresh), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        fresh = client.psa_sign_hash("rsa-sign", PKCS1_SHA256, digest)
        rsa_type = KeyType(KeyKind.RSA_PUBLIC_KEY)
        rsa_public = formats.public_key(rsa_type, 2048, made["alice", "rsa-sign"]["public"])
        assert isinstance(rsa_public, rsa.RSAPublicKey)
        rsa_public.verify(fresh, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    with ops(socket_path, "bob") as client:
        client.psa_verify_hash("signing", ECDSA_SHA256, digest, made["bob", "signing"]["signature"])
        with pytest.raises(tessera.InvalidSignatureError):
            client.psa_verify_hash(
                "signing", ECDSA_SHA256, digest, made["alice", "signing"]["signature"]
            )
        assert (
            client.psa_asymmetric_decrypt(
                "rsa-pkcs1", PKCS1_CRYPT, made["bob", "rsa-pkcs1"]["sealed"]
            )
            == b"pkcs1 secret"
        )
        assert (
            client.psa_asymmetric_decrypt(
                "rsa-oaep", OAEP_SHA256, made["bob", "rsa-oaep"]["sealed"]
            )
            == b"oaep secret"
        )
        assert (
            client.psa_aead_decrypt("aes", GCM, b"n" * 12, made["bob", "aes"]["sealed"], b"ad")
            == b"secret"
        )
