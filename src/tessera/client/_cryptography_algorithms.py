"""What a `cryptography` signature algorithm or padding object means in PSA terms.

`cryptography` names an operation with objects (`ec.ECDSA(hashes.SHA256())`, `padding.PSS(...)`,
`padding.OAEP(...)`); PSA with one algorithm identifier, and a PSA key permits exactly one. These
functions translate the first into the second, so that `_cryptography_key` can refuse what the
key's policy does not permit before anything is sent, and ask the service for exactly what the
caller asked for. Pure functions: no calls, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives._asymmetric import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from tessera.client._errors import UsageError
from tessera.psa.algorithms import (
    Algorithm,
    EncryptionAlgorithm,
    EncryptionScheme,
    Hash,
    KeyAgreementAlgorithm,
    NoAlgorithm,
    SignAlgorithm,
    SignScheme,
    parse_algorithm,
    permits,
)
from tessera.psa.hashes import hash_algorithm
from tessera.wire.proto import psa_algorithm_pb2
from tessera.wire.status import StatusError

_HASH_AND_SIGN_FIELDS = ("rsa_pkcs1v15_sign", "rsa_pss", "ecdsa", "deterministic_ecdsa")
_SCHEME_NAMES = {
    SignScheme.ECDSA: "ECDSA",
    SignScheme.DETERMINISTIC_ECDSA: "deterministic ECDSA",
    SignScheme.ECDSA_ANY: "ECDSA over a digest of any hash",
    SignScheme.RSA_PSS: "RSA-PSS",
    SignScheme.RSA_PKCS1V15: "RSA PKCS#1 v1.5 signatures",
    SignScheme.RSA_PKCS1V15_RAW: "raw RSA PKCS#1 v1.5 signatures",
    SignScheme.PURE_EDDSA: "EdDSA",
}


def _known_hashes() -> dict[str, Hash]:
    """PSA hashes by `cryptography`'s name for them ("sha256": SHA_256)."""
    known: dict[str, Hash] = {}
    for candidate in Hash:
        if candidate is Hash.ANY:
            continue
        try:
            known[hash_algorithm(int(candidate)).name] = candidate
        except StatusError:
            continue  # MD2, MD4, RIPEMD-160: no `cryptography` object names them
    return known


_HASHES = _known_hashes()


@dataclass(frozen=True)
class SignRequest:
    """A signature as the caller asked for it: the PSA algorithm, the hash applied to the
    message (None for EdDSA), and whether the caller passed the digest itself (Prehashed)."""

    algorithm: SignAlgorithm
    hash: Hash | None
    prehashed: bool = False

    @property
    def by_digest(self) -> bool:
        """True when the service must be sent a digest (PsaSignHash), not the message."""
        return self.prehashed or self.algorithm.scheme is SignScheme.ECDSA_ANY


def psa_hash(algorithm: object) -> Hash:
    """The PSA hash of a `cryptography` hash object; UsageError for one PSA does not name."""
    if not isinstance(algorithm, hashes.HashAlgorithm):
        raise UsageError(f"expected a cryptography hash algorithm, got {type(algorithm).__name__}")
    found = _HASHES.get(algorithm.name)
    if found is None:
        raise UsageError(f"PSA keys cannot sign or decrypt with {algorithm.name}")
    return found


def _hash_choice(algorithm: object) -> tuple[Hash, bool]:
    """The hash, and whether the data is already its digest (`utils.Prehashed`)."""
    if isinstance(algorithm, Prehashed):
        # `Prehashed` keeps its hash in `_algorithm` and offers no public accessor for it.
        return psa_hash(algorithm._algorithm), True
    return psa_hash(algorithm), False


def _require_mgf1(mgf: padding.MGF, hash_alg: Hash, scheme: str) -> None:
    """PSA's RSA-PSS and RSA-OAEP use MGF1 with the scheme's own hash, nothing else."""
    if not isinstance(mgf, padding.MGF1) or psa_hash(mgf._algorithm) is not hash_alg:
        raise UsageError(
            f"PSA's {scheme} uses MGF1 with the same hash as the scheme: "
            f"pass mgf=padding.MGF1({_cryptography_name(hash_alg)}())"
        )


def _cryptography_name(hash_alg: Hash) -> str:
    return f"hashes.{type(hash_algorithm(int(hash_alg))).__name__}"


def ecdsa(allowed: Algorithm, algorithm: object) -> SignRequest:
    """`sign(data, ec.ECDSA(hash))` for a key whose policy permits `allowed`."""
    if not isinstance(algorithm, ec.ECDSA):
        raise UsageError(
            f"elliptic-curve keys sign with ec.ECDSA(hash), not {type(algorithm).__name__}"
        )
    hash_alg, prehashed = _hash_choice(algorithm.algorithm)
    policy_scheme = allowed.scheme if isinstance(allowed, SignAlgorithm) else None
    if policy_scheme is SignScheme.ECDSA_ANY:
        # PSA_ALG_ECDSA_ANY signs a digest of any hash: the digest is made here.
        return SignRequest(SignAlgorithm(SignScheme.ECDSA_ANY), hash_alg, prehashed)
    if algorithm.deterministic_signing:
        scheme = SignScheme.DETERMINISTIC_ECDSA
    elif policy_scheme is SignScheme.DETERMINISTIC_ECDSA:
        scheme = policy_scheme  # a deterministic signature is an ECDSA signature like any other
    else:
        scheme = SignScheme.ECDSA
    return SignRequest(SignAlgorithm(scheme, hash_alg), hash_alg, prehashed)


