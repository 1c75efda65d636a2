"""Wycheproof's vectors through the software provider's operation path: keys imported with PSA
attributes, then verify, decrypt and key agreement as a client's request would run them, so
Tessera's policy checks and PSA encodings are under test, not only `cryptography`.

Where a vector's parameters lie outside what Tessera admits by design (documented in the
provider's modules: GCM nonces of 8..128 bytes, CCM tags of even length), a valid vector must be
refused with InvalidArgument or NotSupported, and the test says which ones those are.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tessera.service.providers.base import Provider
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    psa_aead_decrypt_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_import_key_pb2,
    psa_key_attributes_pb2,
    psa_mac_compute_pb2,
    psa_mac_verify_pb2,
    psa_raw_key_agreement_pb2,
    psa_verify_message_pb2,
)
from tessera.wire.status import Status
from tests.conformance.harness import handle, outcome
from tests.unit.software.builders import (
    EDWARDS,
    SECP_R1,
    A,
    aead,
    attributes,
    ecdh,
    hmac,
    oaep,
    sign,
)
from tests.vectors.wycheproof import WYCHEPROOF_DIR, Case, Tally, cases

HASHES = {"SHA-256": A.Hash.SHA_256, "SHA-384": A.Hash.SHA_384}
# Refusals a malformed or non-verifying input may get; anything else is a bug.
REFUSALS = {
    Status.PSA_ERROR_INVALID_SIGNATURE,
    Status.PSA_ERROR_INVALID_ARGUMENT,
    Status.PSA_ERROR_INVALID_PADDING,
    Status.PSA_ERROR_NOT_SUPPORTED,
}


def _import(
    provider: Provider, name: str, attrs: psa_key_attributes_pb2.KeyAttributes, data: bytes
) -> Status:
    op = psa_import_key_pb2.Operation(key_name=name, attributes=attrs, data=data)
    status, _ = outcome(provider, Opcode.PSA_IMPORT_KEY, op)
    return status


def _run(provider: Provider, opcode: Opcode, operation: Any, tally: Tally, case: Case) -> Any:
    """The operation's result, or None when refused (with a status a bad input may get)."""
    status, result = outcome(provider, opcode, operation)
    assert status is Status.SUCCESS or status in REFUSALS, f"{tally.name} {case.tc_id}: {status}"
    return result


def _verify_all(
    provider: Provider,
    name: str,
    key_for: Any,
    signature_for: Any,
) -> None:
    """Import each group's public key (`key_for(group) -> (attrs, data, alg)`), then check
    every signature with PsaVerifyMessage (`signature_for(case) -> bytes | None`, None when the
    signature cannot be expressed in PSA's format at all)."""
    tally = Tally(name)
    imported: dict[int, Any] = {}
    for case in cases(name):
        key = imported.get(case.group_index)
        if key is None:
            attrs, data, alg = key_for(case.group)
            key_name = f"{name}-{len(imported)}"
            assert _import(provider, key_name, attrs, data) is Status.SUCCESS
            key = imported.setdefault(case.group_index, (key_name, alg))
        key_name, alg = key
        signature = signature_for(case)
        if signature is None:
            tally.record(case, accepted=False, note="(not expressible in PSA's format)")
            continue
        op = psa_verify_message_pb2.Operation(
            key_name=key_name, alg=alg, message=case.hex("msg"), signature=signature
        )
        result = _run(provider, Opcode.PSA_VERIFY_MESSAGE, op, tally, case)
        tally.record(case, accepted=result is not None)
    tally.check()


# Signatures


