"""A small typed wrapper around `python-pkcs11`: the only module that imports it.

One logged-in read-write session serves the provider; PKCS#11 sessions are not thread-safe, so
every call holds a lock. Objects are found by CKA_ID (random, 16 bytes); labels repeat the id in
hex, so nothing on the token names an application or a key.

Library errors become StatusError here, at one boundary: a failed verification is
InvalidSignature, a failed decryption InvalidPadding / InvalidSignature (GCM), anything else
HardwareFailure with the PKCS#11 error's class name (never key material or the PIN).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pkcs11
from pkcs11 import MGF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from tessera.daemon.errors import ConfigError
from tessera.psa.algorithms import Hash
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.wire.status import Status, StatusError

_T = TypeVar("_T")

_HASHES: dict[Hash, tuple[Any, Any]] = {
    Hash.SHA_1: (Mechanism.SHA_1, MGF.SHA1),
    Hash.SHA_224: (Mechanism.SHA224, MGF.SHA224),
    Hash.SHA_256: (Mechanism.SHA256, MGF.SHA256),
    Hash.SHA_384: (Mechanism.SHA384, MGF.SHA384),
    Hash.SHA_512: (Mechanism.SHA512, MGF.SHA512),
}
#: Hashes the token can use inside PSS and OAEP parameters.
TOKEN_HASHES = frozenset(_HASHES)


def _failure(error: Exception) -> StatusError:
    return StatusError(Status.PSA_ERROR_HARDWARE_FAILURE, f"token error: {type(error).__name__}")


def _der_octet_string(value: bytes) -> bytes:
    length = len(value)
    if length < 0x80:
        return bytes([4, length]) + value
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([4, 0x80 | len(encoded)]) + encoded + value


def _octet_string_content(der: bytes) -> bytes:
    if len(der) < 2 or der[0] != 4:
        return der  # some tokens return the bare point
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    return der[offset : offset + length]


class Token:
    """One token, logged in as the user, for the life of the provider."""

    def __init__(self, settings: Pkcs11Settings) -> None:
        if not settings.library_path.is_file():
            raise ConfigError(f"pkcs11 provider: no PKCS#11 library at {settings.library_path}")
        try:
            library = pkcs11.lib(str(settings.library_path))
        except Exception as error:  # the loader raises several kinds
            raise ConfigError(
                f"pkcs11 provider: cannot load {settings.library_path}: {type(error).__name__}"
            ) from None
        token = self._find(library, settings)
        try:
            self._session: Any = token.open(rw=True, user_pin=settings.user_pin)
        except pkcs11.PKCS11Error as error:
            raise ConfigError(
                f"pkcs11 provider: login to token {token.label!r} failed ({type(error).__name__})"
            ) from None
        self.label: str = token.label
        self._lock = threading.Lock()

    @staticmethod
    def _find(library: Any, settings: Pkcs11Settings) -> Any:
        named = (settings.token_label, settings.slot_number, settings.serial_number)
        if all(value is None for value in named):
            return Token._only_token(library)
        try:
            for slot in library.get_slots(token_present=True):
                token = slot.get_token()
                if settings.slot_number is not None and slot.slot_id != settings.slot_number:
                    continue
                if settings.token_label is not None and token.label != settings.token_label:
                    continue
                serial = token.serial.decode("ascii", "replace").strip()
                if settings.serial_number is not None and serial != settings.serial_number:
                    continue
                return token
        except pkcs11.PKCS11Error as error:
            raise ConfigError(
                f"pkcs11 provider: cannot list slots ({type(error).__name__})"
            ) from None
        wanted = [
            f"{what} {value!r}"
            for what, value in (
                ("label", settings.token_label),
                ("slot", settings.slot_number),
                ("serial", settings.serial_number),
            )
            if value is not None
        ]
        raise ConfigError(f"pkcs11 provider: no token with {' and '.join(wanted)}")

    @staticmethod
    def _only_token(library: Any) -> Any:
        """The one initialized token, when the configuration names none (Parsec's rule)."""
        try:
            tokens = [slot.get_token() for slot in library.get_slots(token_present=True)]
        except pkcs11.PKCS11Error as error:
            raise ConfigError(
                f"pkcs11 provider: cannot list slots ({type(error).__name__})"
            ) from None
        ready = [t for t in tokens if t.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED]
        if len(ready) != 1:
            raise ConfigError(
                f"pkcs11 provider: {len(ready)} initialized tokens and none named: "
                "set slot_number, serial_number or token_label"
            )
        return ready[0]

    def close(self) -> None:
        """Log out and close the session."""
        with self._lock, contextlib.suppress(pkcs11.PKCS11Error):
            self._session.close()

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with self._lock:
            try:
                yield self._session
            except StatusError:
                raise
            except pkcs11.PKCS11Error as error:
                raise _failure(error) from None

    def _one(self, session: Any, key_id: bytes, object_class: Any) -> Any:
        found = list(session.get_objects({Attribute.ID: key_id, Attribute.CLASS: object_class}))
        if len(found) != 1:
            raise StatusError(Status.PSA_ERROR_DATA_CORRUPT, "the key's token object is missing")
        return found[0]

    def _run(self, key_id: bytes, object_class: Any, action: Callable[[Any], _T]) -> _T:
        with self._locked() as session:
            return action(self._one(session, key_id, object_class))

    # Key management

    @staticmethod
    def _private_template(extractable: bool) -> dict[Any, Any]:
        return {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: not extractable,
            Attribute.EXTRACTABLE: extractable,
            Attribute.DERIVE: False,
        }

    @classmethod
    def _ec_template(cls, extractable: bool) -> dict[Any, Any]:
        template = cls._private_template(extractable)
        return template

    def generate_rsa(self, key_id: bytes, bits: int, *, extractable: bool) -> None:
        """An RSA key pair (e = 65537) on the token."""
        with self._locked() as session:
            session.generate_keypair(
                KeyType.RSA,
                bits,
                id=key_id,
                label=key_id.hex(),
                store=True,
                public_template={Attribute.PUBLIC_EXPONENT: b"\x01\x00\x01"},
                private_template=self._private_template(extractable),
            )

    def generate_ec(self, key_id: bytes, curve: str, *, extractable: bool) -> None:
        """An ECC key pair on a named curve on the token."""
        with self._locked() as session:
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
            )
            params.generate_keypair(
                id=key_id,
                label=key_id.hex(),
                store=True,
                private_template=self._ec_template(extractable),
            )

    def generate_aes(self, key_id: bytes, bits: int, *, extractable: bool) -> None:
        """An AES key on the token."""
        template = self._private_template(extractable)
        template.pop(Attribute.TOKEN)
        with self._locked() as session:
            session.generate_key(
                KeyType.AES, bits, id=key_id, label=key_id.hex(), store=True, template=template
            )

    def import_rsa_public(self, key_id: bytes, modulus: int, exponent: int) -> None:
        """An RSA public key object."""
        self._create_public(
            key_id,
            KeyType.RSA,
            {
                Attribute.MODULUS: modulus.to_bytes((modulus.bit_length() + 7) // 8, "big"),
                Attribute.PUBLIC_EXPONENT: exponent.to_bytes(
                    (exponent.bit_length() + 7) // 8, "big"
                ),
                Attribute.ENCRYPT: True,
            },
        )

    def import_ec_public(self, key_id: bytes, curve: str, point: bytes) -> None:
        """An ECC public key object from an uncompressed point."""
        self._create_public(
            key_id,
            KeyType.EC,
            {
                Attribute.EC_PARAMS: encode_named_curve_parameters(curve),
                Attribute.EC_POINT: _der_octet_string(point),
            },
        )

    def _create_public(self, key_id: bytes, key_type: Any, extra: dict[Any, Any]) -> None:
        template = {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: key_type,
            Attribute.TOKEN: True,
            Attribute.ID: key_id,
            Attribute.LABEL: key_id.hex(),
            Attribute.VERIFY: True,
            **extra,
        }
        with self._locked() as session:
            session.create_object(template)

    def destroy(self, key_id: bytes) -> int:
        """Destroy every object with this id; how many there were."""
        with self._locked() as session:
            found = list(session.get_objects({Attribute.ID: key_id}))
            for item in found:
                item.destroy()
            return len(found)

    def rsa_public(self, key_id: bytes) -> tuple[int, int]:
        """(modulus, public exponent) of an RSA key pair or public key."""

        def read(key: Any) -> tuple[int, int]:
            n = int.from_bytes(key[Attribute.MODULUS], "big")
            return n, int.from_bytes(key[Attribute.PUBLIC_EXPONENT], "big")

        return self._run(key_id, ObjectClass.PUBLIC_KEY, read)

    def ec_point(self, key_id: bytes) -> bytes:
        """The uncompressed public point of an ECC key pair or public key."""
        return self._run(
            key_id,
            ObjectClass.PUBLIC_KEY,
            lambda key: _octet_string_content(bytes(key[Attribute.EC_POINT])),
        )

    def private_values(self, key_id: bytes, names: tuple[str, ...]) -> dict[str, bytes] | None:
        """Attributes of an extractable private/secret key (None when it is not extractable)."""

        def read(key: Any) -> dict[str, bytes] | None:
            if key[Attribute.SENSITIVE] or not key[Attribute.EXTRACTABLE]:
                return None
            return {name: bytes(key[Attribute[name]]) for name in names}

        with self._locked() as session:
            found = list(
                session.get_objects(
                    {Attribute.ID: key_id, Attribute.CLASS: ObjectClass.PRIVATE_KEY}
                )
            ) or list(
                session.get_objects({Attribute.ID: key_id, Attribute.CLASS: ObjectClass.SECRET_KEY})
            )
            if len(found) != 1:
                raise StatusError(
                    Status.PSA_ERROR_DATA_CORRUPT, "the key's token object is missing"
                )
            return read(found[0])

    # Operations

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
        valid = self._run(
            key_id,
            ObjectClass.PUBLIC_KEY,
            lambda key: bool(
                key.verify(data, signature, mechanism=mechanism, mechanism_param=param)
            ),
        )
        if not valid:
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

    def gcm_encrypt(
        self, key_id: bytes, nonce: bytes, aad: bytes, plaintext: bytes, tag_bytes: int
    ) -> bytes:
        """AES-GCM: ciphertext || tag."""
        param = GCMParams(nonce, aad, tag_bytes * 8)
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
        param = GCMParams(nonce, aad, tag_bytes * 8)

        def decrypt(key: Any) -> bytes:
            try:
                return bytes(key.decrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=param))
            except pkcs11.PKCS11Error:
                raise StatusError(
                    Status.PSA_ERROR_INVALID_SIGNATURE, "authentication failed"
                ) from None

        return self._run(key_id, ObjectClass.SECRET_KEY, decrypt)

    def random(self, size: int) -> bytes:
        """`size` random bytes from the token."""
        if size == 0:
            return b""
        with self._locked() as session:
            return bytes(session.generate_random(size * 8))
