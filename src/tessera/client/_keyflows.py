"""What the idiomatic API does, as flows of calls: written once, driven by both clients.

Each flow yields `Call`s and receives their results; `Client` runs them blocking and
`AsyncClient` with await. Algorithm choices (which PSA call, which hash, nonce sizes) live here
and in `_signflows`. Flows that depend on what the service offers take the client's
`Capabilities` and fall back where that is sound (docs/client.md, "Services that do less").
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tessera.client import _calls
from tessera.client._discovery import Capabilities, KeyFlow, run, run_sized
from tessera.client._errors import (
    BodySizeExceedsLimitError,
    DoesNotExistError,
    NotSupportedError,
    ProtocolError,
    UsageError,
)
from tessera.client._keyref import KeyRef, usage_error
from tessera.client._messages import AEAD, ALGORITHM, ASYMMETRIC_ENCRYPTION, MAC
from tessera.client._protocol import Encoded
from tessera.client._signflows import (
    local_digest,
    sign,
    sign_digest,
    signature_algorithm,
    verify,
    verify_digest,
)
from tessera.wire.opcodes import Opcode
from tessera.wire.protowire import encode, which
from tessera.wire.status import StatusError

# X.509, the key formats (cryptography's serialization), the PSA key types and key creation
# (CanDoCrypto's protobuf, the specs) load with the flows that use them: the `tessera` command
# starts faster without them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography import x509

    from tessera.client._placement import GENERATE, IMPORT, choose_provider, generate, import_key
    from tessera.psa import formats
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

__all__ = [
    "GENERATE",
    "IMPORT",
    "Capabilities",
    "KeyFlow",
    "KeyRef",
    "agree",
    "certificate_request",
    "choose_provider",
    "decrypt",
    "destroy",
    "digest",
    "encrypt",
    "export",
    "generate",
    "import_key",
    "is_public_only",
    "lookup",
    "mac",
    "public_key",
    "sign",
    "sign_digest",
    "signature_algorithm",
    "verify",
    "verify_digest",
    "verify_mac",
]

AEAD_NONCE_SIZE = 12  # GCM's natural size; within CCM's 7..13 and ChaCha20-Poly1305's 12


def _nonce(ref: KeyRef, capabilities: Capabilities) -> KeyFlow[bytes]:
    """A fresh AEAD nonce: from the provider's generator, else from this host's CSPRNG.

    A nonce must be unique, not secret, and 96 random bits from either source are.
    """
    if (yield from capabilities.serves(ref.provider, Opcode.PSA_GENERATE_RANDOM)):
        nonce = bytes((yield from run(_calls.generate_random(ref.provider, AEAD_NONCE_SIZE))))
        if len(nonce) != AEAD_NONCE_SIZE:  # the ciphertext could not be split again
            raise ProtocolError(f"asked for {AEAD_NONCE_SIZE} random bytes, got {len(nonce)}")
        return nonce
    return os.urandom(AEAD_NONCE_SIZE)


def encrypt(
    ref: KeyRef, plaintext: bytes, associated_data: bytes, capabilities: Capabilities
) -> KeyFlow[bytes]:
    """AEAD: a fresh nonce (see `_nonce`), returned in front of ciphertext and tag.
    RSA: OAEP or PKCS#1 v1.5 (associated data, if any, is the OAEP label)."""
    algorithm = ref.algorithm_fields
    variant = which(ALGORITHM, algorithm, "variant")
    if variant == "aead":
        nonce = yield from _nonce(ref, capabilities)
        size = len(plaintext) + len(associated_data)
        sealed = yield from run_sized(
            _calls.aead_encrypt(
                ref.provider,
                ref.name,
                Encoded(encode(AEAD, algorithm["aead"])),
                nonce=nonce,
                aad=associated_data,
                plaintext=plaintext,
            ),
            size,
            capabilities,
        )
        return nonce + bytes(sealed)
    if variant == "asymmetric_encryption":
        _check_rsa_plaintext(ref, len(plaintext))
        alg = Encoded(encode(ASYMMETRIC_ENCRYPTION, algorithm["asymmetric_encryption"]))
        call = _calls.asymmetric_encrypt(ref.provider, ref.name, alg, plaintext, associated_data)
        return (yield from run_sized(call, len(plaintext) + len(associated_data), capabilities))
    raise usage_error(ref, "encrypt")


