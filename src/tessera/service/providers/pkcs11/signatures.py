"""Signatures with token keys: SignHash, VerifyHash, SignMessage, VerifyMessage.

Signing always runs on the token. Verification runs on the token too, or with `cryptography` on
the public key read from the token when `software_public_operations` is set (Parsec's option of
the same name). PSA formats as the software provider: ECDSA signatures are r || s; RSA PKCS#1
v1.5 signs a DigestInfo (built here, the token's RSA_PKCS pads it); PSS salts are as long as the
hash. Messages are hashed here, so any hash the software provider computes can be signed with
ECDSA and PKCS#1 v1.5. The operations themselves are the shared ones (`providers.signing`),
over this module's primitives.
"""

from __future__ import annotations

from tessera.psa.algorithms import Hash, SignAlgorithm, SignScheme
from tessera.psa.usage import Usage
from tessera.service.providers.key_use import KeyUse
from tessera.service.providers.pkcs11 import checks
from tessera.service.providers.pkcs11.context import Context, HeldKey, open_for
from tessera.service.providers.pkcs11.keys import public_object
from tessera.service.providers.signing import SignPrimitives, signature_operations
from tessera.service.providers.software.sign import check_hash_length, verify_public
from tessera.wire.status import Status, StatusError

# DER OIDs of the hashes (RFC 8017 appendix B.1, NIST's hash arc 2.16.840.1.101.3.4.2).
_NIST_ARC = bytes.fromhex("6086480165030402")
_HASH_OIDS = {
    Hash.MD5: bytes.fromhex("2a864886f70d0205"),
    Hash.RIPEMD160: bytes.fromhex("2b24030201"),
    Hash.SHA_1: bytes.fromhex("2b0e03021a"),
    Hash.SHA_256: _NIST_ARC + b"\x01",
    Hash.SHA_384: _NIST_ARC + b"\x02",
    Hash.SHA_512: _NIST_ARC + b"\x03",
    Hash.SHA_224: _NIST_ARC + b"\x04",
    Hash.SHA_512_224: _NIST_ARC + b"\x05",
    Hash.SHA_512_256: _NIST_ARC + b"\x06",
    Hash.SHA3_224: _NIST_ARC + b"\x07",
    Hash.SHA3_256: _NIST_ARC + b"\x08",
    Hash.SHA3_384: _NIST_ARC + b"\x09",
    Hash.SHA3_512: _NIST_ARC + b"\x0a",
}


def digest_info_prefix(hash_alg: Hash) -> bytes:
    """The DER DigestInfo up to the digest itself (RFC 8017, section 9.2)."""
    oid = _HASH_OIDS.get(hash_alg)
    if oid is None:
        raise checks.unsupported(f"no DigestInfo for {hash_alg.name}")
    algorithm = bytes([0x06, len(oid)]) + oid + b"\x05\x00"
    algorithm = bytes([0x30, len(algorithm)]) + algorithm
    return bytes([0x30, len(algorithm) + 2 + hash_alg.size]) + algorithm + bytes([4, hash_alg.size])


def _token_input(alg: SignAlgorithm, hash_value: bytes) -> tuple[bytes, str]:
    """What the token's mechanism signs, and which mechanism."""
    if alg.scheme in (SignScheme.ECDSA, SignScheme.ECDSA_ANY):
        return hash_value, "ecdsa"
    if alg.scheme is SignScheme.RSA_PSS:
        return hash_value, "pss"
    if alg.scheme is SignScheme.RSA_PKCS1V15_RAW:
        return hash_value, "pkcs1"
    assert alg.hash is not None
    return digest_info_prefix(alg.hash) + hash_value, "pkcs1"


def _sign(ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes) -> bytes:
    data, scheme = _token_input(alg, hash_value)
    pss_hash = alg.hash if alg.scheme is SignScheme.RSA_PSS else None
    return ctx.token.sign(key.key_id, data, scheme, pss_hash)


def _verify(
    ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes, signature: bytes
) -> None:
    if ctx.software_public_operations:
        verify_public(public_object(ctx, key), key.bits, alg, hash_value, signature)
        return
    expected = (key.bits + 7) // 8
    if key.attributes.key_type.is_ecc:
        expected *= 2
    if len(signature) != expected:
        raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "invalid signature")
    data, scheme = _token_input(alg, hash_value)
    pss_hash = alg.hash if alg.scheme is SignScheme.RSA_PSS else None
    ctx.token.verify(key.key_id, data, signature, scheme, pss_hash)


def _check(ctx: Context, key: HeldKey, alg: SignAlgorithm, usage: Usage) -> None:
    checks.check_sign(key.attributes.key_type, key.bits, alg, usage)


def _check_hash(ctx: Context, key: HeldKey, alg: SignAlgorithm, hash_value: bytes) -> None:
    check_hash_length(alg, key.bits, hash_value)


KEY_OPERATIONS = signature_operations(
    SignPrimitives(KeyUse(open_for, _check), _check_hash, sign=_sign, verify=_verify)
)
