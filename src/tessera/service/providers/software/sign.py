"""Asymmetric signatures: SignHash, VerifyHash, SignMessage, VerifyMessage.

PSA signature formats: RSA signatures are k bytes (the modulus length); ECDSA signatures are
r || s, each ceil(bits/8) bytes big-endian (not DER); EdDSA signatures are RFC 8032's.
RSA-PSS uses MGF1 with the same hash and a salt as long as the hash, on signing and verifying.

`check_sign` holds every refusal that depends only on the key's type and size, the algorithm and
the use; operations and CanDoCrypto share it, so CanDoCrypto answers exactly what would happen.
The operations themselves are the shared ones (`providers.signing`), over this module's primitives.
"""

from __future__ import annotations

import hmac
from typing import cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils

from tessera.psa.algorithms import (
    Hash,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.formats import PrivateKey, PublicKey, curve_name
from tessera.psa.hashes import hash_algorithm
from tessera.psa.key_types import WEIERSTRASS_FAMILIES, EccFamily, KeyType, ecc_byte_length
from tessera.psa.usage import Usage
from tessera.service.providers.key_use import KeyUse
from tessera.service.providers.signing import SignPrimitives, signature_operations
from tessera.service.providers.software.policy import Settings, open_for
from tessera.service.providers.software.rsa_private import pkcs1v15_sign_encoded
from tessera.service.providers.software.vault import OpenKey
from tessera.wire.status import Status, StatusError

_RSA_SCHEMES = frozenset({SignScheme.RSA_PKCS1V15, SignScheme.RSA_PKCS1V15_RAW, SignScheme.RSA_PSS})
_ECDSA_SCHEMES = frozenset({SignScheme.ECDSA, SignScheme.ECDSA_ANY, SignScheme.DETERMINISTIC_ECDSA})
# ECDSA-any signs digests of whatever hash made them; ECDSA itself only needs the length.
_PREHASH_BY_LENGTH: dict[int, type[hashes.HashAlgorithm]] = {
    20: hashes.SHA1,
    28: hashes.SHA224,
    32: hashes.SHA256,
    48: hashes.SHA384,
    64: hashes.SHA512,
}
# DER DigestInfo header for a RIPEMD-160 digest (OID 1.3.36.3.2.1), as PKCS#1 v1.5 signs it.
_RIPEMD160_DIGEST_INFO = bytes.fromhex("3021300906052b2403020105000414")
_SIGNING = frozenset({Usage.SIGN_HASH, Usage.SIGN_MESSAGE})
_ON_MESSAGES = frozenset({Usage.SIGN_MESSAGE, Usage.VERIFY_MESSAGE})
SIGN_USAGES = (Usage.SIGN_HASH, Usage.SIGN_MESSAGE, Usage.VERIFY_HASH, Usage.VERIFY_MESSAGE)


def _invalid(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def check_sign(key_type: KeyType, bits: int, alg: SignAlgorithm, usage: Usage) -> None:
    """Refuse a key/algorithm/use combination that cannot work (InvalidArgument/NotSupported)."""
    if usage in _SIGNING and not key_type.is_key_pair:
        raise _invalid("signing needs a key pair")
    if usage in _ON_MESSAGES:
        if not (alg.is_hash_and_sign or alg.scheme is SignScheme.PURE_EDDSA):
            raise _invalid("this algorithm cannot sign messages")
    elif alg.scheme is SignScheme.PURE_EDDSA:
        raise _invalid("PureEdDSA signs messages, not hashes")
    if alg.scheme in _RSA_SCHEMES:
        if not key_type.is_rsa:
            raise _invalid("an RSA algorithm needs an RSA key")
    elif alg.scheme in _ECDSA_SCHEMES:
        if not key_type.is_ecc or key_type.family not in WEIERSTRASS_FAMILIES:
            raise _invalid("ECDSA needs a key on a Weierstrass curve")
        curve_name(key_type, bits)
    elif not key_type.is_ecc or key_type.family is not EccFamily.TWISTED_EDWARDS:
        raise _invalid("EdDSA needs a twisted Edwards key")
    if alg.hash is not None and alg.hash is not Hash.ANY:
        _check_hash(alg, bits)


def _check_hash(alg: SignAlgorithm, bits: int) -> None:
    assert alg.hash is not None
    if alg.hash is Hash.RIPEMD160:
        # No `cryptography` hash object: only schemes that need just the digest can use it.
        if alg.scheme not in (SignScheme.RSA_PKCS1V15, SignScheme.ECDSA):
            raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "RIPEMD-160 with this scheme")
        return
    hash_algorithm(alg.hash)  # NotSupported for hashes this build lacks
    if alg.scheme is SignScheme.RSA_PSS and bits // 8 < 2 * alg.hash.size + 2:
        raise _invalid("the RSA key is too small for PSS with this hash")


def check_hash_length(alg: SignAlgorithm, bits: int, hash_value: bytes) -> None:
    """The hash given to SignHash/VerifyHash has the length the algorithm (and key) implies."""
    if alg.hash is not None:
        if len(hash_value) != alg.hash.size:
            raise _invalid("the hash length does not match the algorithm")
    elif alg.scheme is SignScheme.ECDSA_ANY:
        if len(hash_value) not in _PREHASH_BY_LENGTH:
            raise _invalid("not the length of a supported hash")
    elif alg.scheme is SignScheme.RSA_PKCS1V15_RAW and len(hash_value) > bits // 8 - 11:
        raise _invalid("input too long for raw PKCS#1 v1.5 with this key")


# ECDSA parameter objects by (algorithm, hash length): immutable, made once.
_ECDSA_PARAMETERS: dict[tuple[SignAlgorithm, int], ec.ECDSA] = {}
# Key object classes that are RSA (an isinstance over an ABC costs a microsecond per request).
_IS_RSA: dict[type, bool] = {}


def _ecdsa(alg: SignAlgorithm, hash_value: bytes) -> ec.ECDSA:
    slot = (alg, len(hash_value))
    found = _ECDSA_PARAMETERS.get(slot)
    if found is None:
        deterministic = alg.scheme is SignScheme.DETERMINISTIC_ECDSA
        found = ec.ECDSA(_prehashed(alg, hash_value), deterministic)
        _ECDSA_PARAMETERS[slot] = found  # a few dozen at most: schemes x hashes
    return found


def _is_rsa(private: PrivateKey) -> bool:
    kind = type(private)
    found = _IS_RSA.get(kind)
    if found is None:
        found = _IS_RSA[kind] = isinstance(private, rsa.RSAPrivateKey)
    return found


def _prehashed(alg: SignAlgorithm, hash_value: bytes) -> utils.Prehashed:
    if alg.hash is not None and alg.hash is not Hash.RIPEMD160:
        return utils.Prehashed(hash_algorithm(alg.hash))
    return utils.Prehashed(_PREHASH_BY_LENGTH[len(hash_value)]())


def _pss(alg: SignAlgorithm) -> padding.PSS:
    assert alg.hash is not None
    return padding.PSS(mgf=padding.MGF1(hash_algorithm(alg.hash)), salt_length=alg.hash.size)


def _sign(private: PrivateKey, key: OpenKey, alg: SignAlgorithm, hash_value: bytes) -> bytes:
    if _is_rsa(private):
        assert isinstance(private, rsa.RSAPrivateKey)
        if alg.scheme is SignScheme.RSA_PKCS1V15_RAW:
            return pkcs1v15_sign_encoded(private, hash_value)
        if alg.hash is Hash.RIPEMD160:
            return pkcs1v15_sign_encoded(private, _RIPEMD160_DIGEST_INFO + hash_value)
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
        if alg.scheme is SignScheme.RSA_PSS:
            pad = _pss(alg)
        return private.sign(hash_value, pad, _prehashed(alg, hash_value))
    # Not RSA, and EdDSA does not come here (_sign_any): an elliptic curve key.
    der = cast(ec.EllipticCurvePrivateKey, private).sign(hash_value, _ecdsa(alg, hash_value))
    r, s = utils.decode_dss_signature(der)
    size = ecc_byte_length(key.bits)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify_public(
    public: PublicKey, bits: int, alg: SignAlgorithm, hash_value: bytes, signature: bytes
) -> None:
    """Verify an RSA or ECDSA signature over `hash_value` in PSA format (InvalidSignature)."""
    try:
        if isinstance(public, rsa.RSAPublicKey):
            if len(signature) != (public.key_size + 7) // 8:
                raise InvalidSignature
            if alg.scheme is SignScheme.RSA_PKCS1V15_RAW or alg.hash is Hash.RIPEMD160:
                expected = hash_value
                if alg.scheme is SignScheme.RSA_PKCS1V15:
                    expected = _RIPEMD160_DIGEST_INFO + hash_value
                recovered = public.recover_data_from_signature(signature, padding.PKCS1v15(), None)
                if not hmac.compare_digest(recovered, expected):
                    raise InvalidSignature
                return
            pad: padding.AsymmetricPadding = padding.PKCS1v15()
            if alg.scheme is SignScheme.RSA_PSS:
                pad = _pss(alg)
            public.verify(signature, hash_value, pad, _prehashed(alg, hash_value))
            return
        assert isinstance(public, ec.EllipticCurvePublicKey)
        size = ecc_byte_length(bits)
        if len(signature) != 2 * size:
            raise InvalidSignature
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        der = utils.encode_dss_signature(r, s)
        public.verify(der, hash_value, ec.ECDSA(_prehashed(alg, hash_value)))
    except (InvalidSignature, ValueError):
        raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "invalid signature") from None


