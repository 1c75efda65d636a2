"""Keys another service made on the token: does the token hold the objects a key needs, and of
which size? So that a row can name them (`tessera migrate-parsec` re-attaches Parsec's keys).

A key pair needs one private and one public object with its CKA_ID (verification, encryption and
public export use the public one), a public key one public object. The size is read from the
public object: its RSA modulus, or its ECC point (which must be on a curve of the key's family).
Only asymmetric keys are adopted (Parsec's PKCS#11 provider makes no others).
"""

from __future__ import annotations

from tessera.psa.attributes import KeyAttributes
from tessera.psa.formats import import_key
from tessera.service.providers.pkcs11._token import Token
from tessera.service.providers.pkcs11.checks import check_importable
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.wire.status import Status, StatusError

__all__ = ["Token", "open_token", "size_on_token"]


def open_token(settings: Pkcs11Settings) -> Token:
    """The configured token, logged in (ConfigError, one line, if it cannot be)."""
    return Token(settings)


def _mismatch(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_DOES_NOT_EXIST, message)


def size_on_token(token: Token, key_id: bytes, attributes: KeyAttributes) -> int:
    """The size of the key the token holds under `key_id`, checked against `attributes`
    (PsaErrorDoesNotExist when the objects are missing or not of that type)."""
    check_importable(attributes)
    key_type = attributes.key_type
    if not key_type.is_asymmetric:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "only asymmetric keys are adopted")
    counts = token.object_counts(key_id)
    wanted = {"private": 1 if key_type.is_key_pair else 0, "public": 1, "secret": 0}
    if counts != wanted:
        found = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        raise _mismatch(f"the token holds {found} key objects with this id")
    if key_type.is_rsa:
        bits = token.rsa_public(key_id)[0].bit_length()
    else:
        try:
            bits, _ = import_key(key_type.public(), 0, token.ec_point(key_id))
        except StatusError:
            raise _mismatch("the token's public point is not on a curve of this family") from None
    if attributes.bits not in (0, bits):
        raise _mismatch(f"the token holds a {bits}-bit key, the record says {attributes.bits}")
    check_importable(KeyAttributes(key_type, bits, attributes.usage, attributes.algorithm))
    return bits
