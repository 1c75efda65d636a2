"""`cryptography`'s algorithm and padding objects translated to PSA algorithms, and checked
against a key's policy (the translation `Key.as_private_key()` relies on)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from tessera.client import _cryptography_algorithms as algorithms
from tessera.client import specs
from tessera.client._errors import UsageError
from tessera.psa.algorithms import (
    EncryptionAlgorithm,
    EncryptionScheme,
    Hash,
    KdfAlgorithm,
    KdfKind,
    KeyAgreementAlgorithm,
    KeyAgreementKind,
    SignAlgorithm,
    SignScheme,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

ECDSA_SHA256 = SignAlgorithm(SignScheme.ECDSA, Hash.SHA_256)
SHA256 = hashes.SHA256()


def _any_hash_ecdsa() -> Algorithm:
    sign_hash = Algorithm.AsymmetricSignature.SignHash(
        any=Algorithm.AsymmetricSignature.SignHash.Any()
    )
    return Algorithm(
        asymmetric_signature=Algorithm.AsymmetricSignature(
            ecdsa=Algorithm.AsymmetricSignature.Ecdsa(hash_alg=sign_hash)
        )
    )


def test_hashes_by_cryptography_name() -> None:
    assert algorithms.psa_hash(hashes.SHA3_256()) is Hash.SHA3_256
    assert algorithms.psa_hash(hashes.SHA512_224()) is Hash.SHA_512_224
    with pytest.raises(UsageError, match="PSA keys cannot sign or decrypt with blake2b"):
        algorithms.psa_hash(hashes.BLAKE2b(64))
    with pytest.raises(UsageError, match="expected a cryptography hash algorithm, got str"):
        algorithms.psa_hash("sha256")


def test_ecdsa_requests() -> None:
    plain = algorithms.ecdsa(ECDSA_SHA256, ec.ECDSA(SHA256))
    assert plain == algorithms.SignRequest(ECDSA_SHA256, Hash.SHA_256, prehashed=False)
    assert not plain.by_digest
    digest = algorithms.ecdsa(ECDSA_SHA256, ec.ECDSA(utils.Prehashed(hashes.SHA384())))
    assert digest.algorithm == SignAlgorithm(SignScheme.ECDSA, Hash.SHA_384)
    assert digest.prehashed and digest.by_digest
    deterministic = SignAlgorithm(SignScheme.DETERMINISTIC_ECDSA, Hash.SHA_256)
    # a key made for deterministic ECDSA signs that way when the caller did not ask otherwise
    assert algorithms.ecdsa(deterministic, ec.ECDSA(SHA256)).algorithm == deterministic
    asked = algorithms.ecdsa(ECDSA_SHA256, ec.ECDSA(SHA256, deterministic_signing=True))
    assert asked.algorithm == deterministic
    any_digest = algorithms.ecdsa(SignAlgorithm(SignScheme.ECDSA_ANY), ec.ECDSA(SHA256))
    assert any_digest.by_digest and not any_digest.prehashed and any_digest.hash is Hash.SHA_256
    with pytest.raises(UsageError, match=r"sign with ec\.ECDSA\(hash\), not str"):
        algorithms.ecdsa(ECDSA_SHA256, "ES256")


def test_rsa_signature_requests() -> None:
    pss = SignAlgorithm(SignScheme.RSA_PSS, Hash.SHA_256)
    for good in (padding.PSS.DIGEST_LENGTH, 32):
        request = algorithms.rsa_signature(padding.PSS(padding.MGF1(SHA256), good), SHA256, 2048)
        assert request.algorithm == pss and not request.prehashed
    for bad in (20, padding.PSS.MAX_LENGTH, padding.PSS.AUTO):
        with pytest.raises(UsageError, match=r"salt as long as the hash \(32 bytes for SHA-256\)"):
            algorithms.rsa_signature(padding.PSS(padding.MGF1(SHA256), bad), SHA256, 2048)
    with pytest.raises(UsageError, match=r"pass mgf=padding\.MGF1\(hashes\.SHA256\(\)\)"):
        mgf_sha1 = padding.PSS(padding.MGF1(hashes.SHA1()), padding.PSS.DIGEST_LENGTH)
        algorithms.rsa_signature(mgf_sha1, SHA256, 2048)
    pkcs1 = algorithms.rsa_signature(padding.PKCS1v15(), utils.Prehashed(SHA256), 2048)
    assert pkcs1.algorithm == SignAlgorithm(SignScheme.RSA_PKCS1V15, Hash.SHA_256)
    assert pkcs1.prehashed
    oaep = padding.OAEP(padding.MGF1(SHA256), SHA256, None)
    with pytest.raises(UsageError, match=r"sign with padding\.PSS or padding\.PKCS1v15, not OAEP"):
        algorithms.rsa_signature(oaep, SHA256, 2048)
    with pytest.raises(UsageError, match=r"take a hash or utils\.Prehashed\(hash\), not NoneType"):
        algorithms.rsa_signature(padding.PKCS1v15(), None, 2048)


def test_rsa_decryption_requests() -> None:
    labelled = padding.OAEP(padding.MGF1(hashes.SHA384()), hashes.SHA384(), b"label")
    assert algorithms.rsa_decryption(labelled) == (
        EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, Hash.SHA_384),
        b"label",
    )
    unlabelled = padding.OAEP(padding.MGF1(SHA256), SHA256, None)
    assert algorithms.rsa_decryption(unlabelled)[1] == b""
    assert algorithms.rsa_decryption(padding.PKCS1v15()) == (
        EncryptionAlgorithm(EncryptionScheme.RSA_PKCS1V15),
        b"",
    )
    with pytest.raises(UsageError, match="MGF1 with the same hash"):
        algorithms.rsa_decryption(padding.OAEP(padding.MGF1(hashes.SHA1()), SHA256, None))
    with pytest.raises(
        UsageError, match=r"decrypt with padding\.OAEP or padding\.PKCS1v15, not PSS"
    ):
        algorithms.rsa_decryption(padding.PSS(padding.MGF1(SHA256), 32))


def test_permitted_narrows_a_wildcard_to_the_hash_asked_for() -> None:
    chosen = algorithms.permitted(
        "k", _any_hash_ecdsa(), SignAlgorithm(SignScheme.ECDSA, Hash.SHA_384)
    )
    assert chosen.asymmetric_signature.ecdsa.hash_alg.specific == Algorithm.SHA_384
    exact = algorithms.permitted("k", specs.ECDSA_P256.algorithm, ECDSA_SHA256)
    assert exact == specs.ECDSA_P256.algorithm


def test_permitted_refuses_what_the_policy_does_not_permit() -> None:
    with pytest.raises(UsageError) as refused:
        algorithms.permitted(
            "jwt", specs.ECDSA_P256.algorithm, SignAlgorithm(SignScheme.ECDSA, Hash.SHA_384)
        )
    assert str(refused.value) == (
        "key 'jwt' permits ECDSA with SHA-256 only (a PSA key is bound to one algorithm); "
        "ECDSA with SHA-384 was asked for"
    )
    with pytest.raises(UsageError, match=r"permits RSA-PSS with SHA-256 only.*PKCS#1 v1\.5"):
        algorithms.permitted(
            "k",
            specs.RSA_3072_PSS.algorithm,
            SignAlgorithm(SignScheme.RSA_PKCS1V15, Hash.SHA_256),
        )
    with pytest.raises(UsageError, match=r"permits ECDSA with any hash only.*RSA-OAEP"):
        requested = EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, Hash.SHA_256)
        algorithms.permitted("k", _any_hash_ecdsa(), requested)
    with pytest.raises(UsageError, match="policy this library cannot read"):
        broken = Algorithm(asymmetric_signature=Algorithm.AsymmetricSignature())
        algorithms.permitted("k", broken, ECDSA_SHA256)


def test_key_agreement_and_descriptions() -> None:
    raw = KeyAgreementAlgorithm(KeyAgreementKind.ECDH)
    assert algorithms.permitted("k", specs.ECDH_P256.algorithm, raw) == specs.ECDH_P256.algorithm
    with_kdf = KeyAgreementAlgorithm(
        KeyAgreementKind.ECDH, KdfAlgorithm(KdfKind.HKDF, Hash.SHA_256)
    )
    assert algorithms.describe(with_kdf) == "ECDH key agreement with hkdf"
    assert algorithms.describe(SignAlgorithm(SignScheme.PURE_EDDSA)) == "EdDSA"
