"""A Tessera key as a `cryptography` private-key object, its private half still in the service.

    signer = key.as_private_key()          # an ec.EllipticCurvePrivateKey (or RSA, Ed25519...)
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(signer, hashes.SHA256())
    token = jwt.encode(claims, signer, algorithm="ES256")

x509 builders and JWT libraries take a `cryptography` private key, check it with isinstance, and
call `sign`, `public_key`, `curve`, `key_size`. The classes here subclass `cryptography`'s
abstract key classes, so those checks pass, and answer each method with calls to the service:
signatures come back in `cryptography`'s formats (DER for ECDSA, not PSA's r || s).

A PSA key permits one algorithm: each call translates the `cryptography` algorithm and padding
objects (`_cryptography_algorithms`) and refuses, with a `UsageError` before anything is sent, one
the key's policy does not permit. Private numbers and bytes come only from keys made exportable;
`exchange` only from keys made for ECDH. Calls block: this wraps `Key`, not `AsyncKey`
(`cryptography`'s interfaces are synchronous).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, Self, TypeVar

from cryptography.hazmat.primitives import _serialization
from cryptography.hazmat.primitives._asymmetric import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tessera.client import _cryptography_algorithms as algorithms
from tessera.client import _keyflows
from tessera.client._discovery import Capabilities
from tessera.client._errors import ProtocolError, UsageError
from tessera.client._keyref import KeyRef
from tessera.client._protocol import Call
from tessera.psa import formats, hashes
from tessera.psa.algorithms import Algorithm, KeyAgreementAlgorithm, KeyAgreementKind
from tessera.psa.key_types import WEIERSTRASS_FAMILIES, EccFamily, KeyKind, KeyType, parse_key_type
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes
from tessera.wire.status import StatusError

if TYPE_CHECKING:
    from tessera.client._client import Key

T = TypeVar("T")


# What `formats.private_key` returns for the key kinds adapted here (not FFDH).
_SERIALIZABLE = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


class Drive(Protocol):
    """Runs a flow of calls to the end (`Client._drive`)."""

    def __call__(self, flow: Generator[Call[Any], Any, T], /) -> T: ...


class ServicePrivateKey:
    """A `cryptography` private key whose private half stays in the Tessera service.

    Made by `Key.as_private_key()`, as the subclass of `ec.EllipticCurvePrivateKey`,
    `rsa.RSAPrivateKey`, `ed25519.Ed25519PrivateKey` or `ed448.Ed448PrivateKey` that fits the
    key, so it goes wherever `cryptography` expects one (x509 and CSR builders, PyJWT...).
    """

    def __init__(self, key: Key, ref: KeyRef, drive: Drive, capabilities: Capabilities) -> None:
        self._key = key
        self._ref = ref
        self._drive = drive
        self._capabilities = capabilities
        self._public_key: formats.PublicKey | None = None

    @property
    def key(self) -> Key:
        """The Tessera key this object uses."""
        return self._key

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self._ref.name!r} provider={self._ref.provider}>"

    def __copy__(self) -> Self:
        return self  # a handle on a key in the service: nothing to copy

    def __deepcopy__(self, memo: dict[Any, Any]) -> Self:
        return self

    @property
    def key_size(self) -> int:
        """The key's size in bits (the curve's, or the RSA modulus's)."""
        bits = self._ref.attributes.key_bits
        if bits:
            return bits
        public = self._public()  # a key imported with its size left to the service
        if isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            return public.key_size
        self._wrong(public)

    def _key_type(self) -> KeyType:
        return parse_key_type(self._ref.attributes.key_type)

    def _public(self) -> formats.PublicKey:
        """The public key, asked once (PsaExportPublicKey) and kept."""
        if self._public_key is None:
            self._public_key = self._drive(_keyflows.public_key(self._ref))
        return self._public_key

    def _private(self, what: str) -> formats.PrivateKey:
        """The private key itself (PsaExportKey), for keys made exportable only."""
        if not self._ref.usage.export:
            raise UsageError(
                f"key {self._ref.name!r} cannot give {what}: its private key never leaves the "
                "Tessera service (it was not made exportable); public_key() gives the public half"
            )
        data = self._drive(_keyflows.export(self._ref))
        try:
            return formats.private_key(self._key_type(), self._ref.attributes.key_bits, data)
        except StatusError as error:
            raise ProtocolError(f"the exported key {self._ref.name!r}: {error}") from None

    def private_bytes(
        self,
        encoding: _serialization.Encoding,
        format: _serialization.PrivateFormat,
        encryption_algorithm: _serialization.KeySerializationEncryption,
    ) -> bytes:
        """The serialized private key: exportable keys only (UsageError otherwise)."""
        private = self._private("its private bytes")
        return (
            private.private_bytes(encoding, format, encryption_algorithm)
            if isinstance(private, _SERIALIZABLE)
            else self._wrong(private)
        )

    def _wrong(self, found: object) -> NoReturn:
        raise ProtocolError(
            f"the service gave a {type(found).__name__} for key {self._ref.name!r}, "
            f"not what a {type(self).__name__} needs"
        )

    def _permitted(self, requested: Algorithm) -> KeyRef:
        """The key as a flow sees it, its algorithm narrowed to `requested` (a wildcard hash
        made concrete); UsageError if the key's policy does not permit `requested`."""
        chosen = algorithms.permitted(self._ref.name, self._ref.algorithm, requested)
        attributes = KeyAttributes()
        attributes.CopyFrom(self._ref.attributes)
        attributes.key_policy.key_algorithm.CopyFrom(chosen)
        return KeyRef(self._ref.name, self._ref.provider, attributes)

    def _sign(self, request: algorithms.SignRequest, data: bytes) -> bytes:
        """A signature in PSA's format: the message to PsaSignMessage (or hashed here, as
        `Key.sign` does), or a digest to PsaSignHash."""
        ref = self._permitted(request.algorithm)
        if not request.by_digest:
            return self._drive(_keyflows.sign(ref, data, self._capabilities))
        assert request.hash is not None  # by_digest: Prehashed or ECDSA_ANY, both name a hash
        if not ref.usage.sign_hash:
            raise UsageError(
                f"key {ref.name!r} cannot sign a digest (its policy does not permit sign_hash)"
            )
        digest = data if request.prehashed else hashes.digest(int(request.hash), data)
        if len(digest) != request.hash.size:
            raise UsageError(
                f"a {request.hash.name.replace('_', '-')} digest is {request.hash.size} bytes, "
                f"not {len(digest)}"
            )
        return self._drive(_keyflows.sign_digest(ref, digest))


