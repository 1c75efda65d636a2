"""The PKCS#11 provider through the real daemon, against a temporary SoftHSM2 token: what only a
token has (object flags and ids, restart, DeleteClient, configuration). The operations, policy
refusals, isolation and CanDoCrypto that every provider shares are in tests/conformance."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.config import ConfigError
from tessera.service.config import parse_config
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    delete_client_pb2,
    psa_destroy_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
    psa_sign_hash_pb2,
    psa_verify_hash_pb2,
)
from tessera.wire.status import Status
from tests.integration.pkcs11_support import (
    LIBRARY,
    SKIP_REASON,
    SoftToken,
    make_token,
    softhsm_present,
)
from tests.integration.provider_calls import ProviderCalls
from tests.support import RunningService, direct, request_bytes, start_service, stop_service
from tests.unit.software.builders import SECP_R1, A, attributes, oaep, sign

pytestmark = pytest.mark.integration

PKCS11 = 2
if not softhsm_present():
    pytest.skip(SKIP_REASON, allow_module_level=True)

SHA256 = A.Hash.SHA_256


@dataclass
class Hsm:
    """A temporary SoftHSM2 token and a daemon using it."""

    state: Path
    token: SoftToken
    config: Path
    env: dict[str, str]
    service: RunningService

    @property
    def wire(self) -> ProviderCalls:
        """Requests to the provider under test."""
        return ProviderCalls(self.service, PKCS11)


def _config(state: Path, token: SoftToken, *, software_public: bool = False) -> Path:
    path = state / "config.toml"
    table = token.provider_table(software_public_operations=software_public)
    path.write_text('[[provider]]\nprovider_type = "software"\n\n' + table, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hsm() -> Iterator[Hsm]:
    state = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    token = make_token(state)
    os.environ["SOFTHSM2_CONF"] = str(token.conf)  # for the direct python-pkcs11 checks
    config = _config(state, token)
    service = start_service(state / "d", "--auth", "direct", config=config, env=token.env)
    hsm = Hsm(state, token, config, token.env, service)
    try:
        yield hsm
    finally:
        stop_service(hsm.service)
        os.environ.pop("SOFTHSM2_CONF", None)
        shutil.rmtree(state, ignore_errors=True)


def token_objects(key_ids: list[bytes] | None = None) -> int:
    """How many objects the token holds (with the given ids), seen with python-pkcs11."""
    import pkcs11
    from pkcs11 import Attribute

    assert LIBRARY is not None
    token = pkcs11.lib(LIBRARY).get_token(token_label="tessera")
    with token.open(user_pin="1234") as session:
        if key_ids is None:
            return len(list(session.get_objects()))
        return sum(len(list(session.get_objects({Attribute.ID: i}))) for i in key_ids)


def token_private_flags() -> set[tuple[bool, bool]]:
    """(CKA_SENSITIVE, CKA_EXTRACTABLE) of every private and secret key on the token."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    assert LIBRARY is not None
    token = pkcs11.lib(LIBRARY).get_token(token_label="tessera")
    with token.open(user_pin="1234") as session:
        return {
            (bool(o[Attribute.SENSITIVE]), bool(o[Attribute.EXTRACTABLE]))
            for kind in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY)
            for o in session.get_objects({Attribute.CLASS: kind})
        }


def test_what_the_token_adds_and_lacks(hsm: Hsm) -> None:
    """Beyond tests/conformance: imported private keys become sensitive, non-extractable token
    objects; SoftHSM2's only OAEP (SHA-1) is a deprecated primitive; binary curves are refused."""
    alg = sign("ecdsa", SHA256)
    private = ec.generate_private_key(ec.SECP256R1())
    pair = attributes(
        "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, sign_hash=True
    )
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    hsm.wire.ok(
        Opcode.PSA_IMPORT_KEY,
        psa_import_key_pb2.Operation(key_name="p", attributes=pair, data=scalar),
    )
    hsm.wire.generate("g", pair)
    assert token_private_flags() == {(True, False)}
    sha1 = attributes(
        "rsa_key_pair", 2048, A(asymmetric_encryption=oaep(A.Hash.SHA_1)), decrypt=True
    )
    op = psa_generate_key_pb2.Operation(key_name="oaep1", attributes=sha1)
    assert hsm.wire.fails(Opcode.PSA_GENERATE_KEY, op) is Status.DEPRECATED_PRIMITIVE
    binary = attributes(
        "ecc_key_pair",
        256,
        A(asymmetric_signature=alg),
        family=psa_key_attributes_pb2.KeyType.SECT_K1,
        sign_hash=True,
    )
    op = psa_generate_key_pb2.Operation(key_name="k1", attributes=binary)
    assert hsm.wire.fails(Opcode.PSA_GENERATE_KEY, op) is Status.PSA_ERROR_NOT_SUPPORTED