def _check_rsa_plaintext(ref: KeyRef, size: int) -> None:
    """UsageError before sending more than one RSA block holds (the service's refusal would
    be a bare InvalidArgument), by the service's bound (`EncryptionAlgorithm.max_plaintext`).
    (The service's algorithm parsing, and protobuf with it, loads for RSA keys only.)"""
    from tessera.psa.algorithms import parse_encryption

    try:
        algorithm = parse_encryption(ref.algorithm.asymmetric_encryption)
    except StatusError:
        return  # an algorithm this library does not know: the service decides
    most = algorithm.max_plaintext(ref.attributes.key_bits)
    if ref.attributes.key_bits and size > most:
        raise UsageError(
            f"key {ref.name!r} encrypts at most {most} bytes at once ({size} given): RSA "
            "encrypts a short secret, such as a symmetric key, not data"
        )


def decrypt(
    ref: KeyRef, ciphertext: bytes, associated_data: bytes, capabilities: Capabilities
) -> KeyFlow[bytes]:
    """The inverse of `encrypt`; raises InvalidSignatureError if AEAD data was tampered with."""
    algorithm = ref.algorithm_fields
    variant = which(ALGORITHM, algorithm, "variant")
    size = len(ciphertext) + len(associated_data)
    if variant == "aead":
        if len(ciphertext) < AEAD_NONCE_SIZE:
            raise UsageError("ciphertext is shorter than its nonce")
        nonce, sealed = ciphertext[:AEAD_NONCE_SIZE], ciphertext[AEAD_NONCE_SIZE:]
        call = _calls.aead_decrypt(
            ref.provider,
            ref.name,
            Encoded(encode(AEAD, algorithm["aead"])),
            nonce=nonce,
            aad=associated_data,
            ciphertext=sealed,
        )
        return (yield from run_sized(call, size, capabilities))
    if variant == "asymmetric_encryption":
        alg = Encoded(encode(ASYMMETRIC_ENCRYPTION, algorithm["asymmetric_encryption"]))
        call = _calls.asymmetric_decrypt(ref.provider, ref.name, alg, ciphertext, associated_data)
        return (yield from run_sized(call, size, capabilities))
    raise usage_error(ref, "decrypt")


def _mac_algorithm(ref: KeyRef) -> Encoded:
    """The key's MAC algorithm, as the calls send it."""
    algorithm = ref.algorithm_fields
    if which(ALGORITHM, algorithm, "variant") != "mac":
        raise usage_error(ref, "compute MACs")
    return Encoded(encode(MAC, algorithm["mac"]))


def mac(ref: KeyRef, data: bytes, capabilities: Capabilities) -> KeyFlow[bytes]:
    """The key's MAC of `data` (no fallback for data too big for one request: the key is
    in the service)."""
    call = _calls.mac_compute(ref.provider, ref.name, _mac_algorithm(ref), data)
    return (yield from run_sized(call, len(data), capabilities))


def verify_mac(ref: KeyRef, data: bytes, tag: bytes, capabilities: Capabilities) -> KeyFlow[None]:
    """Check a MAC; raises InvalidSignatureError."""
    call = _calls.mac_verify(ref.provider, ref.name, _mac_algorithm(ref), data, tag)
    yield from run_sized(call, len(data), capabilities)


def digest(
    provider_id: int | None, alg: Algorithm.Hash, data: bytes, capabilities: Capabilities
) -> KeyFlow[bytes]:
    """The hash of `data`: by the provider's PsaHashCompute, else computed here.

    Hashing needs no key, so computing it here gives the same bytes. It is also done when the
    provider answers NotSupported for the algorithm, except for the deprecated hashes (MD2,
    MD4, MD5, SHA-1), where a refusal may be the service's policy; and for data too big for
    one request, after asking the service about a deprecated hash with no data (its policy is
    per algorithm, not per input). `provider_id` None is the service's preferred provider.
    """
    # (tessera.psa.algorithms, the service's policy parsing, loads only for this flow: a
    # signature by the `tessera` command does not pay for it at start)
    from tessera.psa.algorithms import DEPRECATED_HASHES

    provider = yield from capabilities.provider(provider_id)
    if not (yield from capabilities.serves(provider, Opcode.PSA_HASH_COMPUTE)):
        return local_digest(alg, data)
    call = _calls.hash_compute(provider, alg, data)
    try:
        if capabilities.fits(call):
            return (yield from run(call))
    except NotSupportedError:
        if int(alg) in DEPRECATED_HASHES:
            raise
        return local_digest(alg, data)
    except BodySizeExceedsLimitError:
        pass  # the service's limit is below the one this client was told
    if int(alg) in DEPRECATED_HASHES:
        yield from run(_calls.hash_compute(provider, alg, b""))
    return local_digest(alg, data)


