"""Named key specs: the common keys with safe defaults, instead of raw PSA structures.

    client.generate_key("signing", tessera.ECDSA_P256)
    client.generate_key("backup", tessera.AES_256_GCM.exportable())

A spec is a key type and size, the usage it permits and the one algorithm the key is bound to
(PSA keys have a single permitted algorithm). Specs are immutable; `exportable()` returns a copy
that permits export.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tessera.wire.proto import psa_algorithm_pb2, psa_key_attributes_pb2

Algorithm = psa_algorithm_pb2.Algorithm
KeyAttributes = psa_key_attributes_pb2.KeyAttributes
KeyType = psa_key_attributes_pb2.KeyType
UsageFlags = psa_key_attributes_pb2.UsageFlags

SIGN = ("sign_hash", "verify_hash", "sign_message", "verify_message")
ENCRYPT = ("encrypt", "decrypt")


@dataclass(frozen=True)
class KeySpec:
    """A recipe for a key: type, size, usage and algorithm."""

    name: str
    key_type: KeyType
    bits: int
    algorithm: Algorithm
    usage: tuple[str, ...]
    export: bool = False

    def exportable(self) -> KeySpec:
        """The same spec, with the export usage flag (the private key can leave the service)."""
        return replace(self, export=True)

    def attributes(self) -> KeyAttributes:
        """The PSA key attributes of this spec."""
        flags = UsageFlags(**{flag: True for flag in self.usage})
        flags.export = self.export
        return KeyAttributes(
            key_type=self.key_type,
            key_bits=self.bits,
            key_policy=psa_key_attributes_pb2.KeyPolicy(
                key_usage_flags=flags, key_algorithm=self.algorithm
            ),
        )


def _hash_name(hash_alg: Algorithm.Hash) -> str:
    """sha256 for SHA_256, sha3-256 for SHA3_256."""
    return Algorithm.Hash.Name(hash_alg).lower().replace("sha_", "sha").replace("_", "-")


def _hash_sign(variant: str, hash_alg: Algorithm.Hash) -> Algorithm:
    choice = Algorithm.AsymmetricSignature.SignHash(specific=hash_alg)
    signature = Algorithm.AsymmetricSignature()
    getattr(signature, variant).hash_alg.CopyFrom(choice)
    return Algorithm(asymmetric_signature=signature)


def _ecc_pair(family: KeyType.EccFamily) -> KeyType:
    return KeyType(ecc_key_pair=KeyType.EccKeyPair(curve_family=family))


def ecdsa(family: KeyType.EccFamily, bits: int, hash_alg: Algorithm.Hash, name: str) -> KeySpec:
    """ECDSA (randomized) on a curve, with one hash."""
    return KeySpec(name, _ecc_pair(family), bits, _hash_sign("ecdsa", hash_alg), SIGN)


def rsa_pss(bits: int = 3072, hash_alg: Algorithm.Hash = Algorithm.SHA_256) -> KeySpec:
    """An RSA signing key using PSS."""
    rsa = KeyType(rsa_key_pair=KeyType.RsaKeyPair())
    return KeySpec(f"rsa-{bits}-pss", rsa, bits, _hash_sign("rsa_pss", hash_alg), SIGN)


def rsa_pkcs1v15_sign(bits: int = 3072, hash_alg: Algorithm.Hash = Algorithm.SHA_256) -> KeySpec:
    """An RSA signing key using PKCS#1 v1.5 (for peers that need it; prefer PSS)."""
    rsa = KeyType(rsa_key_pair=KeyType.RsaKeyPair())
    alg = _hash_sign("rsa_pkcs1v15_sign", hash_alg)
    return KeySpec(f"rsa-{bits}-pkcs1v15", rsa, bits, alg, SIGN)


def rsa_oaep(bits: int = 3072, hash_alg: Algorithm.Hash = Algorithm.SHA_256) -> KeySpec:
    """An RSA decryption key using OAEP."""
    rsa = KeyType(rsa_key_pair=KeyType.RsaKeyPair())
    alg = Algorithm(
        asymmetric_encryption=Algorithm.AsymmetricEncryption(
            rsa_oaep=Algorithm.AsymmetricEncryption.RsaOaep(hash_alg=hash_alg)
        )
    )
    return KeySpec(f"rsa-{bits}-oaep", rsa, bits, alg, ENCRYPT)


def _aead(
    key_type: KeyType, bits: int, aead: Algorithm.Aead.AeadWithDefaultLengthTag, name: str
) -> KeySpec:
    alg = Algorithm(aead=Algorithm.Aead(aead_with_default_length_tag=aead))
    return KeySpec(name, key_type, bits, alg, ENCRYPT)


def aes_gcm(bits: int = 256) -> KeySpec:
    """AES in GCM mode (96-bit nonces from the service, 128-bit tags)."""
    return _aead(KeyType(aes=KeyType.Aes()), bits, Algorithm.Aead.GCM, f"aes-{bits}-gcm")


def hmac(hash_alg: Algorithm.Hash = Algorithm.SHA_256, bits: int = 256) -> KeySpec:
    """An HMAC key."""
    alg = Algorithm(
        mac=Algorithm.Mac(
            full_length=Algorithm.Mac.FullLength(
                hmac=Algorithm.Mac.FullLength.Hmac(hash_alg=hash_alg)
            )
        )
    )
    return KeySpec(
        f"hmac-{_hash_name(hash_alg)}",
        KeyType(hmac=KeyType.Hmac()),
        bits,
        alg,
        ("sign_hash", "verify_hash", "sign_message", "verify_message"),
    )


def _agreement(key_type: KeyType, bits: int, name: str) -> KeySpec:
    alg = Algorithm(key_agreement=Algorithm.KeyAgreement(raw=Algorithm.KeyAgreement.ECDH))
    return KeySpec(name, key_type, bits, alg, ("derive",))


ECDSA_P256 = ecdsa(KeyType.SECP_R1, 256, Algorithm.SHA_256, "ecdsa-p256")
ECDSA_P384 = ecdsa(KeyType.SECP_R1, 384, Algorithm.SHA_384, "ecdsa-p384")
ECDSA_P521 = ecdsa(KeyType.SECP_R1, 521, Algorithm.SHA_512, "ecdsa-p521")
ED25519 = KeySpec(
    "ed25519",
    _ecc_pair(KeyType.TWISTED_EDWARDS),
    255,
    Algorithm(
        asymmetric_signature=Algorithm.AsymmetricSignature(
            pure_eddsa=Algorithm.AsymmetricSignature.PureEdDsa()
        )
    ),
    ("sign_message", "verify_message"),
)
RSA_3072_PSS = rsa_pss(3072)
RSA_3072_OAEP = rsa_oaep(3072)
AES_256_GCM = aes_gcm(256)
CHACHA20_POLY1305 = _aead(
    KeyType(chacha20=KeyType.Chacha20()), 256, Algorithm.Aead.CHACHA20_POLY1305, "chacha20-poly1305"
)
HMAC_SHA256 = hmac(Algorithm.SHA_256)
ECDH_P256 = _agreement(_ecc_pair(KeyType.SECP_R1), 256, "ecdh-p256")
X25519 = _agreement(_ecc_pair(KeyType.MONTGOMERY), 255, "x25519")
