"""The software provider through the real daemon: what only it does (ciphers, MACs, key
agreement, OAEP labels, keyless operations), ListOpcodes, isolation of exported secrets,
persistence across restarts, and kill -9 during key creation and destruction. What every
provider shares is in tests/conformance."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from google.protobuf.message import Message

from tessera.wire.contracts import decode_result
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    attest_key_pb2,
    can_do_crypto_pb2,
    list_keys_pb2,
    list_opcodes_pb2,
    prepare_key_attestation_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_cipher_decrypt_pb2,
    psa_cipher_encrypt_pb2,
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_hash_compare_pb2,
    psa_hash_compute_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
    psa_mac_compute_pb2,
    psa_mac_verify_pb2,
    psa_raw_key_agreement_pb2,
    psa_sign_message_pb2,
)
from tessera.wire.status import Status
from tests.support import (
    RunningService,
    direct,
    request_bytes,
    start_service,
    stop_service,
)
from tests.unit.software.builders import (
    MONTGOMERY,
    SECP_R1,
    A,
    attributes,
    ecdh,
    hmac,
    oaep,
    sign,
    sign_policy,
)

AUTH = ("--auth", "direct,unix-peer")  # the tests name their applications directly

pytestmark = pytest.mark.integration

SOFTWARE = 1


def short_dir() -> Path:
    """A state directory with a short path (Unix socket paths are limited)."""
    return Path(tempfile.mkdtemp(prefix="tsw-", dir="/tmp"))


def call(
    service: RunningService, opcode: Opcode, op: Message, app: str | None = "alice"
) -> tuple[Status, Message | None]:
    """One request; the status, and the decoded result on success."""
    provider = 0 if opcode.is_core else SOFTWARE
    # As Tessera's own client: it knows the extensions (MAC opcodes in ListOpcodes).
    if app is None:
        request = request_bytes(opcode, op, provider=provider, extensions=True)
    else:
        request = request_bytes(opcode, op, provider=provider, extensions=True, **direct(app))
    response = service.call(request)
    status = Status(response.header.status)
    return status, decode_result(opcode, response.body) if status is Status.SUCCESS else None


def ok(service: RunningService, opcode: Opcode, op: Message, app: str = "alice") -> Message:
    status, result = call(service, opcode, op, app)
    assert status is Status.SUCCESS, f"{opcode.name}: {status.name}"
    assert result is not None
    return result


def fails(service: RunningService, opcode: Opcode, op: Message, app: str = "alice") -> Status:
    status, _ = call(service, opcode, op, app)
    assert status is not Status.SUCCESS
    return status


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    """One daemon for the module."""
    state = short_dir()
    running = start_service(state, *AUTH)
    try:
        yield running
    finally:
        stop_service(running)
        shutil.rmtree(state, ignore_errors=True)


def generate(
    service: RunningService,
    name: str,
    attrs: psa_key_attributes_pb2.KeyAttributes,
    app: str = "alice",
) -> Status:
    op = psa_generate_key_pb2.Operation(key_name=name, attributes=attrs)
    status, _ = call(service, Opcode.PSA_GENERATE_KEY, op, app)
    return status


def test_every_software_opcode_is_listed(service: RunningService) -> None:
    listed = ok(service, Opcode.LIST_OPCODES, list_opcodes_pb2.Operation(provider_id=SOFTWARE))
    assert isinstance(listed, list_opcodes_pb2.Result)
    expected = {op for op in Opcode if op.name.startswith("PSA_") or op is Opcode.CAN_DO_CRYPTO}
    assert set(listed.opcodes) == {int(op) for op in expected}


# What only the software provider does, one case each (the operations every provider shares,
# signatures and AEADs among them, are in tests/conformance).

CRYPT = {"encrypt": True, "decrypt": True}


def _oaep_with_label(service: RunningService) -> None:
    alg = oaep(A.SHA_256)
    attrs = attributes("rsa_key_pair", 2048, A(asymmetric_encryption=alg), **CRYPT)
    assert generate(service, "rsa", attrs) is Status.SUCCESS
    op = psa_asymmetric_encrypt_pb2.Operation(key_name="rsa", alg=alg, plaintext=b"p", salt=b"l")
    sealed = ok(service, Opcode.PSA_ASYMMETRIC_ENCRYPT, op)
    assert isinstance(sealed, psa_asymmetric_encrypt_pb2.Result)
    back = psa_asymmetric_decrypt_pb2.Operation(
        key_name="rsa", alg=alg, ciphertext=sealed.ciphertext, salt=b"l"
    )
    opened = ok(service, Opcode.PSA_ASYMMETRIC_DECRYPT, back)
    assert isinstance(opened, psa_asymmetric_decrypt_pb2.Result) and opened.plaintext == b"p"
    back.salt = b""
    assert fails(service, Opcode.PSA_ASYMMETRIC_DECRYPT, back) is Status.PSA_ERROR_INVALID_PADDING


def _cbc_pkcs7(service: RunningService) -> None:
    attrs = attributes("aes", 128, A(cipher=A.CBC_PKCS7), **CRYPT)
    assert generate(service, "cbc", attrs) is Status.SUCCESS
    op = psa_cipher_encrypt_pb2.Operation(key_name="cbc", alg=A.CBC_PKCS7, plaintext=b"hello")
    ciphered = ok(service, Opcode.PSA_CIPHER_ENCRYPT, op)
    assert isinstance(ciphered, psa_cipher_encrypt_pb2.Result) and len(ciphered.ciphertext) == 32
    back = psa_cipher_decrypt_pb2.Operation(
        key_name="cbc", alg=A.CBC_PKCS7, ciphertext=ciphered.ciphertext
    )
    plain = ok(service, Opcode.PSA_CIPHER_DECRYPT, back)
    assert isinstance(plain, psa_cipher_decrypt_pb2.Result) and plain.plaintext == b"hello"


def _hmac(service: RunningService) -> None:
    mac = hmac(A.SHA_256)
    attrs = attributes("hmac", 256, A(mac=mac), sign_message=True, verify_message=True)
    assert generate(service, "mac", attrs) is Status.SUCCESS
    op = psa_mac_compute_pb2.Operation(key_name="mac", alg=mac, input=b"data")
    tag = ok(service, Opcode.PSA_MAC_COMPUTE, op)
    assert isinstance(tag, psa_mac_compute_pb2.Result) and len(tag.mac) == 32
    check = psa_mac_verify_pb2.Operation(key_name="mac", alg=mac, input=b"data", mac=tag.mac)
    ok(service, Opcode.PSA_MAC_VERIFY, check)
    check.input = b"date"
    assert fails(service, Opcode.PSA_MAC_VERIFY, check) is Status.PSA_ERROR_INVALID_SIGNATURE


def _x25519(service: RunningService) -> None:
    attrs = attributes("ecc_key_pair", 255, ecdh(), family=MONTGOMERY, derive=True)
    assert generate(service, "x", attrs) is Status.SUCCESS
    op = psa_export_public_key_pb2.Operation(key_name="x")
    ours = ok(service, Opcode.PSA_EXPORT_PUBLIC_KEY, op)
    assert isinstance(ours, psa_export_public_key_pb2.Result)
    peer = x25519.X25519PrivateKey.generate()
    agree = psa_raw_key_agreement_pb2.Operation(
        alg=A.KeyAgreement.ECDH,
        private_key_name="x",
        peer_key=peer.public_key().public_bytes_raw(),
    )
    shared = ok(service, Opcode.PSA_RAW_KEY_AGREEMENT, agree)
    assert isinstance(shared, psa_raw_key_agreement_pb2.Result)
    ours_key = x25519.X25519PublicKey.from_public_bytes(ours.data)
    assert shared.shared_secret == peer.exchange(ours_key)


def _secret_import_export(service: RunningService) -> None:
    attrs, data = attributes("aes", 0, export=True), os.urandom(16)
    op = psa_import_key_pb2.Operation(key_name="imp", attributes=attrs, data=data)
    ok(service, Opcode.PSA_IMPORT_KEY, op)
    assert fails(service, Opcode.PSA_IMPORT_KEY, op) is Status.PSA_ERROR_ALREADY_EXISTS
    exported = ok(service, Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name="imp"))
    assert isinstance(exported, psa_export_key_pb2.Result) and exported.data == data


def _can_do_crypto_refuses_deprecated(service: RunningService) -> None:
    check = can_do_crypto_pb2.Operation(
        check_type=can_do_crypto_pb2.GENERATE, attributes=attributes("aes", 256)
    )
    ok(service, Opcode.CAN_DO_CRYPTO, check)
    check.attributes.CopyFrom(
        attributes(
            "ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_1), family=SECP_R1, sign_hash=True
        )
    )
    assert fails(service, Opcode.CAN_DO_CRYPTO, check) is Status.PSA_ERROR_NOT_SUPPORTED


def _keyless_hashes(service: RunningService) -> None:
    op = psa_hash_compute_pb2.Operation(alg=A.SHA_256, input=b"abc")
    hashed = ok(service, Opcode.PSA_HASH_COMPUTE, op)
    assert isinstance(hashed, psa_hash_compute_pb2.Result)
    assert hashed.hash.hex().startswith("ba7816bf")  # FIPS 180-2 example "abc"
    compare = psa_hash_compare_pb2.Operation(alg=A.SHA_256, input=b"abc", hash=hashed.hash)
    ok(service, Opcode.PSA_HASH_COMPARE, compare)
    compare.input = b"abd"
    assert fails(service, Opcode.PSA_HASH_COMPARE, compare) is Status.PSA_ERROR_INVALID_SIGNATURE


def _no_attestation(service: RunningService) -> None:
    prepare = prepare_key_attestation_pb2.Operation()
    assert fails(service, Opcode.PREPARE_KEY_ATTESTATION, prepare) is Status.PSA_ERROR_NOT_SUPPORTED
    assert fails(service, Opcode.ATTEST_KEY, attest_key_pb2.Operation()) is (
        Status.PSA_ERROR_NOT_SUPPORTED
    )


def _needs_authentication(service: RunningService) -> None:
    op = psa_generate_key_pb2.Operation(key_name="k", attributes=attributes("aes", 128))
    status, _ = call(service, Opcode.PSA_GENERATE_KEY, op, app=None)
    assert status is Status.NOT_AUTHENTICATED


SOFTWARE_ONLY = {
    "oaep-with-label": _oaep_with_label,
    "aes-cbc-pkcs7": _cbc_pkcs7,
    "hmac-sha256": _hmac,
    "x25519": _x25519,
    "secret-import-export": _secret_import_export,
    "can-do-crypto-refuses-deprecated": _can_do_crypto_refuses_deprecated,
    "keyless-hashes": _keyless_hashes,
    "no-attestation": _no_attestation,
    "needs-authentication": _needs_authentication,
}


@pytest.mark.parametrize("case", sorted(SOFTWARE_ONLY))
def test_software_only_operation(service: RunningService, case: str) -> None:
    SOFTWARE_ONLY[case](service)


def test_applications_are_isolated(service: RunningService) -> None:
    attrs = attributes("aes", 0, export=True, encrypt=True)
    for app, data in (("iso-a", b"a" * 16), ("iso-b", b"b" * 16)):
        ok(
            service,
            Opcode.PSA_IMPORT_KEY,
            psa_import_key_pb2.Operation(key_name="same", attributes=attrs, data=data),
            app=app,
        )
    for app, data in (("iso-a", b"a" * 16), ("iso-b", b"b" * 16)):
        exported = ok(
            service, Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name="same"), app=app
        )
        assert isinstance(exported, psa_export_key_pb2.Result) and exported.data == data
    ok(service, Opcode.PSA_DESTROY_KEY, psa_destroy_key_pb2.Operation(key_name="same"), app="iso-b")
    exported = ok(
        service, Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name="same"), app="iso-a"
    )
    assert isinstance(exported, psa_export_key_pb2.Result) and exported.data == b"a" * 16
    for op_code, op in (
        (Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name="same")),
        (Opcode.PSA_DESTROY_KEY, psa_destroy_key_pb2.Operation(key_name="same")),
        (
            Opcode.PSA_CIPHER_ENCRYPT,
            psa_cipher_encrypt_pb2.Operation(key_name="same", alg=A.CTR, plaintext=b"x"),
        ),
    ):
        assert fails(service, op_code, op, app="iso-b") is Status.PSA_ERROR_DOES_NOT_EXIST
    listed = ok(service, Opcode.LIST_KEYS, list_keys_pb2.Operation(), app="iso-b")
    assert isinstance(listed, list_keys_pb2.Result) and [k.name for k in listed.keys] == []
    listed = ok(service, Opcode.LIST_KEYS, list_keys_pb2.Operation(), app="iso-a")
    assert isinstance(listed, list_keys_pb2.Result) and [k.name for k in listed.keys] == ["same"]


def test_keys_survive_a_restart() -> None:
    state = short_dir()
    try:
        first = start_service(state, *AUTH)
        alg = sign("deterministic_ecdsa", A.SHA_256)
        attrs = attributes(
            "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, sign_message=True
        )
        assert generate(first, "kept", attrs) is Status.SUCCESS
        op = psa_sign_message_pb2.Operation(key_name="kept", alg=alg, message=b"m")
        before = ok(first, Opcode.PSA_SIGN_MESSAGE, op)
        assert stop_service(first) == 0
        second = start_service(state, *AUTH)
        try:
            # Deterministic ECDSA: the same key gives the same signature after the restart.
            assert ok(second, Opcode.PSA_SIGN_MESSAGE, op) == before
            assert (state / "kek").stat().st_mode & 0o777 == 0o600
        finally:
            stop_service(second)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _churn(service: RunningService, stop: threading.Event, prefix: str) -> None:
    """Create and destroy keys as fast as possible until told to stop (or the daemon dies)."""
    ecc = attributes(
        "ecc_key_pair",
        256,
        sign_policy("ecdsa", A.SHA_256),
        family=SECP_R1,
        sign_message=True,
        export=True,
    )
    aes = attributes("aes", 128, export=True)
    index = 0
    while not stop.is_set():
        try:
            generate(service, f"{prefix}{index}", ecc if index % 2 else aes, app="crash")
            if index % 3 == 0:
                call(
                    service,
                    Opcode.PSA_DESTROY_KEY,
                    psa_destroy_key_pb2.Operation(key_name=f"{prefix}{index}"),
                    app="crash",
                )
        except (OSError, ConnectionError):
            return
        index += 1


def test_kill_9_during_key_creation_leaves_whole_keys_or_none() -> None:
    state = short_dir()
    rng = random.Random(7)
    try:
        for round_number in range(5):
            service = start_service(state, *AUTH)
            stop = threading.Event()
            workers = [
                threading.Thread(target=_churn, args=(service, stop, f"r{round_number}w{w}-"))
                for w in range(3)
            ]
            for worker in workers:
                worker.start()
            time.sleep(rng.uniform(0.1, 0.4))
            service.kill()  # the whole service, its workers in mid-creation too
            stop.set()
            for worker in workers:
                worker.join(10)
            restarted = start_service(state, *AUTH)
            try:
                listed = ok(restarted, Opcode.LIST_KEYS, list_keys_pb2.Operation(), app="crash")
                assert isinstance(listed, list_keys_pb2.Result)
                assert listed.keys, "no key was created before the kill"
                for info in listed.keys:
                    exported = ok(
                        restarted,
                        Opcode.PSA_EXPORT_KEY,
                        psa_export_key_pb2.Operation(key_name=info.name),
                        app="crash",
                    )
                    assert isinstance(exported, psa_export_key_pb2.Result) and exported.data
                    if info.attributes.key_type.WhichOneof("variant") == "ecc_key_pair":
                        alg = sign("ecdsa", A.SHA_256)
                        ok(
                            restarted,
                            Opcode.PSA_SIGN_MESSAGE,
                            psa_sign_message_pb2.Operation(
                                key_name=info.name, alg=alg, message=b"m"
                            ),
                            app="crash",
                        )
                    else:
                        assert len(exported.data) == 16
                # Names that do not list do not exist in any half-made form either.
                listed_names = {k.name for k in listed.keys}
                for w in range(3):
                    name = f"r{round_number}w{w}-0"
                    if name not in listed_names:
                        status, _ = call(
                            restarted,
                            Opcode.PSA_EXPORT_KEY,
                            psa_export_key_pb2.Operation(key_name=name),
                            app="crash",
                        )
                        assert status is Status.PSA_ERROR_DOES_NOT_EXIST
            finally:
                stop_service(restarted)
    finally:
        shutil.rmtree(state, ignore_errors=True)