def eddsa() -> SignRequest:
    """`sign(data)` for an Ed25519 or Ed448 key: pure EdDSA over the message."""
    return SignRequest(SignAlgorithm(SignScheme.PURE_EDDSA), None)


def rsa_signature(pad: AsymmetricPadding, algorithm: object, key_bits: int) -> SignRequest:
    """`sign(data, padding, hash)` for an RSA key of `key_bits` bits."""
    if not isinstance(algorithm, hashes.HashAlgorithm | Prehashed):
        raise UsageError(
            f"RSA signatures take a hash or utils.Prehashed(hash), not {type(algorithm).__name__}"
        )
    hash_alg, prehashed = _hash_choice(algorithm)
    if isinstance(pad, padding.PKCS1v15):
        return SignRequest(SignAlgorithm(SignScheme.RSA_PKCS1V15, hash_alg), hash_alg, prehashed)
    if isinstance(pad, padding.PSS):
        _require_mgf1(pad.mgf, hash_alg, "RSA-PSS")
        salt = pad._salt_length  # no public accessor either
        size = hash_alg.size
        longest = (key_bits + 6) // 8 - size - 2  # RFC 8017 9.1.1: emLen - hLen - 2
        if not (
            salt is padding.PSS.DIGEST_LENGTH
            or salt == size
            or (salt is padding.PSS.MAX_LENGTH and longest == size)
        ):
            raise UsageError(
                f"PSA's RSA-PSS uses a salt as long as the hash ({size} bytes for "
                f"{_hash_name(hash_alg)}): pass salt_length=padding.PSS.DIGEST_LENGTH"
            )
        return SignRequest(SignAlgorithm(SignScheme.RSA_PSS, hash_alg), hash_alg, prehashed)
    raise UsageError(
        f"RSA keys sign with padding.PSS or padding.PKCS1v15, not {type(pad).__name__}"
    )


def rsa_decryption(pad: AsymmetricPadding) -> tuple[EncryptionAlgorithm, bytes]:
    """`decrypt(ciphertext, padding)`: the PSA algorithm and the OAEP label."""
    if isinstance(pad, padding.OAEP):
        hash_alg = psa_hash(pad.algorithm)
        _require_mgf1(pad.mgf, hash_alg, "RSA-OAEP")
        label: bytes | None = pad._label  # no public accessor
        return EncryptionAlgorithm(EncryptionScheme.RSA_OAEP, hash_alg), label or b""
    if isinstance(pad, padding.PKCS1v15):
        return EncryptionAlgorithm(EncryptionScheme.RSA_PKCS1V15), b""
    raise UsageError(
        f"RSA keys decrypt with padding.OAEP or padding.PKCS1v15, not {type(pad).__name__}"
    )


def _hash_name(hash_alg: Hash) -> str:
    return "any hash" if hash_alg is Hash.ANY else hash_alg.name.replace("_", "-")


def describe(alg: Algorithm) -> str:
    """An algorithm in words, for messages: "ECDSA with SHA-256"."""
    if isinstance(alg, SignAlgorithm):
        named = _SCHEME_NAMES[alg.scheme]
        return f"{named} with {_hash_name(alg.hash)}" if alg.hash is not None else named
    if isinstance(alg, EncryptionAlgorithm):
        if alg.scheme is EncryptionScheme.RSA_OAEP and alg.hash is not None:
            return f"RSA-OAEP with {_hash_name(alg.hash)}"
        return "RSA PKCS#1 v1.5 encryption"
    if isinstance(alg, KeyAgreementAlgorithm):
        raw = f"{alg.raw.name} key agreement"
        return raw if alg.kdf is None else f"{raw} with {alg.kdf.kind.value}"
    if isinstance(alg, NoAlgorithm):
        return "no algorithm"
    return type(alg).__name__.removesuffix("Algorithm").upper() or "another algorithm"


def policy(name: str, policy_pb: psa_algorithm_pb2.Algorithm) -> Algorithm:
    """A key's permitted algorithm, typed; UsageError if this library cannot read it."""
    try:
        return parse_algorithm(policy_pb)
    except StatusError as error:
        raise UsageError(f"key {name!r} has a policy this library cannot read: {error}") from None


def permitted(
    name: str, policy_pb: psa_algorithm_pb2.Algorithm, requested: Algorithm
) -> psa_algorithm_pb2.Algorithm:
    """The algorithm to send for `requested` on a key whose policy is `policy_pb`: the
    policy's own, with a wildcard hash replaced by the requested one. UsageError if the
    policy does not permit `requested` (PSA's rules: `tessera.psa.algorithms.permits`)."""
    allowed = policy(name, policy_pb)
    if not permits(allowed, requested):
        raise UsageError(
            f"key {name!r} permits {describe(allowed)} only (a PSA key is bound to one "
            f"algorithm); {describe(requested)} was asked for"
        )
    chosen = psa_algorithm_pb2.Algorithm()
    chosen.CopyFrom(policy_pb)
    if isinstance(requested, SignAlgorithm) and requested.hash not in (None, Hash.ANY):
        signature = chosen.asymmetric_signature
        variant = signature.WhichOneof("variant")
        if variant in _HASH_AND_SIGN_FIELDS:
            getattr(signature, variant).hash_alg.specific = int(requested.hash or 0)
    return chosen