@pytest.mark.parametrize("name", ["ecdsa_secp256r1_sha256_test", "ecdsa_secp384r1_sha384_test"])
def test_ecdsa_der_signatures(software: Provider, name: str) -> None:
    """DER signatures, decoded strictly (X.690) to PSA's r || s, then verified by Tessera."""

    def key_for(group: dict[str, Any]) -> Any:
        bits = group["publicKey"]["keySize"]
        alg = sign("ecdsa", HASHES[group["sha"]])
        attrs = attributes(
            "ecc_public_key",
            bits,
            A(asymmetric_signature=alg),
            family=SECP_R1,
            verify_message=True,
        )
        return attrs, bytes.fromhex(group["publicKey"]["uncompressed"]), alg

    def signature_for(case: Case) -> bytes | None:
        size = (case.group["publicKey"]["keySize"] + 7) // 8
        try:
            r, s = decode_dss_signature(case.hex("sig"))
        except ValueError:
            return None  # not DER
        if r < 0 or s < 0:
            return None  # r || s has no sign
        # Values too large for the curve go through at their own length: Tessera must refuse.
        width = max(size, (r.bit_length() + 7) // 8, (s.bit_length() + 7) // 8)
        return r.to_bytes(width, "big") + s.to_bytes(width, "big")

    _verify_all(software, name, key_for, signature_for)


RSA_SIGNATURES = [
    ("rsa_signature_2048_sha256_test", "rsa_pkcs1v15_sign"),
    ("rsa_signature_3072_sha384_test", "rsa_pkcs1v15_sign"),
    ("rsa_pss_2048_sha256_mgf1_32_test", "rsa_pss"),
    ("rsa_pss_2048_sha384_mgf1_48_test", "rsa_pss"),
]


@pytest.mark.parametrize(("name", "scheme"), RSA_SIGNATURES)
def test_rsa_signatures(software: Provider, name: str, scheme: str) -> None:
    def key_for(group: dict[str, Any]) -> Any:
        hash_alg = HASHES[group["sha"]]
        if scheme == "rsa_pss":  # PSA's RSA-PSS: MGF1 with the message hash, salt as long
            assert group["mgfSha"] == group["sha"]
            assert group["sLen"] == {A.Hash.SHA_256: 32, A.Hash.SHA_384: 48}[hash_alg]
        alg = sign(scheme, hash_alg)
        attrs = attributes(
            "rsa_public_key", group["keySize"], A(asymmetric_signature=alg), verify_message=True
        )
        return attrs, bytes.fromhex(group["publicKeyAsn"]), alg

    _verify_all(software, name, key_for, lambda case: case.hex("sig"))


def test_ed25519_signatures(software: Provider) -> None:
    def key_for(group: dict[str, Any]) -> Any:
        alg = sign("pure_eddsa")
        attrs = attributes(
            "ecc_public_key", 255, A(asymmetric_signature=alg), family=EDWARDS, verify_message=True
        )
        return attrs, bytes.fromhex(group["publicKey"]["pk"]), alg

    _verify_all(software, "ed25519_test", key_for, lambda case: case.hex("sig"))


# Asymmetric encryption


@pytest.mark.parametrize(
    "name",
    [
        "rsa_oaep_2048_sha256_mgf1sha256_test",
        "rsa_oaep_2048_sha384_mgf1sha384_test",
        "rsa_oaep_3072_sha256_mgf1sha256_test",
    ],
)
def test_rsa_oaep_decryption(software: Provider, name: str) -> None:
    tally = Tally(name)
    imported: dict[int, tuple[str, Any]] = {}
    for case in cases(name):
        key = imported.get(case.group_index)
        if key is None:
            group = case.group
            assert group["mgfSha"] == group["sha"]  # PSA's OAEP: MGF1 with the same hash
            private = serialization.load_der_private_key(
                bytes.fromhex(group["privateKeyPkcs8"]), None
            )
            assert isinstance(private, rsa.RSAPrivateKey)
            der = private.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.TraditionalOpenSSL,  # PSA's format: RSAPrivateKey
                serialization.NoEncryption(),
            )
            alg = oaep(HASHES[group["sha"]])
            attrs = attributes(
                "rsa_key_pair", group["keySize"], A(asymmetric_encryption=alg), decrypt=True
            )
            key_name = f"{name}-{len(imported)}"
            assert _import(software, key_name, attrs, der) is Status.SUCCESS
            key = imported.setdefault(case.group_index, (key_name, alg))
        key_name, alg = key
        op = psa_asymmetric_decrypt_pb2.Operation(
            key_name=key_name, alg=alg, ciphertext=case.hex("ct"), salt=case.hex("label")
        )
        result = _run(software, Opcode.PSA_ASYMMETRIC_DECRYPT, op, tally, case)
        tally.record(
            case, result is not None, result is not None and result.plaintext == case.hex("msg")
        )
    tally.check()


# AEAD

AEAD_KINDS = {
    "aes_gcm_test": ("aes", A.Aead.GCM),
    "aes_ccm_test": ("aes", A.Aead.CCM),
    "chacha20_poly1305_test": ("chacha20", A.Aead.CHACHA20_POLY1305),
}


def _aead_admitted(kind: int, nonce: int, tag: int) -> bool:
    """The nonce and tag lengths (bytes) Tessera admits (software/aead.py's docstring)."""
    if kind == A.Aead.GCM:
        return 8 <= nonce <= 128 and (tag in (4, 8) or 12 <= tag <= 16)
    if kind == A.Aead.CCM:
        return 7 <= nonce <= 13 and 4 <= tag <= 16 and tag % 2 == 0
    return nonce == 12 and tag == 16


