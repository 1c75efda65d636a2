"""What the idiomatic API does, as flows of calls: written once, driven by both clients.

Each flow yields `Call`s and receives their results; `Client` runs them blocking and
`AsyncClient` with await. Algorithm choices (which PSA call, which hash, nonce sizes) live here.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509

from tessera.client import _calls, _csr
from tessera.client._errors import DoesNotExistError, NotSupportedError, UsageError
from tessera.client._protocol import Call
from tessera.client.specs import KeySpec
from tessera.psa import formats
from tessera.psa.hashes import digest as compute_digest
from tessera.psa.key_types import KeyKind, parse_key_type
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import can_do_crypto_pb2
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes
from tessera.wire.status import StatusError

T = TypeVar("T")
KeyFlow = Generator[Call[Any], Any, T]

AEAD_NONCE_SIZE = 12  # GCM's natural size; within CCM's 7..13 and ChaCha20-Poly1305's 12
_CURVE_HASHES = {256: Algorithm.SHA_256, 384: Algorithm.SHA_384, 521: Algorithm.SHA_512}


def _run(call: Call[T]) -> KeyFlow[T]:
    """Yield one call and return its (typed) result."""
    result: T = yield call
    return result


@dataclass(frozen=True)
class KeyRef:
    """Where a key lives and what it is."""

    name: str
    provider: int
    attributes: KeyAttributes


def _policy(ref: KeyRef) -> tuple[Algorithm, Any]:
    return ref.attributes.key_policy.key_algorithm, ref.attributes.key_policy.key_usage_flags


def _usage_error(ref: KeyRef, what: str) -> UsageError:
    return UsageError(f"key {ref.name!r} cannot {what} (its policy does not allow it)")


def signature_algorithm(ref: KeyRef) -> Algorithm.AsymmetricSignature:
    """The key's signature algorithm, with a wildcard hash replaced by a concrete one."""
    algorithm, _ = _policy(ref)
    if algorithm.WhichOneof("variant") != "asymmetric_signature":
        raise _usage_error(ref, "sign")
    signature = Algorithm.AsymmetricSignature()
    signature.CopyFrom(algorithm.asymmetric_signature)
    variant = signature.WhichOneof("variant")
    if variant in ("rsa_pkcs1v15_sign", "rsa_pss", "ecdsa", "deterministic_ecdsa"):
        sign_hash = getattr(signature, variant).hash_alg
        if sign_hash.WhichOneof("variant") == "any":
            sign_hash.specific = _CURVE_HASHES.get(ref.attributes.key_bits, Algorithm.SHA_256)
    return signature


def _hash_of(signature: Algorithm.AsymmetricSignature) -> Algorithm.Hash | None:
    variant = signature.WhichOneof("variant")
    if variant in ("rsa_pkcs1v15_sign", "rsa_pss", "ecdsa", "deterministic_ecdsa"):
        specific: Algorithm.Hash = getattr(signature, variant).hash_alg.specific
        return specific
    return None


def _local_digest(alg: Algorithm.Hash, data: bytes) -> bytes:
    try:
        return compute_digest(alg, data)
    except StatusError as error:
        raise NotSupportedError(str(error)) from None


def sign(ref: KeyRef, data: bytes) -> KeyFlow[bytes]:
    """Sign a message: by the service's SignMessage, or hashed here and SignHash."""
    alg = signature_algorithm(ref)
    _, usage = _policy(ref)
    if usage.sign_message:
        return (yield from _run(_calls.sign_message(ref.provider, ref.name, alg, data)))
    hash_alg = _hash_of(alg)
    if not usage.sign_hash or hash_alg is None:
        raise _usage_error(ref, "sign messages")
    return (
        yield from _run(
            _calls.sign_hash(ref.provider, ref.name, alg, _local_digest(hash_alg, data))
        )
    )


def sign_digest(ref: KeyRef, digest: bytes) -> KeyFlow[bytes]:
    """Sign a digest computed by the caller with the key's hash."""
    alg = signature_algorithm(ref)
    return (yield from _run(_calls.sign_hash(ref.provider, ref.name, alg, digest)))


