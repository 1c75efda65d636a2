"""Plain data the TPM wrapper and the rest of the provider share (no `tpm2-pytss` needed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tessera.psa.algorithms import Hash


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the TPM implements, asked once at start (TPM2_GetCapability, TPM2_TestParms)."""

    ecc_bits: frozenset[int]
    rsa_bits: frozenset[int]
    hashes: frozenset[Hash]
    rsassa: bool
    rsapss: bool
    ecdsa: bool
    rsaes: bool
    oaep: bool


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A child key as the TPM returned it: TPM2B_PUBLIC and TPM2B_PRIVATE, marshalled. The
    private part is encrypted under the TPM's storage key: only this TPM can load it.

    `parent` 0 is Tessera's storage key; otherwise the key is Parsec's, a child of Parsec's
    storage key of that template (`parsec_keys.ParsecParent`), used with its own `auth` value.
    """

    public: bytes
    private: bytes = b""
    parent: int = 0
    auth: bytes = field(default=b"", repr=False)
