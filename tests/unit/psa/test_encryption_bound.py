"""The RSA plaintext bound (`EncryptionAlgorithm.max_plaintext`), with `cryptography` as the
oracle: the longest plaintext it encrypts under the same padding is the bound, one byte more it
refuses. The service's providers and the client refuse by this one bound."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tessera.psa.algorithms import EncryptionAlgorithm, EncryptionScheme, Hash

KEYS = {bits: rsa.generate_private_key(65537, bits).public_key() for bits in (1024, 2048)}
OAEP_HASHES = {
    Hash.SHA_1: hashes.SHA1(),
    Hash.SHA_256: hashes.SHA256(),
    Hash.SHA_512: hashes.SHA512(),
}

CASES = [
    pytest.param(
        EncryptionAlgorithm(EncryptionScheme.RSA_PKCS1V15), padding.PKCS1v15(), id="pkcs1v15"
    )
] + [
    pytest.param(
        EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, psa_hash),
        padding.OAEP(padding.MGF1(hash_obj), hash_obj, None),
        id=f"oaep-{hash_obj.name}",
    )
    for psa_hash, hash_obj in OAEP_HASHES.items()
]


@pytest.mark.parametrize("bits", sorted(KEYS))
@pytest.mark.parametrize(("alg", "pad"), CASES)
def test_the_bound_is_what_cryptography_encrypts(
    bits: int, alg: EncryptionAlgorithm, pad: padding.AsymmetricPadding
) -> None:
    most = alg.max_plaintext(bits)
    key = KEYS[bits]
    if most < 0:  # the padding alone does not fit (OAEP with SHA-512 in a 1024-bit key)
        with pytest.raises(ValueError):
            key.encrypt(b"", pad)
        return
    key.encrypt(bytes(most), pad)
    with pytest.raises(ValueError):
        key.encrypt(bytes(most + 1), pad)


def test_known_bounds() -> None:
    pkcs1v15 = EncryptionAlgorithm(EncryptionScheme.RSA_PKCS1V15)
    oaep = EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, Hash.SHA_256)
    assert pkcs1v15.max_plaintext(2048) == 256 - 11 == 245
    assert oaep.max_plaintext(2048) == 256 - 2 * 32 - 2 == 190
    assert oaep.max_plaintext(3072) == 318
    assert EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, Hash.SHA_512).max_plaintext(1024) == -2
