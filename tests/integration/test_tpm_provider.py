"""The TPM provider through the real daemon, against a temporary swtpm: every supported
operation, signatures and ciphertexts checked with `cryptography`, policy refusals, isolation,
restart, destroy, CanDoCrypto, and `skip_if_no_tpm`."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tessera.wire.contracts import decode_result
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    attest_key_pb2,
    can_do_crypto_pb2,
    list_opcodes_pb2,
    list_providers_pb2,
    prepare_key_attestation_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_destroy_key_pb2,
    psa_export_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
    psa_generate_random_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status
from tests.integration.provider_calls import ProviderCalls, sign_flags
from tests.support import RunningService, direct, request_bytes, start_service, stop_service
from tests.unit.software.builders import SECP_R1, A, attributes, oaep, pkcs1v15_crypt, sign

pytestmark = pytest.mark.integration

TPM = 3
if importlib.util.find_spec("tpm2_pytss") is None:
    pytest.skip(
        "tpm2-pytss is not installed (scripts/bootstrap installs it when libtss2-dev is present "
        "or installable): TPM tests skipped",
        allow_module_level=True,
    )
if shutil.which("swtpm") is None:
    pytest.skip(
        "swtpm is not installed (scripts/bootstrap installs it as root): TPM tests skipped",
        allow_module_level=True,
    )

SHA256 = A.Hash.SHA_256


@dataclass
class Swtpm:
    """A temporary swtpm and a daemon using it."""

    state: Path
    port: int
    config: Path
    service: RunningService

    @property
    def wire(self) -> ProviderCalls:
        """Requests to the provider under test."""
        return ProviderCalls(self.service, TPM)


def _free_port_pair() -> int:
    """A port p with p and p + 1 both free (swtpm's server and control ports)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("swtpm exited early")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError("swtpm did not start")


def _config(state: Path, tcti: str, *, skip: bool | None = None) -> Path:
    path = state / ("config.toml" if skip is None else f"config-skip-{skip}.toml")
    option = "" if skip is None else f"skip_if_no_tpm = {'true' if skip else 'false'}\n"
    path.write_text(
        f"""
[[provider]]
provider_type = "software"

[[provider]]
provider_type = "tpm"
tcti = "{tcti}"
{option}""",
        encoding="utf-8",
    )
    return path


def _start_swtpm(state: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A swtpm on a free port pair, state in `state`, listening when this returns."""
    state.mkdir(parents=True, exist_ok=True)
    port = _free_port_pair()
    process = subprocess.Popen(
        [
            "swtpm",
            "socket",
            "--tpm2",
            "--tpmstate",
            f"dir={state}",
            "--server",
            f"type=tcp,port={port},bindaddr=127.0.0.1",
            "--ctrl",
            f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
            "--flags",
            "startup-clear",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process)
    except BaseException:
        _stop_swtpm(process)
        raise
    return process, port


def _stop_swtpm(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def tpm() -> Iterator[Swtpm]:
    state = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    swtpm, port = _start_swtpm(state / "tpm")
    service = None
    try:
        config = _config(state, f"swtpm:host=127.0.0.1,port={port}")
        service = start_service(state / "d", "--auth", "direct", config=config)
        fixture = Swtpm(state, port, config, service)
        yield fixture
        service = fixture.service
    finally:
        if service is not None:
            stop_service(service)
        _stop_swtpm(swtpm)
        shutil.rmtree(state, ignore_errors=True)


def _rsa(der: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(der)  # PKCS#1 RSAPublicKey
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def test_list_providers_and_opcodes(tpm: Swtpm) -> None:
    result = tpm.wire.ok(Opcode.LIST_PROVIDERS, list_providers_pb2.Operation())
    uuids = {p.id: p.uuid for p in result.providers}
    assert uuids[TPM] == "1e4954a4-ff21-46d3-ab0c-661eeb667e1d"
    listed = tpm.wire.ok(Opcode.LIST_OPCODES, list_opcodes_pb2.Operation(provider_id=TPM))
    opcodes = set(listed.opcodes)
    assert Opcode.PSA_SIGN_HASH in opcodes
    assert Opcode.PSA_AEAD_ENCRYPT not in opcodes
    assert Opcode.ATTEST_KEY in opcodes


@pytest.mark.parametrize("bits", [256, 384])
def test_ecdsa(tpm: Swtpm, bits: int) -> None:
    hash_alg, chash = (
        (SHA256, hashes.SHA256()) if bits == 256 else (A.Hash.SHA_384, hashes.SHA384())
    )
    alg = sign("ecdsa", hash_alg)
    name = f"ec{bits}"
    tpm.wire.generate(
        name,
        attributes(
            "ecc_key_pair", bits, A(asymmetric_signature=alg), family=SECP_R1, **sign_flags()
        ),
    )
    curve = ec.SECP256R1() if bits == 256 else ec.SECP384R1()
    key = ec.EllipticCurvePublicKey.from_encoded_point(curve, tpm.wire.public(name))
    digest = hashes.Hash(chash)
    digest.update(b"message")
    hash_value = digest.finalize()
    size = (bits + 7) // 8
    for _ in range(3):  # r or s with leading zero bytes must still be full length
        sig = tpm.wire.ok(
            Opcode.PSA_SIGN_HASH,
            psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=hash_value),
        ).signature
        assert len(sig) == 2 * size
        der = utils.encode_dss_signature(
            int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
        )
        key.verify(der, b"message", ec.ECDSA(chash))
    tpm.wire.ok(
        Opcode.PSA_VERIFY_HASH,
        psa_verify_hash_pb2.Operation(key_name=name, alg=alg, hash=hash_value, signature=sig),
    )
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    assert (
        tpm.wire.fails(
            Opcode.PSA_VERIFY_HASH,
            psa_verify_hash_pb2.Operation(key_name=name, alg=alg, hash=hash_value, signature=bad),
        )
        is Status.PSA_ERROR_INVALID_SIGNATURE
    )
    msig = tpm.wire.ok(
        Opcode.PSA_SIGN_MESSAGE,
        psa_sign_message_pb2.Operation(key_name=name, alg=alg, message=b"m2"),
    ).signature
    der = utils.encode_dss_signature(
        int.from_bytes(msig[:size], "big"), int.from_bytes(msig[size:], "big")
    )
    key.verify(der, b"m2", ec.ECDSA(chash))
    tpm.wire.ok(
        Opcode.PSA_VERIFY_MESSAGE,
        psa_verify_message_pb2.Operation(key_name=name, alg=alg, message=b"m2", signature=msig),
    )


def test_rsa_signatures(tpm: Swtpm) -> None:
    pkcs1 = sign("rsa_pkcs1v15_sign", SHA256)
    pss = sign("rsa_pss", SHA256)
    tpm.wire.generate(
        "rsa-pkcs1",
        attributes("rsa_key_pair", 2048, A(asymmetric_signature=pkcs1), **sign_flags()),
    )
    tpm.wire.generate(
        "rsa-pss",
        attributes("rsa_key_pair", 2048, A(asymmetric_signature=pss), **sign_flags()),
    )
    for name, alg, pad in (
        ("rsa-pkcs1", pkcs1, padding.PKCS1v15()),
        ("rsa-pss", pss, padding.PSS(padding.MGF1(hashes.SHA256()), 32)),
    ):
        key = _rsa(tpm.wire.public(name))
        assert key.key_size == 2048
        sig = tpm.wire.ok(
            Opcode.PSA_SIGN_MESSAGE,
            psa_sign_message_pb2.Operation(key_name=name, alg=alg, message=b"hello"),
        ).signature
        key.verify(sig, b"hello", pad, hashes.SHA256())
        hsig = tpm.wire.ok(
            Opcode.PSA_SIGN_HASH,
            psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=_sha256(b"h")),
        ).signature
        key.verify(hsig, b"h", pad, hashes.SHA256())
        tpm.wire.ok(
            Opcode.PSA_VERIFY_HASH,
            psa_verify_hash_pb2.Operation(
                key_name=name, alg=alg, hash=_sha256(b"h"), signature=hsig
            ),
        )
        tpm.wire.ok(
            Opcode.PSA_VERIFY_MESSAGE,
            psa_verify_message_pb2.Operation(
                key_name=name, alg=alg, message=b"hello", signature=sig
            ),
        )
        assert (
            tpm.wire.fails(
                Opcode.PSA_VERIFY_MESSAGE,
                psa_verify_message_pb2.Operation(
                    key_name=name, alg=alg, message=b"other", signature=sig
                ),
            )
            is Status.PSA_ERROR_INVALID_SIGNATURE
        )


def test_rsa_encryption(tpm: Swtpm) -> None:
    crypt_flags = {"encrypt": True, "decrypt": True}
    for name, enc, pad in (
        ("rsa-v15", pkcs1v15_crypt(), padding.PKCS1v15()),
        (
            "rsa-oaep",
            oaep(SHA256),
            padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
        ),
    ):
        tpm.wire.generate(
            name, attributes("rsa_key_pair", 2048, A(asymmetric_encryption=enc), **crypt_flags)
        )
        ct = tpm.wire.ok(
            Opcode.PSA_ASYMMETRIC_ENCRYPT,
            psa_asymmetric_encrypt_pb2.Operation(key_name=name, alg=enc, plaintext=b"secret"),
        ).ciphertext
        pt = tpm.wire.ok(
            Opcode.PSA_ASYMMETRIC_DECRYPT,
            psa_asymmetric_decrypt_pb2.Operation(key_name=name, alg=enc, ciphertext=ct),
        ).plaintext
        assert pt == b"secret"
        ours = _rsa(tpm.wire.public(name)).encrypt(b"from outside", pad)
        pt = tpm.wire.ok(
            Opcode.PSA_ASYMMETRIC_DECRYPT,
            psa_asymmetric_decrypt_pb2.Operation(key_name=name, alg=enc, ciphertext=ours),
        ).plaintext
        assert pt == b"from outside"
        assert (
            tpm.wire.fails(
                Opcode.PSA_ASYMMETRIC_DECRYPT,
                psa_asymmetric_decrypt_pb2.Operation(key_name=name, alg=enc, ciphertext=bytes(256)),
            )
            is Status.PSA_ERROR_INVALID_PADDING
        )
    # OAEP labels are refused rather than given the TPM's NUL-terminated label semantics.
    op = psa_asymmetric_encrypt_pb2.Operation(
        key_name="rsa-oaep", alg=oaep(SHA256), plaintext=b"x", salt=b"label"
    )
    assert tpm.wire.fails(Opcode.PSA_ASYMMETRIC_ENCRYPT, op) is Status.PSA_ERROR_NOT_SUPPORTED


def test_rsa_3072_if_supported(tpm: Swtpm) -> None:
    alg = sign("rsa_pss", SHA256)
    attrs = attributes("rsa_key_pair", 3072, A(asymmetric_signature=alg), **sign_flags())
    status, _ = tpm.wire.call(
        Opcode.CAN_DO_CRYPTO,
        can_do_crypto_pb2.Operation(check_type=can_do_crypto_pb2.GENERATE, attributes=attrs),
    )
    if status is not Status.SUCCESS:
        pytest.skip("this swtpm does not create 3072-bit RSA keys")
    tpm.wire.generate("rsa3072", attrs)
    sig = tpm.wire.ok(
        Opcode.PSA_SIGN_MESSAGE,
        psa_sign_message_pb2.Operation(key_name="rsa3072", alg=alg, message=b"big"),
    ).signature
    key = _rsa(tpm.wire.public("rsa3072"))
    assert key.key_size == 3072
    key.verify(sig, b"big", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


def test_import_public_export_and_random(tpm: Swtpm) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    alg = sign("ecdsa", SHA256)
    attrs = attributes(
        "ecc_public_key",
        256,
        A(asymmetric_signature=alg),
        family=SECP_R1,
        verify_hash=True,
        verify_message=True,
        export=True,
    )
    tpm.wire.ok(
        Opcode.PSA_IMPORT_KEY,
        psa_import_key_pb2.Operation(key_name="imported", attributes=attrs, data=point),
    )
    assert tpm.wire.public("imported") == point
    exported = tpm.wire.ok(Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name="imported"))
    assert exported.data == point
    der = private.sign(b"msg", ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    tpm.wire.ok(
        Opcode.PSA_VERIFY_MESSAGE,
        psa_verify_message_pb2.Operation(
            key_name="imported", alg=alg, message=b"msg", signature=sig
        ),
    )
    # An imported RSA public key encrypts.
    rsa_private = rsa.generate_private_key(65537, 2048)
    rsa_der = rsa_private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    enc_attrs = attributes(
        "rsa_public_key", 2048, A(asymmetric_encryption=pkcs1v15_crypt()), encrypt=True
    )
    tpm.wire.ok(
        Opcode.PSA_IMPORT_KEY,
        psa_import_key_pb2.Operation(key_name="rsa-pub", attributes=enc_attrs, data=rsa_der),
    )
    ct = tpm.wire.ok(
        Opcode.PSA_ASYMMETRIC_ENCRYPT,
        psa_asymmetric_encrypt_pb2.Operation(
            key_name="rsa-pub", alg=pkcs1v15_crypt(), plaintext=b"to you"
        ),
    ).ciphertext
    assert rsa_private.decrypt(ct, padding.PKCS1v15()) == b"to you"
    # Private keys are not imported; TPM private keys are never exported.
    pair = attributes(
        "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, sign_hash=True
    )
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    assert (
        tpm.wire.fails(
            Opcode.PSA_IMPORT_KEY,
            psa_import_key_pb2.Operation(key_name="p", attributes=pair, data=scalar),
        )
        is Status.PSA_ERROR_NOT_SUPPORTED
    )
    exportable = attributes(
        "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, export=True
    )
    tpm.wire.generate("exportable", exportable)
    assert (
        tpm.wire.fails(Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name="exportable"))
        is Status.PSA_ERROR_NOT_PERMITTED
    )
    assert (
        tpm.wire.fails(Opcode.PSA_EXPORT_KEY, psa_export_key_pb2.Operation(key_name="ec256"))
        is Status.PSA_ERROR_NOT_PERMITTED
    )
    for size in (0, 1, 48, 1000):  # more than the TPM gives per call
        rnd = tpm.wire.ok(
            Opcode.PSA_GENERATE_RANDOM, psa_generate_random_pb2.Operation(size=size)
        ).random_bytes
        assert len(rnd) == size
    assert len(set(rnd)) > 100


def test_policy_refusals(tpm: Swtpm) -> None:
    alg = sign("ecdsa", SHA256)
    tpm.wire.generate(
        "verify-only",
        attributes(
            "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, verify_hash=True
        ),
    )
    h = bytes(32)
    op = psa_sign_hash_pb2.Operation(key_name="verify-only", alg=alg, hash=h)
    assert tpm.wire.fails(Opcode.PSA_SIGN_HASH, op) is Status.PSA_ERROR_NOT_PERMITTED
    tpm.wire.generate(
        "signer",
        attributes(
            "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, sign_hash=True
        ),
    )
    other = sign("ecdsa", A.Hash.SHA_384)
    op = psa_sign_hash_pb2.Operation(key_name="signer", alg=other, hash=bytes(48))
    assert tpm.wire.fails(Opcode.PSA_SIGN_HASH, op) is Status.PSA_ERROR_NOT_PERMITTED
    op = psa_sign_hash_pb2.Operation(key_name="signer", alg=alg, hash=bytes(20))
    assert tpm.wire.fails(Opcode.PSA_SIGN_HASH, op) is Status.PSA_ERROR_INVALID_ARGUMENT
    wildcard = sign("ecdsa", any_hash=True)
    tpm.wire.generate(
        "wild",
        attributes(
            "ecc_key_pair", 256, A(asymmetric_signature=wildcard), family=SECP_R1, sign_hash=True
        ),
    )
    op = psa_sign_hash_pb2.Operation(
        key_name="wild", alg=sign("ecdsa", A.Hash.SHA_1), hash=bytes(20)
    )
    assert tpm.wire.fails(Opcode.PSA_SIGN_HASH, op) is Status.DEPRECATED_PRIMITIVE
    op = psa_sign_hash_pb2.Operation(
        key_name="wild", alg=sign("ecdsa", A.Hash.SHA_384), hash=bytes(48)
    )
    tpm.wire.ok(Opcode.PSA_SIGN_HASH, op)
    decrypt_only = attributes(
        "rsa_key_pair", 2048, A(asymmetric_encryption=pkcs1v15_crypt()), decrypt=True
    )
    tpm.wire.generate("decrypt-only", decrypt_only)
    op2 = psa_asymmetric_encrypt_pb2.Operation(
        key_name="decrypt-only", alg=pkcs1v15_crypt(), plaintext=b"x"
    )
    assert tpm.wire.fails(Opcode.PSA_ASYMMETRIC_ENCRYPT, op2) is Status.PSA_ERROR_NOT_PERMITTED
    k1 = attributes(
        "ecc_key_pair",
        256,
        A(asymmetric_signature=alg),
        family=psa_key_attributes_pb2.KeyType.SECP_K1,
        sign_hash=True,
    )
    op3 = psa_generate_key_pb2.Operation(key_name="k1", attributes=k1)
    assert tpm.wire.fails(Opcode.PSA_GENERATE_KEY, op3) is Status.PSA_ERROR_NOT_SUPPORTED
    aes = psa_generate_key_pb2.Operation(key_name="aes", attributes=attributes("aes", 128))
    assert tpm.wire.fails(Opcode.PSA_GENERATE_KEY, aes) is Status.PSA_ERROR_NOT_SUPPORTED
    again = psa_generate_key_pb2.Operation(
        key_name="signer", attributes=attributes("rsa_key_pair", 2048)
    )
    assert tpm.wire.fails(Opcode.PSA_GENERATE_KEY, again) is Status.PSA_ERROR_ALREADY_EXISTS


def test_can_do_crypto_is_truthful(tpm: Swtpm) -> None:
    cases = [
        (
            attributes(
                "ecc_key_pair",
                256,
                A(asymmetric_signature=sign("ecdsa", SHA256)),
                family=SECP_R1,
                sign_hash=True,
            ),
            True,
        ),
        (
            attributes(
                "ecc_key_pair",
                256,
                A(asymmetric_signature=sign("deterministic_ecdsa", SHA256)),
                family=SECP_R1,
                sign_hash=True,
            ),
            False,
        ),
        (
            attributes(
                "rsa_key_pair", 2048, A(asymmetric_encryption=pkcs1v15_crypt()), decrypt=True
            ),
            True,
        ),
        (
            attributes("rsa_key_pair", 2048, A(asymmetric_encryption=oaep(SHA256)), decrypt=True),
            True,
        ),
        (attributes("rsa_key_pair", 1024, A(asymmetric_encryption=oaep(SHA256))), False),
        (
            attributes(
                "ecc_key_pair",
                256,
                A(asymmetric_signature=sign("ecdsa", SHA256)),
                family=psa_key_attributes_pb2.KeyType.SECP_K1,
                sign_hash=True,
            ),
            False,
        ),
        (
            attributes(
                "ecc_key_pair",
                256,
                A(asymmetric_signature=sign("ecdsa", A.Hash.SHA3_256)),
                family=SECP_R1,
                sign_hash=True,
            ),
            False,
        ),
    ]
    for index, (attrs, expected) in enumerate(cases):
        status, _ = tpm.wire.call(
            Opcode.CAN_DO_CRYPTO,
            can_do_crypto_pb2.Operation(check_type=can_do_crypto_pb2.GENERATE, attributes=attrs),
        )
        assert (status is Status.SUCCESS) == expected, index
        if not expected:
            assert status is Status.PSA_ERROR_NOT_SUPPORTED
        gstatus, _ = tpm.wire.call(
            Opcode.PSA_GENERATE_KEY,
            psa_generate_key_pb2.Operation(key_name=f"cdc{index}", attributes=attrs),
        )
        if expected:
            assert gstatus is Status.SUCCESS, index
    # What it says can be generated and used, can be: do it.
    tpm.wire.ok(
        Opcode.PSA_SIGN_HASH,
        psa_sign_hash_pb2.Operation(key_name="cdc0", alg=sign("ecdsa", SHA256), hash=bytes(32)),
    )
    for index, enc, pad in (
        (2, pkcs1v15_crypt(), padding.PKCS1v15()),
        (3, oaep(SHA256), padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)),
    ):
        ct = _rsa(tpm.wire.public(f"cdc{index}")).encrypt(b"y", pad)
        pt = tpm.wire.ok(
            Opcode.PSA_ASYMMETRIC_DECRYPT,
            psa_asymmetric_decrypt_pb2.Operation(key_name=f"cdc{index}", alg=enc, ciphertext=ct),
        ).plaintext
        assert pt == b"y"
    use = can_do_crypto_pb2.Operation(
        check_type=can_do_crypto_pb2.USE,
        attributes=attributes(
            "rsa_public_key", 2048, A(asymmetric_encryption=pkcs1v15_crypt()), encrypt=True
        ),
    )
    tpm.wire.ok(Opcode.CAN_DO_CRYPTO, use)


def test_isolation_many_keys_restart_and_destroy(tpm: Swtpm) -> None:
    alg = sign("ecdsa", SHA256)
    attrs = attributes(
        "ecc_key_pair",
        256,
        A(asymmetric_signature=alg),
        family=SECP_R1,
        sign_hash=True,
        verify_hash=True,
    )
    tpm.wire.generate("same", attrs, app="app-a")
    tpm.wire.generate("same", attrs, app="app-b")
    pub_a, pub_b = tpm.wire.public("same", "app-a"), tpm.wire.public("same", "app-b")
    assert pub_a != pub_b
    op = psa_export_public_key_pb2.Operation(key_name="same")
    assert (
        tpm.wire.fails(Opcode.PSA_EXPORT_PUBLIC_KEY, op, app="app-c")
        is Status.PSA_ERROR_DOES_NOT_EXIST
    )
    # More keys in use than the TPM has transient slots: the handle cache evicts and reloads.
    names = [f"k{i}" for i in range(5)]
    for name in names:
        tpm.wire.generate(name, attrs, app="app-a")
    for _ in range(2):
        for name in names:
            sig = tpm.wire.ok(
                Opcode.PSA_SIGN_HASH,
                psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=bytes(32)),
                "app-a",
            ).signature
            tpm.wire.ok(
                Opcode.PSA_VERIFY_HASH,
                psa_verify_hash_pb2.Operation(
                    key_name=name, alg=alg, hash=bytes(32), signature=sig
                ),
                "app-a",
            )
    # Restart against the same TPM: the storage key is re-derived and the blobs load again.
    stop_service(tpm.service)
    tpm.service = start_service(tpm.state / "d", "--auth", "direct", config=tpm.config)
    assert tpm.wire.public("same", "app-a") == pub_a
    sig = tpm.wire.ok(
        Opcode.PSA_SIGN_HASH,
        psa_sign_hash_pb2.Operation(key_name="same", alg=alg, hash=bytes(32)),
        "app-a",
    ).signature
    key_a = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub_a)
    der = utils.encode_dss_signature(
        int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    )
    key_a.verify(der, bytes(32), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    op2 = psa_verify_hash_pb2.Operation(key_name="same", alg=alg, hash=bytes(32), signature=sig)
    assert (
        tpm.wire.fails(Opcode.PSA_VERIFY_HASH, op2, "app-b") is Status.PSA_ERROR_INVALID_SIGNATURE
    )
    # Destroy: gone for app-b, app-a's key of the same name untouched.
    tpm.wire.ok(Opcode.PSA_DESTROY_KEY, psa_destroy_key_pb2.Operation(key_name="same"), "app-b")
    assert (
        tpm.wire.fails(Opcode.PSA_EXPORT_PUBLIC_KEY, op, app="app-b")
        is Status.PSA_ERROR_DOES_NOT_EXIST
    )
    assert tpm.wire.public("same", "app-a") == pub_a


def test_skip_if_no_tpm(tpm: Swtpm) -> None:
    closed = _free_port_pair()
    tcti = f"swtpm:host=127.0.0.1,port={closed}"
    state = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    try:
        skipping = start_service(
            state / "s", "--auth", "direct", config=_config(state, tcti, skip=True)
        )
        try:
            response = skipping.call(
                request_bytes(
                    Opcode.LIST_PROVIDERS, list_providers_pb2.Operation(), **direct("alice")
                )
            )
            listed: Any = decode_result(Opcode.LIST_PROVIDERS, response.body)
            ids = {p.id for p in listed.providers}
            assert TPM not in ids
            assert 1 in ids
            assert "skip_if_no_tpm" in skipping.log()
        finally:
            stop_service(skipping)
        config = _config(state, tcti, skip=False)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tessera.cli.main",
                "service",
                "--socket",
                str(state / "n" / "s.sock"),
                "--state-dir",
                str(state / "n"),
                "--allow-root",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert run.returncode != 0
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, run.stderr
        assert "cannot reach the TPM" in lines[0]
    finally:
        shutil.rmtree(state, ignore_errors=True)


def test_owner_hierarchy_auth(tmp_path: Path) -> None:
    from tessera.config import ConfigError
    from tessera.service.builder import build
    from tessera.service.config import parse_config

    state = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    swtpm, port = _start_swtpm(state / "tpm")
    try:
        tcti = f"swtpm:host=127.0.0.1,port={port}"
        subprocess.run(
            ["tpm2_changeauth", "-T", tcti, "-c", "owner", "hunter2"],
            check=True,
            capture_output=True,
        )

        def build_with(auth: str | None) -> None:
            entry = {"provider_type": "tpm", "tcti": tcti}
            if auth is not None:
                entry["owner_hierarchy_auth"] = auth
            document = {"core_settings": {"state_dir": str(tmp_path)}, "provider": [entry]}
            build(parse_config(document)).close()

        build_with("hunter2")
        build_with("hex:" + b"hunter2".hex())
        with pytest.raises(ConfigError, match="cannot create the storage key") as caught:
            build_with("wrong-auth")
        assert "wrong-auth" not in str(caught.value)
        with pytest.raises(ConfigError, match="cannot create the storage key"):
            build_with(None)
    finally:
        _stop_swtpm(swtpm)
        shutil.rmtree(state, ignore_errors=True)


def test_key_attestation(tpm: Swtpm) -> None:
    import hashlib

    from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_PUBLIC
    from tpm2_pytss.utils import make_credential

    alg = sign("ecdsa", SHA256)
    tpm.wire.generate(
        "attested",
        attributes(
            "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, sign_hash=True
        ),
    )
    prep = prepare_key_attestation_pb2
    params = prep.PrepareKeyAttestationParams(
        activate_credential=prep.PrepareKeyAttestationParams.ActivateCredential(
            attested_key_name="attested"
        )
    )
    prepared = tpm.wire.ok(
        Opcode.PREPARE_KEY_ATTESTATION, prep.Operation(parameters=params)
    ).output.activate_credential
    # The name is nameAlg (SHA-256) || SHA-256(TPMT_PUBLIC), and that public key is the key's.
    assert prepared.name == b"\x00\x0b" + hashlib.sha256(prepared.public).digest()
    area, _ = TPMT_PUBLIC.unmarshal(prepared.public)
    x, y = bytes(area.unique.ecc.x.buffer), bytes(area.unique.ecc.y.buffer)
    point = b"\x04" + x.rjust(32, b"\0") + y.rjust(32, b"\0")
    assert point == tpm.wire.public("attested")
    ek, _ = TPMT_PUBLIC.unmarshal(prepared.attesting_key_pub)
    # The verifier's side, in software: a credential only this TPM can open for this key.
    blob, secret = make_credential(
        TPM2B_PUBLIC(publicArea=ek), b"proof of residency", prepared.name
    )

    def attest(name: str, blob_bytes: bytes, app: str = "alice") -> tuple[Status, Any]:
        mechanism = attest_key_pb2.AttestationMechanismParams(
            activate_credential=attest_key_pb2.AttestationMechanismParams.ActivateCredential(
                credential_blob=blob_bytes, secret=bytes(secret)
            )
        )
        op = attest_key_pb2.Operation(attested_key_name=name, parameters=mechanism)
        return tpm.wire.call(Opcode.ATTEST_KEY, op, app)

    status, result = attest("attested", bytes(blob))
    assert status is Status.SUCCESS
    assert result.output.activate_credential.credential == b"proof of residency"
    # Bound to the key's name: another key cannot open it; other applications see no key.
    tpm.wire.generate(
        "other",
        attributes(
            "ecc_key_pair", 256, A(asymmetric_signature=alg), family=SECP_R1, sign_hash=True
        ),
    )
    assert attest("other", bytes(blob))[0] is Status.PSA_ERROR_INVALID_ARGUMENT
    assert attest("attested", bytes(blob), "mallory")[0] is Status.PSA_ERROR_DOES_NOT_EXIST
    named = prep.PrepareKeyAttestationParams(
        activate_credential=prep.PrepareKeyAttestationParams.ActivateCredential(
            attested_key_name="attested", attesting_key_name="other"
        )
    )
    op = prep.Operation(parameters=named)
    assert tpm.wire.fails(Opcode.PREPARE_KEY_ATTESTATION, op) is Status.PSA_ERROR_NOT_SUPPORTED
