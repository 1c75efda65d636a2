"""The TPM provider through the real daemon, against a temporary swtpm: what only a TPM has
(3072-bit keys where the TPM makes them, more keys than transient slots, restart, key
attestation, owner hierarchy auth, `skip_if_no_tpm`). The operations, policy refusals, isolation
and CanDoCrypto that every provider shares are in tests/conformance."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from tessera.wire.contracts import decode_result
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    attest_key_pb2,
    can_do_crypto_pb2,
    list_opcodes_pb2,
    list_providers_pb2,
    prepare_key_attestation_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_destroy_key_pb2,
    psa_export_public_key_pb2,
    psa_sign_hash_pb2,
    psa_sign_message_pb2,
    psa_verify_hash_pb2,
)
from tessera.wire.status import Status
from tests.conformance.outside import rsa_public
from tests.integration.parsec_tpm_support import free_port_pair, start_swtpm, stop_swtpm
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
    tcti: str
    config: Path
    service: RunningService

    @property
    def wire(self) -> ProviderCalls:
        """Requests to the provider under test."""
        return ProviderCalls(self.service, TPM)


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


@pytest.fixture(scope="module")
def tpm() -> Iterator[Swtpm]:
    state = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    swtpm, tcti = start_swtpm(state / "tpm")
    service = None
    try:
        config = _config(state, tcti)
        service = start_service(state / "d", "--auth", "direct", config=config)
        fixture = Swtpm(state, tcti, config, service)
        yield fixture
        service = fixture.service
    finally:
        if service is not None:
            stop_service(service)
        stop_swtpm(swtpm)
        shutil.rmtree(state, ignore_errors=True)


def test_what_the_tpm_adds_and_lacks(tpm: Swtpm) -> None:
    """Beyond tests/conformance: key attestation is listed; OAEP labels are refused rather than
    given the TPM's NUL-terminated label semantics; CanDoCrypto's USE check and the sizes and
    hashes the TPM lacks."""
    listed = tpm.wire.ok(Opcode.LIST_OPCODES, list_opcodes_pb2.Operation(provider_id=TPM))
    assert Opcode.ATTEST_KEY in set(listed.opcodes)
    crypt = attributes(
        "rsa_key_pair", 2048, A(asymmetric_encryption=oaep(SHA256)), encrypt=True, decrypt=True
    )
    tpm.wire.generate("rsa-oaep", crypt)
    op = psa_asymmetric_encrypt_pb2.Operation(
        key_name="rsa-oaep", alg=oaep(SHA256), plaintext=b"x", salt=b"label"
    )
    assert tpm.wire.fails(Opcode.PSA_ASYMMETRIC_ENCRYPT, op) is Status.PSA_ERROR_NOT_SUPPORTED
    use = attributes(
        "rsa_public_key", 2048, A(asymmetric_encryption=pkcs1v15_crypt()), encrypt=True
    )
    check = can_do_crypto_pb2.Operation(check_type=can_do_crypto_pb2.USE, attributes=use)
    tpm.wire.ok(Opcode.CAN_DO_CRYPTO, check)
    sha3 = A(asymmetric_signature=sign("ecdsa", A.Hash.SHA3_256))
    for attrs in (
        attributes("rsa_key_pair", 1024, A(asymmetric_encryption=oaep(SHA256))),
        attributes("ecc_key_pair", 256, sha3, family=SECP_R1, sign_hash=True),
    ):
        check = can_do_crypto_pb2.Operation(check_type=can_do_crypto_pb2.GENERATE, attributes=attrs)
        assert tpm.wire.fails(Opcode.CAN_DO_CRYPTO, check) is Status.PSA_ERROR_NOT_SUPPORTED


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
    key = rsa_public(tpm.wire.public("rsa3072"))
    assert key.key_size == 3072
    key.verify(sig, b"big", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


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
    closed = free_port_pair()
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
    swtpm, tcti = start_swtpm(state / "tpm")
    try:
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
        stop_swtpm(swtpm)
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