def _sign_any(settings: Settings, key: OpenKey, alg: SignAlgorithm, value: bytes) -> bytes:
    private = settings.vault.private_key(key)
    try:
        if alg.scheme is SignScheme.PURE_EDDSA:
            assert isinstance(private, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
            return private.sign(value)
        return _sign(private, key, alg, value)
    except UnsupportedAlgorithm:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "unsupported by the backend") from None


def _verify_any(
    settings: Settings, key: OpenKey, alg: SignAlgorithm, value: bytes, signature: bytes
) -> None:
    public = settings.vault.public_key(key)
    try:
        if alg.scheme is SignScheme.PURE_EDDSA:
            assert isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
            try:
                public.verify(signature, value)
            except InvalidSignature:
                raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "invalid signature") from None
            return
        verify_public(public, key.bits, alg, value, signature)
    except UnsupportedAlgorithm:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "unsupported by the backend") from None


def _check(settings: Settings, key: OpenKey, alg: SignAlgorithm, usage: Usage) -> None:
    verdict = (check_sign, usage, alg)
    if verdict not in key.passed:  # a use this key passed is not checked again
        check_sign(key.attributes.key_type, key.bits, alg, usage)
        key.passed.add(verdict)


def _check_given_hash(
    settings: Settings, key: OpenKey, alg: SignAlgorithm, hash_value: bytes
) -> None:
    check_hash_length(alg, key.bits, hash_value)


KEY_OPERATIONS = signature_operations(
    SignPrimitives(KeyUse(open_for, _check), _check_given_hash, sign=_sign_any, verify=_verify_any)
)
