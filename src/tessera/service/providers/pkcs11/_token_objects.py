"""Key objects on the token: generate, create from imported material, read, destroy.

Objects are found by CKA_ID (random 16 bytes for Tessera's keys, a key id of another width for
keys another service made); labels repeat the id in hex, so nothing on the token names an
application or a key. Private and secret keys are private, sensitive and non-extractable
objects unless the caller asks for an extractable one (export allowed and the export flag set).
A key pair is two objects with the same id; the public one serves verification, encryption and
public export.
"""

from __future__ import annotations

from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from tessera.service.providers.pkcs11._token_session import TokenSession, missing


def der_octet_string(value: bytes) -> bytes:
    """DER OCTET STRING around `value` (CKA_EC_POINT's encoding)."""
    length = len(value)
    if length < 0x80:
        return bytes([4, length]) + value
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([4, 0x80 | len(encoded)]) + encoded + value


def octet_string_content(der: bytes) -> bytes:
    """The content of a DER OCTET STRING (some tokens return the bare point)."""
    if len(der) < 2 or der[0] != 4:
        return der
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    return der[offset : offset + length]


def _curve(name: str) -> bytes:
    # python-pkcs11 (asn1crypto) spells the Brainpool curves in lower case.
    return bytes(encode_named_curve_parameters(name.lower()))


def _integer(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _secret(extractable: bool) -> dict[Any, Any]:
    return {
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: not extractable,
        Attribute.EXTRACTABLE: extractable,
    }


def _private_template(extractable: bool, *, derive: bool = False) -> dict[Any, Any]:
    return {Attribute.TOKEN: True, Attribute.DERIVE: derive, **_secret(extractable)}


class TokenObjects(TokenSession):
    """Key management calls of `Token`."""

    def _create(self, key_id: bytes, templates: list[dict[Any, Any]]) -> None:
        """Create objects with this id, all or none."""
        with self._locked() as session:
            made: list[Any] = []
            try:
                for template in templates:
                    full = {Attribute.TOKEN: True, Attribute.ID: key_id, **template}
                    made.append(session.create_object({**full, Attribute.LABEL: key_id.hex()}))
            except pkcs11.PKCS11Error:
                for item in made:
                    item.destroy()
                raise

    # Generation

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
                private_template=_private_template(extractable),
            )

    def generate_ec(self, key_id: bytes, curve: str, *, extractable: bool, derive: bool) -> None:
        """An ECC key pair on a named curve on the token (DERIVE only for ECDH keys)."""
        with self._locked() as session:
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: _curve(curve)}, local=True
            )
            params.generate_keypair(
                id=key_id,
                label=key_id.hex(),
                store=True,
                private_template=_private_template(extractable, derive=derive),
            )

    def generate_aes(self, key_id: bytes, bits: int, *, extractable: bool) -> None:
        """An AES key on the token."""
        with self._locked() as session:
            session.generate_key(
                KeyType.AES,
                bits,
                id=key_id,
                label=key_id.hex(),
                store=True,
                template={Attribute.DERIVE: False, **_secret(extractable)},
            )

    # Import

    @staticmethod
    def _rsa_public(n: int, e: int) -> dict[Any, Any]:
        return {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: _integer(n),
            Attribute.PUBLIC_EXPONENT: _integer(e),
            Attribute.ENCRYPT: True,
            Attribute.VERIFY: True,
        }

    @staticmethod
    def _ec_public(curve: str, point: bytes) -> dict[Any, Any]:
        return {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: _curve(curve),
            Attribute.EC_POINT: der_octet_string(point),
            Attribute.VERIFY: True,
        }

    def import_rsa_public(self, key_id: bytes, modulus: int, exponent: int) -> None:
        """An RSA public key object."""
        self._create(key_id, [self._rsa_public(modulus, exponent)])

    def import_ec_public(self, key_id: bytes, curve: str, point: bytes) -> None:
        """An ECC public key object from an uncompressed point."""
        self._create(key_id, [self._ec_public(curve, point)])

    def import_rsa_pair(
        self, key_id: bytes, numbers: tuple[int, ...], *, extractable: bool
    ) -> None:
        """An RSA key pair from (n, e, d, p, q, dp, dq, qi)."""
        n, e, d, p, q, dp, dq, qi = numbers
        private = {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: _integer(n),
            Attribute.PUBLIC_EXPONENT: _integer(e),
            Attribute.PRIVATE_EXPONENT: _integer(d),
            Attribute.PRIME_1: _integer(p),
            Attribute.PRIME_2: _integer(q),
            Attribute.EXPONENT_1: _integer(dp),
            Attribute.EXPONENT_2: _integer(dq),
            Attribute.COEFFICIENT: _integer(qi),
            Attribute.SIGN: True,
            Attribute.DECRYPT: True,
            **_private_template(extractable),
        }
        self._create(key_id, [private, self._rsa_public(n, e)])

    def import_ec_pair(
        self,
        key_id: bytes,
        curve: str,
        scalar: bytes,
        point: bytes,
        *,
        extractable: bool,
        derive: bool,
    ) -> None:
        """An ECC key pair from its private scalar (and the public point computed from it)."""
        private = {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: _curve(curve),
            Attribute.VALUE: scalar,
            Attribute.SIGN: True,
            **_private_template(extractable, derive=derive),
        }
        self._create(key_id, [private, self._ec_public(curve, point)])

    def import_aes(self, key_id: bytes, value: bytes, *, extractable: bool) -> None:
        """An AES key from its value."""
        secret = {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: value,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
            Attribute.DERIVE: False,
            **_secret(extractable),
        }
        self._create(key_id, [secret])

    # Reading and destruction

    def destroy(self, key_id: bytes) -> int:
        """Destroy every object with this id; how many there were."""
        with self._locked() as session:
            found = list(session.get_objects({Attribute.ID: key_id}))
            for item in found:
                item.destroy()
            return len(found)

    def object_counts(self, key_id: bytes) -> dict[str, int]:
        """How many private, public and secret key objects carry this id."""
        classes = {
            "private": ObjectClass.PRIVATE_KEY,
            "public": ObjectClass.PUBLIC_KEY,
            "secret": ObjectClass.SECRET_KEY,
        }
        with self._locked() as session:
            return {name: len(self._find(session, key_id, kind)) for name, kind in classes.items()}

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
            lambda key: octet_string_content(bytes(key[Attribute.EC_POINT])),
        )

    def private_values(self, key_id: bytes, names: tuple[str, ...]) -> dict[str, bytes] | None:
        """Attributes of an extractable private/secret key (None when it is not extractable)."""
        with self._locked() as session:
            found = self._find(session, key_id, ObjectClass.PRIVATE_KEY) or self._find(
                session, key_id, ObjectClass.SECRET_KEY
            )
            if len(found) != 1:
                raise missing()
            key = found[0]
            if key[Attribute.SENSITIVE] or not key[Attribute.EXTRACTABLE]:
                return None
            return {name: bytes(key[Attribute[name]]) for name in names}
