"""Short constructors for the protobuf messages the software provider tests send."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tessera.wire.proto import psa_algorithm_pb2, psa_key_attributes_pb2
from tessera.wire.status import Status, StatusError

A = psa_algorithm_pb2.Algorithm
KeyType = psa_key_attributes_pb2.KeyType
F = KeyType  # curve families: F.SECP_R1, F.MONTGOMERY, ...

SECP_R1 = KeyType.SECP_R1
SECP_K1 = KeyType.SECP_K1
MONTGOMERY = KeyType.MONTGOMERY
EDWARDS = KeyType.TWISTED_EDWARDS


def key_type(kind: str, family: int | None = None) -> psa_key_attributes_pb2.KeyType:
    """`kind` is the oneof field name: "aes", "rsa_key_pair", "ecc_key_pair", ..."""
    pb = KeyType()
    message = getattr(pb, kind)
    message.SetInParent()
    if family is not None:
        if kind.startswith("ecc"):
            message.curve_family = family
        else:
            message.group_family = family
    return pb


def attributes(
    kind: str,
    bits: int,
    alg: psa_algorithm_pb2.Algorithm | None = None,
    *,
    family: int | None = None,
    **flags: bool,
) -> psa_key_attributes_pb2.KeyAttributes:
    """Key attributes with the given usage flags (keyword names as in UsageFlags)."""
    policy = psa_key_attributes_pb2.KeyPolicy(
        key_usage_flags=psa_key_attributes_pb2.UsageFlags(**flags),
        key_algorithm=alg if alg is not None else A(),  # unset: the "none" algorithm
    )
    return psa_key_attributes_pb2.KeyAttributes(
        key_type=key_type(kind, family), key_bits=bits, key_policy=policy
    )


def sign(
    scheme: str, hash_alg: psa_algorithm_pb2.Algorithm.Hash | None = None, *, any_hash: bool = False
) -> A.AsymmetricSignature:
    """A signature algorithm; `scheme` is the oneof field name ("ecdsa", "rsa_pss", ...)."""
    pb = A.AsymmetricSignature()
    message = getattr(pb, scheme)
    message.SetInParent()
    if any_hash:
        message.hash_alg.any.SetInParent()
    elif hash_alg is not None:
        message.hash_alg.specific = hash_alg
    return pb


def sign_policy(
    scheme: str, hash_alg: psa_algorithm_pb2.Algorithm.Hash | None = None, *, any_hash: bool = False
) -> A:
    """A policy algorithm holding a signature algorithm."""
    return A(asymmetric_signature=sign(scheme, hash_alg, any_hash=any_hash))


def hmac(hash_alg: psa_algorithm_pb2.Algorithm.Hash, length: int | None = None) -> A.Mac:
    """HMAC, full or truncated to `length` bytes."""
    full = A.Mac.FullLength(hmac=A.Mac.FullLength.Hmac(hash_alg=hash_alg))
    if length is None:
        return A.Mac(full_length=full)
    return A.Mac(truncated=A.Mac.Truncated(mac_alg=full, mac_length=length))


def cmac(length: int | None = None) -> A.Mac:
    """AES-CMAC, full or truncated."""
    full = A.Mac.FullLength(cmac=A.Mac.FullLength.Cmac())
    if length is None:
        return A.Mac(full_length=full)
    return A.Mac(truncated=A.Mac.Truncated(mac_alg=full, mac_length=length))


def aead(
    kind: psa_algorithm_pb2.Algorithm.Aead.AeadWithDefaultLengthTag, tag_length: int | None = None
) -> A.Aead:
    """An AEAD (A.Aead.GCM, CCM, CHACHA20_POLY1305), with a shortened tag if given."""
    if tag_length is None:
        return A.Aead(aead_with_default_length_tag=kind)
    return A.Aead(
        aead_with_shortened_tag=A.Aead.AeadWithShortenedTag(aead_alg=kind, tag_length=tag_length)
    )


def oaep(hash_alg: psa_algorithm_pb2.Algorithm.Hash) -> A.AsymmetricEncryption:
    """RSA-OAEP with `hash_alg`."""
    return A.AsymmetricEncryption(rsa_oaep=A.AsymmetricEncryption.RsaOaep(hash_alg=hash_alg))


def pkcs1v15_crypt() -> A.AsymmetricEncryption:
    """RSA PKCS#1 v1.5 encryption."""
    return A.AsymmetricEncryption(rsa_pkcs1v15_crypt=A.AsymmetricEncryption.RsaPkcs1v15Crypt())


def ecdh() -> A:
    """The raw ECDH policy."""
    return A(key_agreement=A.KeyAgreement(raw=A.KeyAgreement.ECDH))


def ffdh() -> A:
    """The raw FFDH policy."""
    return A(key_agreement=A.KeyAgreement(raw=A.KeyAgreement.FFDH))


@contextlib.contextmanager
def expect_status(status: Status) -> Iterator[None]:
    """Assert that the block raises StatusError with exactly `status`."""
    with pytest.raises(StatusError) as caught:
        yield
    assert caught.value.status is status, f"expected {status.name}, got {caught.value.status.name}"