class ServiceEllipticCurvePrivateKey(ServicePrivateKey, ec.EllipticCurvePrivateKey):
    """An `ec.EllipticCurvePrivateKey` held by the service (ECDSA keys; ECDH keys exchange)."""

    @property
    def curve(self) -> ec.EllipticCurve:
        """The key's curve."""
        try:
            name = formats.curve_name(self._key_type(), self._ref.attributes.key_bits)
            return formats.weierstrass_curve(name)
        except (StatusError, KeyError):
            return self.public_key().curve

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public key (asked once, then kept)."""
        public = self._public()
        return public if isinstance(public, ec.EllipticCurvePublicKey) else self._wrong(public)

    def sign(self, data: bytes | bytearray | memoryview, signature_algorithm: object) -> bytes:
        """A DER-encoded ECDSA signature, as `cryptography`'s own keys make."""
        allowed = algorithms.policy(self._ref.name, self._ref.algorithm)
        request = algorithms.ecdsa(allowed, signature_algorithm)
        signature = self._sign(request, bytes(data))
        half = len(signature) // 2
        r, s = (int.from_bytes(part, "big") for part in (signature[:half], signature[half:]))
        return encode_dss_signature(r, s)

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """The raw ECDH shared secret (for keys whose policy permits ECDH)."""
        if not isinstance(algorithm, ec.ECDH):
            raise UsageError(f"exchange takes ec.ECDH(), not {type(algorithm).__name__}")
        ref = self._permitted(KeyAgreementAlgorithm(KeyAgreementKind.ECDH))
        if peer_public_key.curve.name != self.curve.name:
            raise UsageError(
                f"the peer's key is on {peer_public_key.curve.name}, key {ref.name!r} on "
                f"{self.curve.name}"
            )
        return self._drive(_keyflows.agree(ref, peer_public_key))

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        """The private numbers: exportable keys only (UsageError otherwise)."""
        private = self._private("its private numbers")
        return (
            private.private_numbers()
            if isinstance(private, ec.EllipticCurvePrivateKey)
            else self._wrong(private)
        )


