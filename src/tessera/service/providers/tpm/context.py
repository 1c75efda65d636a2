"""What the TPM operation modules share: the TPM, the key store and the settings, the key row's
material format, and the policy check every use of a key makes (the software provider's helpers).

A key row's `material` is one of:
- `01 || len(public) (2 bytes, big-endian) || TPM2B_PUBLIC || TPM2B_PRIVATE`: a key pair created
  in the TPM; the private part is wrapped by the TPM's storage key and useless elsewhere;
- `02 || PSA public key data`: an imported public key (used in software, never in the TPM);
- `03 || ...`: a key Parsec's TPM provider made, with its KEK-sealed auth value (`parsec_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.psa.algorithms import Algorithm
from tessera.psa.attributes import KeyAttributes, decode_attributes, parse_attributes
from tessera.psa.formats import public_key
from tessera.psa.key_types import ecc_byte_length
from tessera.psa.policy import check_policy
from tessera.psa.usage import Usage
from tessera.service.keystore import KeyStore, Owner
from tessera.service.providers.tpm.caps import Capabilities, WrappedKey
from tessera.service.providers.tpm.parsec_keys import PARSEC, AuthKeeper, RowRef, split_parsec
from tessera.wire.status import Status, StatusError

if TYPE_CHECKING:
    from tessera.service.providers.tpm._tpm import Tpm


WRAPPED = 1
PUBLIC = 2


@dataclass(frozen=True, slots=True)
class Context:
    """The provider's state, as the operation modules see it."""

    tpm: Tpm
    caps: Capabilities
    keystore: KeyStore
    provider_id: int
    allow_deprecated: bool
    auth: AuthKeeper  # opens the auth values of re-attached Parsec keys


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A key's attributes and either its TPM blobs or its imported public data."""

    name: str
    attributes: KeyAttributes
    wrapped: WrappedKey | None
    public_data: bytes

    @property
    def bits(self) -> int:
        """The key's size."""
        return self.attributes.bits


def encode_wrapped(key: WrappedKey) -> bytes:
    """A TPM key pair's row material."""
    return bytes([WRAPPED]) + len(key.public).to_bytes(2, "big") + key.public + key.private


def encode_public(data: bytes) -> bytes:
    """An imported public key's row material."""
    return bytes([PUBLIC]) + data


def decode_material(material: bytes) -> tuple[WrappedKey | None, bytes]:
    """(TPM blobs, b"") or (None, public data) from a row's material; for a Parsec key, (its
    blobs without the auth value, the sealed auth value)."""
    if material[:1] == bytes([PARSEC]):
        return split_parsec(material)
    if material[:1] == bytes([WRAPPED]) and len(material) > 3:
        size = int.from_bytes(material[1:3], "big")
        public, private = material[3 : 3 + size], material[3 + size :]
        if len(public) == size and private:
            return WrappedKey(public, private), b""
    elif material[:1] == bytes([PUBLIC]) and len(material) > 1:
        return None, material[1:]
    raise StatusError(Status.PSA_ERROR_DATA_CORRUPT, "the key's stored material is malformed")


def open_key(ctx: Context, owner: Owner, name: str) -> HeldKey:
    """The owner's key (PsaErrorDoesNotExist if the owner has none of that name)."""
    record = ctx.keystore.get(owner, ctx.provider_id, name)
    attributes = parse_attributes(decode_attributes(record.attributes))
    wrapped, data = decode_material(record.material)
    if wrapped is not None and wrapped.parent:
        row = RowRef(owner, ctx.provider_id, name, record.attributes)
        auth = ctx.auth.open(row, wrapped, data)
        wrapped, data = replace(wrapped, auth=auth), b""
    return HeldKey(name, attributes, wrapped, data)


def open_for(ctx: Context, owner: Owner, name: str, usage: Usage, alg: Algorithm) -> HeldKey:
    """Open a key and check its policy permits `usage` with `alg` (as the software provider)."""
    key = open_key(ctx, owner, name)
    check_policy(key.attributes, usage, alg, allow_deprecated=ctx.allow_deprecated)
    return key


def public_object(key: HeldKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The `cryptography` object of a key's public half (from TPM2B_PUBLIC or imported data)."""
    from tessera.service.providers.tpm import _public

    key_type = key.attributes.key_type
    if key.wrapped is None:
        public = public_key(key_type, key.bits, key.public_data)
        assert isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        return public
    if key_type.is_rsa:
        n, e = _public.rsa_public(key.wrapped.public)
        return rsa.RSAPublicNumbers(e, n).public_key()
    curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}[key.bits]
    point = _public.ecc_point(key.wrapped.public, ecc_byte_length(key.bits))
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
