"""CanDoCrypto tells the truth on every provider: what it says can be generated and used, can
be (and is, here); what it says cannot, the operation refuses with PsaErrorNotSupported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import padding

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import (
    can_do_crypto_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_decrypt_pb2,
    psa_generate_key_pb2,
    psa_key_attributes_pb2,
    psa_sign_hash_pb2,
)
from tessera.wire.status import Status
from tests.conformance.harness import UnderTest, fresh_app
from tests.conformance.outside import HASHES, rsa_public
from tests.unit.software.builders import (
    SECP_K1,
    SECP_R1,
    A,
    aead,
    attributes,
    oaep,
    pkcs1v15_crypt,
    sign,
)

pytestmark = pytest.mark.integration

Use = Callable[[UnderTest, str, str], Status]  # (provider, key name, app) -> the use's status


def _signs(alg: A.AsymmetricSignature) -> Use:
    def use(provider: UnderTest, name: str, app: str) -> Status:
        op = psa_sign_hash_pb2.Operation(key_name=name, alg=alg, hash=bytes(32))
        return provider.wire.call(Opcode.PSA_SIGN_HASH, op, app)[0]

    return use


def _decrypts(alg: A.AsymmetricEncryption, pad: padding.AsymmetricPadding) -> Use:
    def use(provider: UnderTest, name: str, app: str) -> Status:
        ciphertext = rsa_public(provider.wire.public(name, app)).encrypt(b"y", pad)
        op = psa_asymmetric_decrypt_pb2.Operation(key_name=name, alg=alg, ciphertext=ciphertext)
        status, result = provider.wire.call(Opcode.PSA_ASYMMETRIC_DECRYPT, op, app)
        assert status is not Status.SUCCESS or result.plaintext == b"y"
        return status

    return use


def _seals(alg: A.Aead, nonce: int) -> Use:
    def use(provider: UnderTest, name: str, app: str) -> Status:
        op = psa_aead_encrypt_pb2.Operation(
            key_name=name, alg=alg, nonce=bytes(nonce), plaintext=b"x"
        )
        return provider.wire.call(Opcode.PSA_AEAD_ENCRYPT, op, app)[0]

    return use


@dataclass(frozen=True)
class Probe:
    """Attributes to ask about, the capability they need (None: every provider), and a use."""

    capability: str | None
    attributes: psa_key_attributes_pb2.KeyAttributes
    use: Use


def _ecdsa(scheme: str, family: int = SECP_R1) -> psa_key_attributes_pb2.KeyAttributes:
    policy = A(asymmetric_signature=sign(scheme, A.Hash.SHA_256))
    return attributes("ecc_key_pair", 256, policy, family=family, sign_hash=True)


def _rsa_decrypt(alg: A.AsymmetricEncryption) -> psa_key_attributes_pb2.KeyAttributes:
    return attributes("rsa_key_pair", 2048, A(asymmetric_encryption=alg), decrypt=True)


def _aes(alg: A.Aead, kind: str = "aes", bits: int = 128) -> psa_key_attributes_pb2.KeyAttributes:
    return attributes(kind, bits, A(aead=alg), encrypt=True)


SHA256 = HASHES[A.Hash.SHA_256]
GCM, CCM, CHACHA = aead(A.Aead.GCM), aead(A.Aead.CCM), aead(A.Aead.CHACHA20_POLY1305)
PROBES = {
    "ecdsa-p256": Probe(None, _ecdsa("ecdsa"), _signs(sign("ecdsa", A.Hash.SHA_256))),
    "rsa-pkcs1v15-crypt": Probe(
        None, _rsa_decrypt(pkcs1v15_crypt()), _decrypts(pkcs1v15_crypt(), padding.PKCS1v15())
    ),
    "deterministic-ecdsa": Probe(
        "deterministic_ecdsa",
        _ecdsa("deterministic_ecdsa"),
        _signs(sign("deterministic_ecdsa", A.Hash.SHA_256)),
    ),
    "ecdsa-secp256k1": Probe(
        "secp_k1", _ecdsa("ecdsa", SECP_K1), _signs(sign("ecdsa", A.Hash.SHA_256))
    ),
    "rsa-oaep-sha256": Probe(
        "rsa_oaep_sha256",
        _rsa_decrypt(oaep(A.Hash.SHA_256)),
        _decrypts(oaep(A.Hash.SHA_256), padding.OAEP(padding.MGF1(SHA256), SHA256, None)),
    ),
    "aes-gcm": Probe("aes_gcm", _aes(GCM), _seals(GCM, 12)),
    "aes-ccm": Probe("aes_ccm", _aes(CCM), _seals(CCM, 13)),
    "chacha20-poly1305": Probe(
        "chacha20_poly1305", _aes(CHACHA, "chacha20", 256), _seals(CHACHA, 12)
    ),
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_can_do_crypto_is_truthful(provider: UnderTest, probe: str) -> None:
    case, app = PROBES[probe], fresh_app()
    capable = case.capability is None or provider.can(case.capability)
    asked = can_do_crypto_pb2.Operation(
        check_type=can_do_crypto_pb2.GENERATE, attributes=case.attributes
    )
    status, _ = provider.wire.call(Opcode.CAN_DO_CRYPTO, asked, app)
    assert status is (Status.SUCCESS if capable else Status.PSA_ERROR_NOT_SUPPORTED)
    generate = psa_generate_key_pb2.Operation(key_name="probe", attributes=case.attributes)
    made, _ = provider.wire.call(Opcode.PSA_GENERATE_KEY, generate, app)
    if capable:
        assert made is Status.SUCCESS
        assert case.use(provider, "probe", app) is Status.SUCCESS
    elif made is Status.SUCCESS:
        # Some tokens hold a key they cannot use with this algorithm: the use is refused.
        assert case.use(provider, "probe", app) is Status.PSA_ERROR_NOT_SUPPORTED
    else:
        assert made is Status.PSA_ERROR_NOT_SUPPORTED