def public_key(ref: KeyRef) -> KeyFlow[formats.PublicKey]:
    """The public key as a `cryptography` object (UsageError for symmetric keys)."""
    from tessera.psa import formats
    from tessera.psa.key_types import parse_key_type

    try:
        asymmetric = parse_key_type(ref.attributes.key_type).is_asymmetric
    except StatusError:
        asymmetric = True  # a type this library does not know: let the service decide
    if not asymmetric:
        raise UsageError(f"key {ref.name!r} is symmetric: it has no public key")
    data = yield from run(_calls.export_public_key(ref.provider, ref.name))
    try:
        key_type = parse_key_type(ref.attributes.key_type).public()
        return formats.public_key(key_type, ref.attributes.key_bits, data)
    except StatusError as error:
        raise NotSupportedError(f"cannot read the public key of {ref.name!r}: {error}") from None


def agree(ref: KeyRef, peer: formats.PublicKey | bytes) -> KeyFlow[bytes]:
    """The raw shared secret (ECDH / X25519 / X448 / FFDH) with a peer's public key."""
    from tessera.psa import formats

    algorithm = ref.algorithm
    if algorithm.WhichOneof("variant") != "key_agreement":
        raise usage_error(ref, "agree keys")
    raw = algorithm.key_agreement.raw
    if algorithm.key_agreement.WhichOneof("variant") == "with_key_derivation":
        raw = algorithm.key_agreement.with_key_derivation.ka_alg
    peer_bytes = (
        peer if isinstance(peer, bytes) else formats.encode_key(peer, ref.attributes.key_bits)
    )
    return (yield from run(_calls.raw_key_agreement(ref.provider, raw, ref.name, peer_bytes)))


def certificate_request(
    ref: KeyRef,
    subject: x509.Name | str,
    alternative_names: Sequence[str],
    capabilities: Capabilities,
) -> KeyFlow[x509.CertificateSigningRequest]:
    """A PKCS#10 request for `subject` (with subject alternative names: DNS names or IP
    addresses), signed by the key in the service."""
    from tessera.client import _csr

    name = _csr.subject_name(subject)
    alg = signature_algorithm(ref)
    algorithm_id, is_ecdsa = _csr.signature_algorithm(alg, ref.attributes.key_bits)
    key = yield from public_key(ref)
    info = _csr.request_info(name, key, alternative_names)
    signature = yield from sign(ref, info, capabilities)
    return _csr.assemble(info, algorithm_id, signature, ecdsa=is_ecdsa)


# client-level flows


def lookup(name: str, capabilities: Capabilities) -> KeyFlow[KeyRef]:
    """Find one of our keys by name (in provider priority order, when several providers hold
    a key of that name: the order is asked only then, one request fewer for a signature)."""
    keys: list[_calls.KeyInfo] = yield from run(_calls.list_keys())
    matches = {k.provider_id: k for k in keys if k.name == name}
    if not matches:
        raise DoesNotExistError(operation="lookup", key_name=name)
    if len(matches) == 1:
        return KeyRef.of(next(iter(matches.values())))
    for provider in (yield from capabilities.providers()):
        if provider in matches:
            return KeyRef.of(matches[provider])
    return KeyRef.of(next(iter(matches.values())))


def destroy(ref: KeyRef) -> KeyFlow[None]:
    """Destroy the key."""
    yield from run(_calls.destroy_key(ref.provider, ref.name))


def export(ref: KeyRef) -> KeyFlow[bytes]:
    """The key in its PSA format (needs the export usage flag)."""
    return (yield from run(_calls.export_key(ref.provider, ref.name)))


def is_public_only(ref: KeyRef) -> bool:
    """True for a stored public key (it can verify and encrypt, not sign or decrypt)."""
    from tessera.psa.key_types import KeyKind, parse_key_type

    try:
        return parse_key_type(ref.attributes.key_type).kind in (
            KeyKind.RSA_PUBLIC_KEY,
            KeyKind.ECC_PUBLIC_KEY,
            KeyKind.DH_PUBLIC_KEY,
        )
    except StatusError:
        return False


_PLACEMENT = frozenset({"GENERATE", "IMPORT", "choose_provider", "generate", "import_key"})


def __getattr__(name: str) -> object:
    """Key creation (`_placement`), re-exported here, imported on first use."""
    if name not in _PLACEMENT:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from tessera.client import _placement

    value: object = getattr(_placement, name)
    globals()[name] = value
    return value
