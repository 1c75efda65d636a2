"""Checking a provider's outputs outside Tessera, with `cryptography`, and PSA's formats."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from tessera.wire.proto import psa_algorithm_pb2

A = psa_algorithm_pb2.Algorithm
HASHES: dict[int, hashes.HashAlgorithm] = {
    A.Hash.SHA_256: hashes.SHA256(),
    A.Hash.SHA_384: hashes.SHA384(),
}
CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1()}


def digest(hash_alg: A.Hash, data: bytes) -> bytes:
    """The hash of `data` with a PSA hash algorithm."""
    context = hashes.Hash(HASHES[hash_alg])
    context.update(data)
    return context.finalize()


def der_signature(raw: bytes) -> bytes:
    """PSA's ECDSA r || s as the DER `cryptography` verifies."""
    size = len(raw) // 2
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    return utils.encode_dss_signature(r, s)


def raw_signature(der: bytes, bits: int) -> bytes:
    """A DER ECDSA signature as PSA's r || s."""
    r, s = utils.decode_dss_signature(der)
    size = (bits + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def ec_public(bits: int, point: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256/P-384 public key from PSA's uncompressed point."""
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVES[bits], point)


def rsa_public(der: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from PSA's format (PKCS#1 RSAPublicKey)."""
    key = serialization.load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def point(key: ec.EllipticCurvePublicKey) -> bytes:
    """PSA's format of an ECC public key: the uncompressed point."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
