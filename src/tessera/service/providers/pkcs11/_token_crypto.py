"""Cryptographic mechanisms with token keys: signatures, RSA encryption, AES modes, ECDH.

Failures the caller caused become PSA's answer here: a verification that fails is
InvalidSignature, a failed RSA or CBC-PKCS#7 decryption InvalidPadding, a GCM tag that does not
verify InvalidSignature, an ECDH peer point the token refuses InvalidArgument.
"""

from __future__ import annotations

import struct
from typing import Any

import pkcs11
from pkcs11 import KDF, MGF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams

from tessera.psa.algorithms import CipherMode, Hash
from tessera.service.providers.pkcs11._token_session import TokenSession
from tessera.wire.status import Status, StatusError

_HASHES: dict[Hash, tuple[Any, Any]] = {
    Hash.SHA_1: (Mechanism.SHA_1, MGF.SHA1),
    Hash.SHA_224: (Mechanism.SHA224, MGF.SHA224),
    Hash.SHA_256: (Mechanism.SHA256, MGF.SHA256),
    Hash.SHA_384: (Mechanism.SHA384, MGF.SHA384),
    Hash.SHA_512: (Mechanism.SHA512, MGF.SHA512),
}
#: Hashes the token can use inside PSS and OAEP parameters.
TOKEN_HASHES = frozenset(_HASHES)
#: AES modes the token implements (ECB and CBC take whole blocks; CBC_PAD is PKCS#7).
TOKEN_CIPHER_MODES = frozenset(
    {CipherMode.ECB_NO_PADDING, CipherMode.CBC_NO_PADDING, CipherMode.CBC_PKCS7, CipherMode.CTR}
)
_BLOCK = 16
_COUNTER_SPACE = 1 << 128


class _AnyNonceGcm(GCMParams):
    """GCM parameters without python-pkcs11's 12-byte cap on the IV: PKCS#11 and SoftHSM2 take
    any length, and PSA allows GCM nonces of 8 to 128 bytes."""

    def __init__(self, nonce: bytes, aad: bytes, tag_bits: int) -> None:
        self.nonce, self.aad, self.tag_bits = nonce, aad, tag_bits


def _ctr_param(counter_block: bytes) -> bytes:
    # CK_AES_CTR_PARAMS {CK_ULONG ulCounterBits; CK_BYTE cb[16]}, raw: python-pkcs11's own
    # CTRParams fixes the low counter byte to 1, and PSA's IV is the whole counter block.
    return struct.pack("@L16s", 128, counter_block)