def verify(ref: KeyRef, signature: bytes, data: bytes) -> KeyFlow[None]:
    """Verify a message signature; raises InvalidSignatureError."""
    alg = signature_algorithm(ref)
    _, usage = _policy(ref)
    if usage.verify_message:
        yield from _run(_calls.verify_message(ref.provider, ref.name, alg, data, signature))
        return
    hash_alg = _hash_of(alg)
    if not usage.verify_hash or hash_alg is None:
        raise _usage_error(ref, "verify messages")
    digest = _local_digest(hash_alg, data)
    yield from _run(_calls.verify_hash(ref.provider, ref.name, alg, digest, signature))


def verify_digest(ref: KeyRef, signature: bytes, digest: bytes) -> KeyFlow[None]:
    """Verify a signature over a digest; raises InvalidSignatureError."""
    alg = signature_algorithm(ref)
    yield from _run(_calls.verify_hash(ref.provider, ref.name, alg, digest, signature))


def encrypt(ref: KeyRef, plaintext: bytes, associated_data: bytes) -> KeyFlow[bytes]:
    """AEAD: a fresh nonce from the service, returned in front of ciphertext and tag.
    RSA: OAEP or PKCS#1 v1.5 (associated data, if any, is the OAEP label)."""
    algorithm, _ = _policy(ref)
    variant = algorithm.WhichOneof("variant")
    if variant == "aead":
        nonce = yield from _run(_calls.generate_random(ref.provider, AEAD_NONCE_SIZE))
        sealed = yield from _run(
            _calls.aead_encrypt(
                ref.provider,
                ref.name,
                algorithm.aead,
                nonce=nonce,
                aad=associated_data,
                plaintext=plaintext,
            )
        )
        return bytes(nonce) + bytes(sealed)
    if variant == "asymmetric_encryption":
        return (
            yield from _run(
                _calls.asymmetric_encrypt(
                    ref.provider,
                    ref.name,
                    algorithm.asymmetric_encryption,
                    plaintext,
                    associated_data,
                )
            )
        )
    raise _usage_error(ref, "encrypt")


def decrypt(ref: KeyRef, ciphertext: bytes, associated_data: bytes) -> KeyFlow[bytes]:
    """The inverse of `encrypt`; raises InvalidSignatureError if AEAD data was tampered with."""
    algorithm, _ = _policy(ref)
    variant = algorithm.WhichOneof("variant")
    if variant == "aead":
        if len(ciphertext) < AEAD_NONCE_SIZE:
            raise UsageError("ciphertext is shorter than its nonce")
        nonce, sealed = ciphertext[:AEAD_NONCE_SIZE], ciphertext[AEAD_NONCE_SIZE:]
        return (
            yield from _run(
                _calls.aead_decrypt(
                    ref.provider,
                    ref.name,
                    algorithm.aead,
                    nonce=nonce,
                    aad=associated_data,
                    ciphertext=sealed,
                )
            )
        )
    if variant == "asymmetric_encryption":
        return (
            yield from _run(
                _calls.asymmetric_decrypt(
                    ref.provider,
                    ref.name,
                    algorithm.asymmetric_encryption,
                    ciphertext,
                    associated_data,
                )
            )
        )
    raise _usage_error(ref, "decrypt")


def _mac_algorithm(ref: KeyRef) -> Algorithm.Mac:
    algorithm, _ = _policy(ref)
    if algorithm.WhichOneof("variant") != "mac":
        raise _usage_error(ref, "compute MACs")
    return algorithm.mac


def mac(ref: KeyRef, data: bytes) -> KeyFlow[bytes]:
    """The key's MAC of `data`."""
    return (yield from _run(_calls.mac_compute(ref.provider, ref.name, _mac_algorithm(ref), data)))


def verify_mac(ref: KeyRef, data: bytes, tag: bytes) -> KeyFlow[None]:
    """Check a MAC; raises InvalidSignatureError."""
    yield from _run(_calls.mac_verify(ref.provider, ref.name, _mac_algorithm(ref), data, tag))


def public_key(ref: KeyRef) -> KeyFlow[formats.PublicKey]:
    """The public key as a `cryptography` object (UsageError for symmetric keys)."""
    try:
        asymmetric = parse_key_type(ref.attributes.key_type).is_asymmetric
    except StatusError:
        asymmetric = True  # a type this library does not know: let the service decide
    if not asymmetric:
        raise UsageError(f"key {ref.name!r} is symmetric: it has no public key")
    data = yield from _run(_calls.export_public_key(ref.provider, ref.name))
    try:
        key_type = parse_key_type(ref.attributes.key_type).public()
        return formats.public_key(key_type, ref.attributes.key_bits, data)
    except StatusError as error:
        raise NotSupportedError(f"cannot read the public key of {ref.name!r}: {error}") from None