class ServiceRSAPrivateKey(ServicePrivateKey, rsa.RSAPrivateKey):
    """An `rsa.RSAPrivateKey` held by the service (PSS or PKCS#1 v1.5 signing, or decryption)."""

    def public_key(self) -> rsa.RSAPublicKey:
        """The public key (asked once, then kept)."""
        public = self._public()
        return public if isinstance(public, rsa.RSAPublicKey) else self._wrong(public)

    def sign(
        self,
        data: bytes,
        padding: AsymmetricPadding,
        algorithm: object,
    ) -> bytes:
        """A signature with `padding` (PSS with a salt as long as the hash, or PKCS1v15) over
        `data` hashed with `algorithm` (or over a digest: `utils.Prehashed(hash)`)."""
        request = algorithms.rsa_signature(padding, algorithm, self.key_size)
        return self._sign(request, bytes(data))

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        """Decrypt (OAEP with MGF1 of the same hash, or PKCS1v15) as the key's policy permits."""
        requested, label = algorithms.rsa_decryption(padding)
        ref = self._permitted(requested)
        return self._drive(_keyflows.decrypt(ref, bytes(ciphertext), label, self._capabilities))

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        """The private numbers: exportable keys only (UsageError otherwise)."""
        private = self._private("its private numbers")
        return (
            private.private_numbers()
            if isinstance(private, rsa.RSAPrivateKey)
            else self._wrong(private)
        )


class _EdDsa(ServicePrivateKey):
    """What Ed25519 and Ed448 keys share: pure EdDSA over the whole message."""

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        """An EdDSA signature over `data` (PSA's pure EdDSA, as `cryptography` makes)."""
        request = algorithms.eddsa()
        return self._sign(request, bytes(data))

    def private_bytes_raw(self) -> bytes:
        """The raw private key: exportable keys only (UsageError otherwise)."""
        private = self._private("its private bytes")
        return (
            private.private_bytes_raw()
            if isinstance(private, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
            else self._wrong(private)
        )


class ServiceEd25519PrivateKey(_EdDsa, ed25519.Ed25519PrivateKey):
    """An `ed25519.Ed25519PrivateKey` held by the service."""

    def public_key(self) -> ed25519.Ed25519PublicKey:
        """The public key (asked once, then kept)."""
        public = self._public()
        return public if isinstance(public, ed25519.Ed25519PublicKey) else self._wrong(public)


class ServiceEd448PrivateKey(_EdDsa, ed448.Ed448PrivateKey):
    """An `ed448.Ed448PrivateKey` held by the service."""

    def public_key(self) -> ed448.Ed448PublicKey:
        """The public key (asked once, then kept)."""
        public = self._public()
        return public if isinstance(public, ed448.Ed448PublicKey) else self._wrong(public)


PrivateKeyAdapter = (
    ServiceEllipticCurvePrivateKey
    | ServiceRSAPrivateKey
    | ServiceEd25519PrivateKey
    | ServiceEd448PrivateKey
)


def adapt(key: Key, ref: KeyRef, drive: Drive, capabilities: Capabilities) -> PrivateKeyAdapter:
    """The `cryptography` private-key object for `key`; UsageError for keys that have none."""
    try:
        key_type: KeyType | None = parse_key_type(ref.attributes.key_type)
    except StatusError:
        key_type = None
    bits = ref.attributes.key_bits
    if key_type is not None and key_type.kind is KeyKind.RSA_KEY_PAIR:
        return ServiceRSAPrivateKey(key, ref, drive, capabilities)
    if key_type is not None and key_type.kind is KeyKind.ECC_KEY_PAIR:
        if key_type.family in WEIERSTRASS_FAMILIES:
            return ServiceEllipticCurvePrivateKey(key, ref, drive, capabilities)
        if key_type.family is EccFamily.TWISTED_EDWARDS and bits == 255:
            return ServiceEd25519PrivateKey(key, ref, drive, capabilities)
        if key_type.family is EccFamily.TWISTED_EDWARDS and bits == 448:
            return ServiceEd448PrivateKey(key, ref, drive, capabilities)
        if key_type.family is EccFamily.MONTGOMERY:
            raise UsageError(
                f"key {ref.name!r} is an X25519/X448 key: use key.agree(peer) for its shared "
                "secret (cryptography's X25519PrivateKey is not offered)"
            )
    what = f"of type {key_type.kind.value}" if key_type is not None else "of an unknown type"
    raise UsageError(
        f"key {ref.name!r} is {what}: only RSA, elliptic-curve, Ed25519 and Ed448 key pairs "
        "act as cryptography private keys"
    )