def test_isolation_restart_destroy_and_delete_client(hsm: Hsm) -> None:
    alg = sign("ecdsa", SHA256)
    attrs = attributes(
        "ecc_key_pair",
        256,
        A(asymmetric_signature=alg),
        family=SECP_R1,
        sign_hash=True,
        verify_hash=True,
    )
    hsm.wire.generate("same", attrs, app="app-a")
    hsm.wire.generate("same", attrs, app="app-b")
    pub_a, pub_b = hsm.wire.public("same", "app-a"), hsm.wire.public("same", "app-b")
    assert pub_a != pub_b
    assert (
        hsm.wire.fails(
            Opcode.PSA_EXPORT_PUBLIC_KEY,
            psa_export_public_key_pb2.Operation(key_name="same"),
            app="app-c",
        )
        is Status.PSA_ERROR_DOES_NOT_EXIST
    )
    # Token objects carry random ids, never the application's name.
    import pkcs11
    from pkcs11 import Attribute

    assert LIBRARY is not None
    with pkcs11.lib(LIBRARY).get_token(token_label="tessera").open(user_pin="1234") as session:
        labels = [o[Attribute.LABEL] for o in session.get_objects()]
        ids = {
            bytes(o[Attribute.ID])
            for o in session.get_objects({Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY})
        }
    assert not any("app-" in label or "same" in label for label in labels)
    # Restart, with public operations in software this time: keys survive.
    stop_service(hsm.service)
    config = _config(hsm.state, hsm.token, software_public=True)
    hsm.service = start_service(hsm.state / "d", "--auth", "direct", config=config, env=hsm.env)
    assert hsm.wire.public("same", "app-a") == pub_a
    sig = hsm.wire.ok(
        Opcode.PSA_SIGN_HASH,
        psa_sign_hash_pb2.Operation(key_name="same", alg=alg, hash=bytes(32)),
        "app-a",
    ).signature
    hsm.wire.ok(
        Opcode.PSA_VERIFY_HASH,
        psa_verify_hash_pb2.Operation(key_name="same", alg=alg, hash=bytes(32), signature=sig),
        "app-a",
    )
    assert (
        hsm.wire.fails(
            Opcode.PSA_VERIFY_HASH,
            psa_verify_hash_pb2.Operation(key_name="same", alg=alg, hash=bytes(32), signature=sig),
            "app-b",
        )
        is Status.PSA_ERROR_INVALID_SIGNATURE
    )
    # DestroyKey removes the objects.
    before = token_objects()
    hsm.wire.ok(Opcode.PSA_DESTROY_KEY, psa_destroy_key_pb2.Operation(key_name="same"), "app-b")
    assert token_objects() == before - 2
    # DeleteClient (admin) removes app-a's rows and token objects.
    stop_service(hsm.service)
    hsm.service = start_service(
        hsm.state / "d", "--auth", "direct", "--admin", "root", config=config, env=hsm.env
    )
    hsm.wire.generate("second", attrs, app="app-a")
    before = token_objects()
    response = hsm.service.call(
        request_bytes(
            Opcode.DELETE_CLIENT, delete_client_pb2.Operation(client="app-a"), **direct("root")
        )
    )
    assert Status(response.header.status) is Status.SUCCESS
    assert token_objects() == before - 4
    assert (
        hsm.wire.fails(
            Opcode.PSA_EXPORT_PUBLIC_KEY,
            psa_export_public_key_pb2.Operation(key_name="same"),
            app="app-a",
        )
        is Status.PSA_ERROR_DOES_NOT_EXIST
    )
    assert ids


def test_config_validation(hsm: Hsm, tmp_path: Path) -> None:
    from tessera.service.builder import build

    base = {
        "provider_type": "pkcs11",
        "library_path": LIBRARY,
        "token_label": "tessera",
        "user_pin": "1234",
    }

    def build_with(**changes: Any) -> None:
        entry = {**base, **changes}
        entry = {k: v for k, v in entry.items() if v is not None}
        config = parse_config({"core_settings": {"state_dir": str(tmp_path)}, "provider": [entry]})
        build(config).close()

    build_with()  # the good one
    with pytest.raises(ConfigError, match="no PKCS#11 library"):
        build_with(library_path="/nonexistent/lib.so")
    with pytest.raises(ConfigError, match="no token with label 'nope'"):
        build_with(token_label="nope")
    with pytest.raises(ConfigError, match="login") as caught:
        build_with(user_pin="0000")
    assert "0000" not in str(caught.value)
    with pytest.raises(ConfigError, match="library_path is required"):
        build_with(library_path=None)
    with pytest.raises(ConfigError, match="user_pin"):
        build_with(user_pin=None)
    pin = tmp_path / "pin"
    pin.write_text("1234")
    pin.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        build_with(user_pin=None, user_pin_file=str(pin))
    pin.chmod(0o600)
    if os.geteuid() == 0:  # a PIN file another user owns could have been planted
        os.chown(pin, 65534, 65534)
        with pytest.raises(ConfigError, match="belongs to uid 65534"):
            build_with(user_pin=None, user_pin_file=str(pin))
        os.chown(pin, 0, 0)
    build_with(user_pin=None, user_pin_file=str(pin))
    parsed = parse_config({"provider": [base]}).providers[0]
    assert parsed.provider_id == 2
    assert "1234" not in repr(parsed)
