"""`tessera migrate-parsec` re-attaches Parsec's PKCS#11 keys: objects made as Parsec's PKCS#11
provider makes them (CKA_ID = the u32 key id, big-endian) on a temporary SoftHSM2 token, a
Parsec-like key-info store naming them, then the migration, then signatures through Tessera."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_sign_hash_pb2, psa_verify_hash_pb2
from tessera.wire.status import Status
from tests.integration.client_support import short_dir
from tests.integration.pkcs11_support import USER_PIN, SoftToken, make_token, require_softhsm
from tests.integration.provider_calls import ProviderCalls
from tests.support import start_service, stop_service
from tests.unit.service.migrate_support import (
    ECC_R1,
    ECDSA_SHA256,
    PKCS1_SIGN_SHA256,
    PKCS11_UUID,
    RSA_PAIR,
    RSA_PUBLIC,
    Row,
    attributes,
    u32,
    write_sqlite_kim,
)
from tests.unit.software.builders import A, sign

pytestmark = pytest.mark.integration

PKCS11 = 2
SIGN = {"sign_hash", "verify_hash"}

# Objects as Parsec's PKCS#11 provider leaves them: token objects with a 4-byte big-endian
# CKA_ID, no label, the one mechanism the policy's algorithm uses allowed (CKA_ALLOWED_MECHANISMS);
# public halves not private. Run apart: python-pkcs11 loads SoftHSM2 once per process, with the
# first SOFTHSM2_CONF it saw.
_MAKE_OBJECTS = """
import json, struct, sys, pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.attributes import AttributeMapper
from pkcs11.util.ec import encode_named_curve_parameters
library, label, pin, n, e = sys.argv[1:]
ident = lambda key_id: key_id.to_bytes(4, "big")
mapper = AttributeMapper()
mapper.register_handler(
    Attribute.ALLOWED_MECHANISMS,
    lambda mechanisms: b"".join(struct.pack("@L", m) for m in mechanisms),
    bytes,
)
token = pkcs11.lib(library).get_token(token_label=label)
with token.open(rw=True, user_pin=pin, attribute_mapper=mapper) as session:
    only = lambda mechanism: {Attribute.ALLOWED_MECHANISMS: [mechanism]}
    public = {Attribute.PRIVATE: False, Attribute.VERIFY: True}
    private = {Attribute.SIGN: True, Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False}
    curve = {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}
    params = session.create_domain_parameters(KeyType.EC, curve, local=True)
    ecc, _ = params.generate_keypair(
        id=ident(1), store=True,
        public_template={**public, **only(Mechanism.ECDSA)},
        private_template={**private, **only(Mechanism.ECDSA)},
    )
    pair, _ = session.generate_keypair(
        KeyType.RSA, 2048, id=ident(2), store=True,
        public_template={
            **public, **only(Mechanism.RSA_PKCS), Attribute.PUBLIC_EXPONENT: b"\\x01\\x00\\x01"
        },
        private_template={**private, **only(Mechanism.RSA_PKCS)},
    )
    session.create_object({
        Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.KEY_TYPE: KeyType.RSA,
        Attribute.TOKEN: True, Attribute.ID: ident(3), **public, **only(Mechanism.RSA_PKCS),
        Attribute.MODULUS: int(n).to_bytes(256, "big"),
        Attribute.PUBLIC_EXPONENT: int(e).to_bytes(3, "big"),
    })
    print(json.dumps({
        "ecc_point": bytes(ecc[Attribute.EC_POINT])[-65:].hex(),
        "rsa_modulus": int.from_bytes(pair[Attribute.MODULUS], "big"),
    }))
"""


@dataclass(frozen=True)
class Setup:
    """A token with Parsec's objects, Parsec's key-info store, and Tessera's configuration."""

    token: SoftToken
    parsec: Path
    config: Path
    state: Path
    ecc_point: bytes
    rsa_modulus: int
    outside: rsa.RSAPrivateKey  # the private half of the imported public key (key id 3)


