"""The RSA private-key operation done here, for what `cryptography` does not offer.

`cryptography` always adds a DigestInfo when signing and, on OpenSSL 3.2 and later, answers a
bad PKCS#1 v1.5 encryption padding with a random message (implicit rejection) instead of an
error. Raw PKCS#1 v1.5 signatures, RIPEMD-160 signatures and Parsec's explicit padding errors
need the bare operation: it is blinded with a random r (so its timing does not depend on the
input) and checked with the public exponent before release (a fault must not leak the key).
"""

from __future__ import annotations

import math
import secrets

from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.wire.status import Status, StatusError


def private_operation(private: rsa.RSAPrivateKey, value: int) -> int:
    """value ** d mod n, blinded, by the CRT, self-checked."""
    numbers = private.private_numbers()
    n, e = numbers.public_numbers.n, numbers.public_numbers.e
    if not 0 <= value < n:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "input out of range for the key")
    while True:
        r = secrets.randbelow(n - 2) + 2
        if math.gcd(r, n) == 1:
            break
    blinded = value * pow(r, e, n) % n
    # CRT: two half-size exponentiations.
    s1 = pow(blinded, numbers.dmp1, numbers.p)
    s2 = pow(blinded, numbers.dmq1, numbers.q)
    h = numbers.iqmp * (s1 - s2) % numbers.p
    result = (s2 + h * numbers.q) * pow(r, -1, n) % n
    if pow(result, e, n) != value:
        raise StatusError(Status.PSA_ERROR_CORRUPTION_DETECTED, "RSA private operation self-check")
    return result


def pkcs1v15_sign_encoded(private: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 over caller-encoded data (a DigestInfo, or anything for the raw form)."""
    k = (private.key_size + 7) // 8
    if len(data) > k - 11:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "input too long for this key")
    encoded = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
    signature = private_operation(private, int.from_bytes(encoded, "big"))
    return signature.to_bytes(k, "big")


def pkcs1v15_decrypt_explicit(private: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes:
    """RSAES-PKCS1-v1_5 decryption that reports a bad padding (PsaErrorInvalidPadding).

    Reporting it is a padding oracle (Bleichenbacher): only used where the operator asked for
    Parsec's answers and allowed deprecated primitives (docs/compatibility.md).
    """
    k = (private.key_size + 7) // 8
    if len(ciphertext) != k:
        raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "ciphertext length is not k")
    value = int.from_bytes(ciphertext, "big")
    if value >= private.public_key().public_numbers().n:
        raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed")
    encoded = private_operation(private, value).to_bytes(k, "big")
    separator = encoded.find(b"\x00", 2)
    if encoded[:2] != b"\x00\x02" or separator < 10:
        raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed")
    return encoded[separator + 1 :]
