"""Plain data the TPM wrapper and the rest of the provider share (no `tpm2-pytss` needed)."""

from __future__ import annotations

from dataclasses import dataclass

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
    private part is encrypted under the TPM's storage key: only this TPM can load it."""

    public: bytes
    private: bytes = b""