class TokenCrypto(TokenSession):
    """Operation calls of `Token`."""

    # Signatures

    def sign(self, key_id: bytes, data: bytes, scheme: str, pss_hash: Hash | None = None) -> bytes:
        """Sign with the private key: scheme "ecdsa" (r || s), "pkcs1" (over given DigestInfo
        or raw data) or "pss" (salt as long as the hash)."""
        mechanism, param = self._sign_mechanism(scheme, pss_hash)
        return self._run(
            key_id,
            ObjectClass.PRIVATE_KEY,
            lambda key: bytes(key.sign(data, mechanism=mechanism, mechanism_param=param)),
        )

    def verify(
        self,
        key_id: bytes,
        data: bytes,
        signature: bytes,
        scheme: str,
        pss_hash: Hash | None = None,
    ) -> None:
        """Verify with the public key; InvalidSignature if it does not match."""
        mechanism, param = self._sign_mechanism(scheme, pss_hash)

        def verify(key: Any) -> bool:
            try:
                return bool(key.verify(data, signature, mechanism=mechanism, mechanism_param=param))
            except (pkcs11.SignatureInvalid, pkcs11.SignatureLenRange, pkcs11.DataInvalid):
                return False

        if not self._run(key_id, ObjectClass.PUBLIC_KEY, verify):
            raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "invalid signature")

    @staticmethod
    def _sign_mechanism(scheme: str, pss_hash: Hash | None) -> tuple[Any, Any]:
        if scheme == "ecdsa":
            return Mechanism.ECDSA, None
        if scheme == "pkcs1":
            return Mechanism.RSA_PKCS, None
        assert pss_hash is not None
        hash_mech, mgf = _HASHES[pss_hash]
        return Mechanism.RSA_PKCS_PSS, (hash_mech, mgf, pss_hash.size)

    # RSA encryption

    @staticmethod
    def _rsa_mechanism(oaep_hash: Hash | None, label: bytes) -> tuple[Any, Any]:
        if oaep_hash is None:
            return Mechanism.RSA_PKCS, None
        hash_mech, mgf = _HASHES[oaep_hash]
        return Mechanism.RSA_PKCS_OAEP, (hash_mech, mgf, label or None)

    def rsa_encrypt(
        self, key_id: bytes, plaintext: bytes, oaep_hash: Hash | None, label: bytes
    ) -> bytes:
        """RSA PKCS#1 v1.5 or OAEP encryption with the public key."""
        mechanism, param = self._rsa_mechanism(oaep_hash, label)
        return self._run(
            key_id,
            ObjectClass.PUBLIC_KEY,
            lambda key: bytes(key.encrypt(plaintext, mechanism=mechanism, mechanism_param=param)),
        )

    def rsa_decrypt(
        self, key_id: bytes, ciphertext: bytes, oaep_hash: Hash | None, label: bytes
    ) -> bytes:
        """RSA decryption with the private key; any failure is InvalidPadding."""
        mechanism, param = self._rsa_mechanism(oaep_hash, label)

        def decrypt(key: Any) -> bytes:
            try:
                return bytes(key.decrypt(ciphertext, mechanism=mechanism, mechanism_param=param))
            except pkcs11.PKCS11Error:
                raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed") from None

        return self._run(key_id, ObjectClass.PRIVATE_KEY, decrypt)

    # AES

    def gcm_encrypt(
        self, key_id: bytes, nonce: bytes, aad: bytes, plaintext: bytes, tag_bytes: int
    ) -> bytes:
        """AES-GCM: ciphertext || tag."""
        param = _AnyNonceGcm(nonce, aad, tag_bytes * 8)
        return self._run(
            key_id,
            ObjectClass.SECRET_KEY,
            lambda key: bytes(
                key.encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=param)
            ),
        )

    def gcm_decrypt(
        self, key_id: bytes, nonce: bytes, aad: bytes, data: bytes, tag_bytes: int
    ) -> bytes:
        """AES-GCM decryption of ciphertext || tag (InvalidSignature if not authentic)."""
        param = _AnyNonceGcm(nonce, aad, tag_bytes * 8)

        def decrypt(key: Any) -> bytes:
            try:
                return bytes(key.decrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=param))
            except pkcs11.PKCS11Error:
                raise StatusError(
                    Status.PSA_ERROR_INVALID_SIGNATURE, "authentication failed"
                ) from None

        return self._run(key_id, ObjectClass.SECRET_KEY, decrypt)

    def cipher(
        self, key_id: bytes, mode: CipherMode, iv: bytes, data: bytes, *, encrypt: bool
    ) -> bytes:
        """AES in one of `TOKEN_CIPHER_MODES`; lengths are checked by the caller."""

        def run(key: Any) -> bytes:
            if mode is CipherMode.CTR:
                return self._ctr(key, iv, data)
            mechanism, param = {
                CipherMode.ECB_NO_PADDING: (Mechanism.AES_ECB, None),
                CipherMode.CBC_NO_PADDING: (Mechanism.AES_CBC, iv),
                CipherMode.CBC_PKCS7: (Mechanism.AES_CBC_PAD, iv),
            }[mode]
            if encrypt:
                return bytes(key.encrypt(data, mechanism=mechanism, mechanism_param=param))
            try:
                return bytes(key.decrypt(data, mechanism=mechanism, mechanism_param=param))
            except pkcs11.PKCS11Error:
                if mode is not CipherMode.CBC_PKCS7:
                    raise
                raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "invalid padding") from None

        return self._run(key_id, ObjectClass.SECRET_KEY, run)

    @staticmethod
    def _ctr(key: Any, iv: bytes, data: bytes) -> bytes:
        # The token refuses to wrap its 128-bit counter; PSA wraps it: split at the wrap.
        output, counter = b"", int.from_bytes(iv, "big")
        while data:
            part = data[: (_COUNTER_SPACE - counter) * _BLOCK]
            block = counter.to_bytes(_BLOCK, "big")
            output += bytes(
                key.encrypt(part, mechanism=Mechanism.AES_CTR, mechanism_param=_ctr_param(block))
            )
            data, counter = data[len(part) :], 0
        return output

    # Key agreement

    def ecdh(self, key_id: bytes, peer_point: bytes, length: int) -> bytes:
        """Raw ECDH: the shared x coordinate, `length` bytes, through a session object that is
        destroyed at once."""

        def derive(key: Any) -> bytes:
            try:
                secret = key.derive_key(
                    KeyType.GENERIC_SECRET,
                    length * 8,
                    mechanism=Mechanism.ECDH1_DERIVE,
                    mechanism_param=(KDF.NULL, None, peer_point),
                    template={
                        Attribute.TOKEN: False,
                        Attribute.SENSITIVE: False,
                        Attribute.EXTRACTABLE: True,
                    },
                )
            except pkcs11.PKCS11Error:
                raise StatusError(
                    Status.PSA_ERROR_INVALID_ARGUMENT, "the peer key is not usable"
                ) from None
            try:
                return bytes(secret[Attribute.VALUE])
            finally:
                secret.destroy()

        return self._run(key_id, ObjectClass.PRIVATE_KEY, derive)
