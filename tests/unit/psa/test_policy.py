"""The PSA layer: algorithm parsing and permission, usage flags, deprecation, DH groups."""

from __future__ import annotations

import pytest

from tessera.psa.algorithms import (
    AeadAlgorithm,
    AeadKind,
    Hash,
    MacAlgorithm,
    MacKind,
    SignAlgorithm,
    SignScheme,
    parse_aead,
    parse_algorithm,
    parse_mac,
    parse_sign,
    permits,
    require_specific,
)
from tessera.psa.attributes import parse_attributes
from tessera.psa.deprecation import key_deprecation
from tessera.psa.dh_groups import GROUP_BITS, FfdhPrivateKey, ffdhe_prime
from tessera.psa.usage import Usage, UsageFlags
from tessera.wire.proto import psa_algorithm_pb2
from tessera.wire.status import Status, StatusError
from tests.unit.software.builders import A, aead, attributes, hmac, sign, sign_policy

ECDSA_ANY_HASH = SignAlgorithm(SignScheme.ECDSA, Hash.ANY)


def test_wildcard_hash_permits_the_same_scheme_with_any_specific_hash() -> None:
    assert permits(ECDSA_ANY_HASH, SignAlgorithm(SignScheme.ECDSA, Hash.SHA_384))
    assert not permits(ECDSA_ANY_HASH, SignAlgorithm(SignScheme.DETERMINISTIC_ECDSA, Hash.SHA_384))
    assert not permits(ECDSA_ANY_HASH, ECDSA_ANY_HASH.__class__(SignScheme.ECDSA_ANY))
    specific = SignAlgorithm(SignScheme.ECDSA, Hash.SHA_256)
    assert permits(specific, specific)
    assert not permits(specific, SignAlgorithm(SignScheme.ECDSA, Hash.SHA_384))
    with pytest.raises(StatusError) as caught:
        require_specific(ECDSA_ANY_HASH)
    assert caught.value.status is Status.PSA_ERROR_INVALID_ARGUMENT


def test_parsing_normalises_full_length_truncations() -> None:
    assert parse_mac(hmac(A.SHA_256, 32)) == MacAlgorithm(MacKind.HMAC, Hash.SHA_256)
    assert parse_mac(hmac(A.SHA_256, 16)) == MacAlgorithm(MacKind.HMAC, Hash.SHA_256, 16)
    assert parse_aead(aead(A.Aead.GCM, 16)) == AeadAlgorithm(AeadKind.GCM)
    assert parse_sign(sign("ecdsa", any_hash=True)) == ECDSA_ANY_HASH
    for bad in (hmac(A.SHA_256, 0), hmac(A.SHA_256, 33)):
        with pytest.raises(StatusError):
            parse_mac(bad)


@pytest.mark.parametrize(
    "pb",
    [
        psa_algorithm_pb2.Algorithm(hash=A.HASH_NONE),
        psa_algorithm_pb2.Algorithm(cipher=A.CIPHER_NONE),
        psa_algorithm_pb2.Algorithm(aead=A.Aead()),
        psa_algorithm_pb2.Algorithm(asymmetric_signature=A.AsymmetricSignature()),
        sign_policy("ecdsa"),  # hash-and-sign without a hash
    ],
)
def test_invalid_algorithms_are_invalid_arguments(pb: psa_algorithm_pb2.Algorithm) -> None:
    with pytest.raises(StatusError) as caught:
        parse_algorithm(pb)
    assert caught.value.status is Status.PSA_ERROR_INVALID_ARGUMENT


def test_usage_flags_imply_message_from_hash() -> None:
    flags = UsageFlags(sign_hash=True, verify_hash=True)
    assert flags.allows(Usage.SIGN_MESSAGE) and flags.allows(Usage.VERIFY_MESSAGE)
    assert not UsageFlags(sign_message=True).allows(Usage.SIGN_HASH)
    assert not UsageFlags(export=True).any_use
    with pytest.raises(StatusError) as caught:
        UsageFlags().require(Usage.EXPORT)
    assert caught.value.status is Status.PSA_ERROR_NOT_PERMITTED


@pytest.mark.parametrize(
    ("pb", "deprecated"),
    [
        (attributes("rsa_key_pair", 1024), True),
        (attributes("rsa_key_pair", 2048), False),
        (attributes("des", 64), True),
        (attributes("arc4", 128), True),
        (attributes("ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_1), family=2), True),
        (attributes("ecc_key_pair", 256, sign_policy("ecdsa", any_hash=True), family=2), False),
        (attributes("hmac", 256, A(mac=hmac(A.MD5))), True),
        (attributes("ecc_key_pair", 160, family=3), True),
    ],
)
def test_deprecation_rules(pb: object, deprecated: bool) -> None:
    assert (key_deprecation(parse_attributes(pb)) is not None) == deprecated  # type: ignore[arg-type]


def test_rfc7919_primes_match_the_published_words() -> None:
    # RFC 7919 appendix A: every prime starts with these 128 bits and ends with 64 one bits.
    for bits in GROUP_BITS:
        p = ffdhe_prime(bits)
        assert p.bit_length() == bits
        assert p >> (bits - 128) == 0xFFFFFFFFFFFFFFFFADF85458A2BB4A9A
        assert p & ((1 << 64) - 1) == (1 << 64) - 1
    # Words published in the RFC (the end of ffdhe2048 and ffdhe3072 before the final ones).
    assert (ffdhe_prime(2048) >> 64) & ((1 << 64) - 1) == 0x886B423861285C97
    assert (ffdhe_prime(3072) >> 64) & ((1 << 64) - 1) == 0x25E41D2B66C62E37
    # Safe primes: a Fermat test on p and q = (p - 1) / 2 for the smallest group.
    p = ffdhe_prime(2048)
    assert pow(3, p - 1, p) == 1 and pow(3, (p - 1) // 2 - 1, (p - 1) // 2) == 1


def test_ffdh_keys_agree_and_refuse_degenerate_peers() -> None:
    alice, bob = FfdhPrivateKey.generate(2048), FfdhPrivateKey.generate(2048)
    assert alice.exchange(bob.public_key()) == bob.exchange(alice.public_key())
    assert "x=" not in repr(alice)
    with pytest.raises(ValueError, match="range"):
        FfdhPrivateKey(2048, 1)