@pytest.mark.parametrize("name", sorted(AEAD_KINDS))
def test_aead(software: Provider, name: str) -> None:
    key_kind, kind = AEAD_KINDS[name]
    tally = Tally(name)
    for case in cases(name):
        tag_size = case.group["tagSize"] // 8
        alg = aead(kind, None if tag_size == 16 else tag_size)
        key_name = f"{name}-{case.tc_id}"
        attrs = attributes(key_kind, case.group["keySize"], A(aead=alg), encrypt=True, decrypt=True)
        import_status = _import(software, key_name, attrs, case.hex("key"))
        if import_status is not Status.SUCCESS:
            # Only a shortened tag PSA does not define may be refused as a policy.
            assert not _aead_admitted(kind, 12, tag_size), (name, case.tc_id, import_status)
            tally.outside(case)
            continue
        nonce, aad = case.hex("iv"), case.hex("aad")
        sealed = case.hex("ct") + case.hex("tag")
        op = psa_aead_decrypt_pb2.Operation(
            key_name=key_name, alg=alg, nonce=nonce, additional_data=aad, ciphertext=sealed
        )
        if not _aead_admitted(kind, len(nonce), tag_size):
            status, _ = outcome(software, Opcode.PSA_AEAD_DECRYPT, op)
            assert status in (Status.PSA_ERROR_INVALID_ARGUMENT, Status.PSA_ERROR_NOT_SUPPORTED)
            tally.outside(case)
            continue
        result = _run(software, Opcode.PSA_AEAD_DECRYPT, op, tally, case)
        accepted = result is not None
        right = accepted and result.plaintext == case.hex("msg")
        if accepted and case.result == "valid":
            encrypt = psa_aead_encrypt_pb2.Operation(
                key_name=key_name,
                alg=alg,
                nonce=nonce,
                additional_data=aad,
                plaintext=case.hex("msg"),
            )
            right = (
                right and handle(software, Opcode.PSA_AEAD_ENCRYPT, encrypt).ciphertext == sealed
            )
        tally.record(case, accepted, right)
    tally.check()


# MAC


def test_hmac_sha256(software: Provider) -> None:
    name = "hmac_sha256_test"
    tally = Tally(name)
    for case in cases(name):
        size = case.group["tagSize"] // 8
        alg = hmac(A.Hash.SHA_256, None if size == 32 else size)
        key_name = f"{name}-{case.tc_id}"
        attrs = attributes(
            "hmac", case.group["keySize"], A(mac=alg), sign_message=True, verify_message=True
        )
        assert _import(software, key_name, attrs, case.hex("key")) is Status.SUCCESS, case.tc_id
        op = psa_mac_verify_pb2.Operation(
            key_name=key_name, alg=alg, input=case.hex("msg"), mac=case.hex("tag")
        )
        accepted = _run(software, Opcode.PSA_MAC_VERIFY, op, tally, case) is not None
        right = True
        if accepted:
            compute = psa_mac_compute_pb2.Operation(
                key_name=key_name, alg=alg, input=case.hex("msg")
            )
            right = handle(software, Opcode.PSA_MAC_COMPUTE, compute).mac == case.hex("tag")
        tally.record(case, accepted, right)
    tally.check()


# Key agreement


@pytest.mark.parametrize("name", ["ecdh_secp256r1_ecpoint_test", "ecdh_secp384r1_ecpoint_test"])
def test_ecdh(software: Provider, name: str) -> None:
    tally = Tally(name)
    for case in cases(name):
        bits = {"secp256r1": 256, "secp384r1": 384}[case.group["curve"]]
        key_name = f"{name}-{case.tc_id}"
        scalar = int(case.test["private"], 16).to_bytes((bits + 7) // 8, "big")
        attrs = attributes("ecc_key_pair", bits, ecdh(), family=SECP_R1, derive=True)
        assert _import(software, key_name, attrs, scalar) is Status.SUCCESS, case.tc_id
        op = psa_raw_key_agreement_pb2.Operation(
            alg=A.KeyAgreement.ECDH, private_key_name=key_name, peer_key=case.hex("public")
        )
        result = _run(software, Opcode.PSA_RAW_KEY_AGREEMENT, op, tally, case)
        right = result is not None and result.shared_secret == case.hex("shared")
        tally.record(case, result is not None, right)
    tally.check()


def test_every_file_is_the_one_its_provenance_names() -> None:
    """Each stored file hashes to the git blob PROVENANCE.md records: unchanged since copied."""
    table = (WYCHEPROOF_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    blobs = dict(re.findall(r"^\| `([\w.]+\.json)` \| \d+ \| ([0-9a-f]{40}) \|$", table, re.M))
    stored = {p.name for p in WYCHEPROOF_DIR.glob("*.json")}
    assert stored and set(blobs) == stored
    for name, blob in blobs.items():
        data = (WYCHEPROOF_DIR / name).read_bytes()
        digest = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False)
        assert digest.hexdigest() == blob, name