@pytest.fixture
def setup() -> Iterator[Setup]:
    require_softhsm()
    with short_dir() as folder:
        token = make_token(folder / "hsm")
        outside = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = outside.public_key().public_numbers()
        command = [sys.executable, "-c", _MAKE_OBJECTS, token.library, token.label, USER_PIN]
        made = subprocess.run(
            [*command, str(numbers.n), str(numbers.e)],
            env=token.env,
            capture_output=True,
            text=True,
            check=True,
        )
        objects = json.loads(made.stdout)
        parsec = folder / "parsec"
        parsec.mkdir()
        verify_only = attributes(RSA_PUBLIC, 0, {"verify_hash"}, PKCS1_SIGN_SHA256)
        rows = [
            Row("alice", "ecc", u32(1), attributes(ECC_R1, 256, SIGN, ECDSA_SHA256), PKCS11_UUID),
            Row(
                "alice",
                "rsa",
                u32(2),
                attributes(RSA_PAIR, 0, SIGN, PKCS1_SIGN_SHA256),
                PKCS11_UUID,
            ),
            Row("bob", "pub", u32(3), verify_only, PKCS11_UUID),
            Row("bob", "gone", u32(9), attributes(ECC_R1, 256, SIGN, ECDSA_SHA256), PKCS11_UUID),
        ]
        write_sqlite_kim(parsec / "kim.sqlite3", rows)
        config = folder / "tessera.toml"
        config.write_text('[authenticator]\nauth_types = ["direct"]\n\n' + token.provider_table())
        yield Setup(
            token,
            parsec,
            config,
            folder / "tessera",
            bytes.fromhex(objects["ecc_point"]),
            objects["rsa_modulus"],
            outside,
        )


def _migrate(setup: Setup, *extra: str) -> tuple[int, dict[str, str]]:
    """Run the command; its exit status and each key's outcome line."""
    kim = setup.parsec / "kim.sqlite3"
    command = [sys.executable, "-m", "tessera.cli.main", "migrate-parsec"]
    command += ["--parsec-dir", os.fspath(setup.parsec), "--kim", os.fspath(kim)]
    command += ["--config", os.fspath(setup.config), "--state-dir", os.fspath(setup.state)]
    done = subprocess.run(
        [*command, *extra],
        env=setup.token.env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = {}
    for line in done.stdout.splitlines():
        for name in ("ecc", "rsa", "pub", "gone"):
            if f' key "{name}" ' in line:
                lines[name] = line
    return done.returncode, lines


def test_parsec_pkcs11_keys_are_reattached_and_sign(setup: Setup) -> None:
    status, lines = _migrate(setup, "--dry-run")
    assert status == 4, lines  # "gone" has no objects on the token
    assert all(lines[n].startswith("would migrate") for n in ("ecc", "rsa", "pub")), lines
    assert not (setup.state / "keys.sqlite3").exists()
    status, lines = _migrate(setup)
    assert lines["ecc"].startswith("migrated") and "CKA_ID 00000001" in lines["ecc"], lines
    assert "rsa-key-pair 2048-bit" in lines["rsa"] and "rsa-public-key 2048-bit" in lines["pub"]
    assert lines["gone"].startswith("failed") and "0 public" in lines["gone"], lines
    status, lines = _migrate(setup)
    assert all(lines[n].startswith("already migrated") for n in ("ecc", "rsa", "pub")), lines

    service = start_service(setup.state, config=setup.config, env=setup.token.env)
    try:
        _sign_through_tessera(ProviderCalls(service, PKCS11), setup)
    finally:
        stop_service(service)


def _sign_through_tessera(wire: ProviderCalls, setup: Setup) -> None:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"signed by Tessera with Parsec's key")
    value = digest.finalize()
    assert wire.public("ecc", "alice") == setup.ecc_point
    ecdsa = sign("ecdsa", A.Hash.SHA_256)
    op = psa_sign_hash_pb2.Operation(key_name="ecc", alg=ecdsa, hash=value)
    signature = wire.ok(Opcode.PSA_SIGN_HASH, op, "alice").signature
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), setup.ecc_point)
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    point.verify(der, value, ec.ECDSA(utils.Prehashed(hashes.SHA256())))

    pkcs1 = sign("rsa_pkcs1v15_sign", A.Hash.SHA_256)
    op = psa_sign_hash_pb2.Operation(key_name="rsa", alg=pkcs1, hash=value)
    signature = wire.ok(Opcode.PSA_SIGN_HASH, op, "alice").signature
    modulus = rsa.RSAPublicNumbers(65537, setup.rsa_modulus).public_key()
    modulus.verify(signature, value, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))

    outside = setup.outside.sign(value, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    verify = psa_verify_hash_pb2.Operation(key_name="pub", alg=pkcs1, hash=value, signature=outside)
    wire.ok(Opcode.PSA_VERIFY_HASH, verify, "bob")
    assert wire.fails(Opcode.PSA_SIGN_HASH, op, "bob") is Status.PSA_ERROR_DOES_NOT_EXIST