def agree(ref: KeyRef, peer: formats.PublicKey | bytes) -> KeyFlow[bytes]:
    """The raw shared secret (ECDH / X25519 / X448 / FFDH) with a peer's public key."""
    algorithm, _ = _policy(ref)
    if algorithm.WhichOneof("variant") != "key_agreement":
        raise _usage_error(ref, "agree keys")
    raw = algorithm.key_agreement.raw
    if algorithm.key_agreement.WhichOneof("variant") == "with_key_derivation":
        raw = algorithm.key_agreement.with_key_derivation.ka_alg
    peer_bytes = (
        peer if isinstance(peer, bytes) else formats.encode_key(peer, ref.attributes.key_bits)
    )
    return (yield from _run(_calls.raw_key_agreement(ref.provider, raw, ref.name, peer_bytes)))


def certificate_request(
    ref: KeyRef, subject: x509.Name | str, alternative_names: Sequence[str] = ()
) -> KeyFlow[x509.CertificateSigningRequest]:
    """A PKCS#10 request for `subject` (with subject alternative names: DNS names or IP
    addresses), signed by the key in the service."""
    name = _csr.subject_name(subject)
    alg = signature_algorithm(ref)
    algorithm_id, is_ecdsa = _csr.signature_algorithm(alg, ref.attributes.key_bits)
    key = yield from public_key(ref)
    info = _csr.request_info(name, key, alternative_names)
    signature = yield from sign(ref, info)
    return _csr.assemble(info, algorithm_id, signature, ecdsa=is_ecdsa)


# client-level flows


def lookup(name: str, providers: list[int]) -> KeyFlow[KeyRef]:
    """Find one of our keys by name (in provider priority order)."""
    keys: list[_calls.KeyInfo] = yield from _run(_calls.list_keys())
    matches = {k.provider_id: k for k in keys if k.name == name}
    for provider in providers:
        if provider in matches:
            return KeyRef(name, provider, matches[provider].attributes)
    if matches:
        found = next(iter(matches.values()))
        return KeyRef(name, found.provider_id, found.attributes)
    raise DoesNotExistError(operation="lookup", key_name=name)


def choose_provider(attributes: KeyAttributes, check: int, providers: list[int]) -> KeyFlow[int]:
    """The first provider that says (CanDoCrypto) it can; else the first that cannot say."""
    undecided: int | None = None
    for provider in providers:
        opcodes: list[int] = yield from _run(_calls.list_opcodes(provider))
        if Opcode.CAN_DO_CRYPTO not in opcodes:
            if undecided is None:
                undecided = provider
            continue
        try:
            yield from _run(_calls.can_do_crypto(provider, check, attributes))  # type: ignore[arg-type]
        except NotSupportedError:
            continue
        return provider
    if undecided is not None:
        return undecided
    raise NotSupportedError(operation="choose provider", key_name=None)


GENERATE = can_do_crypto_pb2.GENERATE
IMPORT = can_do_crypto_pb2.IMPORT


def generate(name: str, spec: KeySpec, provider: int) -> KeyFlow[KeyRef]:
    """Create a key in the service."""
    attributes = spec.attributes()
    yield from _run(_calls.generate_key(provider, name, attributes))
    return KeyRef(name, provider, attributes)


def import_key(name: str, attributes: KeyAttributes, data: bytes, provider: int) -> KeyFlow[KeyRef]:
    """Import key bytes (PSA format)."""
    yield from _run(_calls.import_key(provider, name, attributes, data))
    return KeyRef(name, provider, attributes)


def destroy(ref: KeyRef) -> KeyFlow[None]:
    """Destroy the key."""
    yield from _run(_calls.destroy_key(ref.provider, ref.name))


def export(ref: KeyRef) -> KeyFlow[bytes]:
    """The key in its PSA format (needs the export usage flag)."""
    return (yield from _run(_calls.export_key(ref.provider, ref.name)))


def is_public_only(ref: KeyRef) -> bool:
    """True for a stored public key (it can verify and encrypt, not sign or decrypt)."""
    try:
        return parse_key_type(ref.attributes.key_type).kind in (
            KeyKind.RSA_PUBLIC_KEY,
            KeyKind.ECC_PUBLIC_KEY,
            KeyKind.DH_PUBLIC_KEY,
        )
    except StatusError:
        return False
