"""Reading a key's stored TPM2B_PUBLIC (through `tpm2-pytss`): the public key it holds, for the
operations that run in software (verification, encryption, public-key export)."""

from __future__ import annotations

import os

os.environ.setdefault("TSS2_LOG", "all+none")  # as in `_tpm`: errors are reported by the caller

from typing import Any

from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import TPM2_ALG, TPM2_ECC
from tpm2_pytss.types import TPM2B_PUBLIC

from tessera.wire.status import Status, StatusError

#: The curves this provider uses, by TPM curve id, with their size in bits.
CURVES: dict[Any, int] = {
    TPM2_ECC.NIST_P256: 256,
    TPM2_ECC.NIST_P384: 384,
    TPM2_ECC.NIST_P521: 521,
}
_CURVE_BYTES: dict[int, int] = {int(curve): (bits + 7) // 8 for curve, bits in CURVES.items()}


def public_area(public: bytes) -> Any:
    """The TPMT_PUBLIC in a marshalled TPM2B_PUBLIC (PsaErrorDataCorrupt if malformed)."""
    try:
        parsed, _ = TPM2B_PUBLIC.unmarshal(public)
    except (TSS2_Exception, ValueError, TypeError):
        raise StatusError(
            Status.PSA_ERROR_DATA_CORRUPT, "the key's public part is malformed"
        ) from None
    return parsed.publicArea


def rsa_public(public: bytes) -> tuple[int, int]:
    """(modulus, public exponent) of a wrapped RSA key."""
    area = public_area(public)
    if area.type != TPM2_ALG.RSA:
        raise StatusError(Status.PSA_ERROR_DATA_CORRUPT, "the key is not an RSA key")
    exponent = int(area.parameters.rsaDetail.exponent) or 65537
    return int.from_bytes(bytes(area.unique.rsa.buffer), "big"), exponent


def ecc_point(public: bytes, size: int) -> bytes:
    """The uncompressed point of a wrapped ECC key (coordinates `size` bytes each)."""
    area = public_area(public)
    if area.type != TPM2_ALG.ECC:
        raise StatusError(Status.PSA_ERROR_DATA_CORRUPT, "the key is not an ECC key")
    x, y = bytes(area.unique.ecc.x.buffer), bytes(area.unique.ecc.y.buffer)
    return b"\x04" + x.rjust(size, b"\x00") + y.rjust(size, b"\x00")


def coordinate_size(public: bytes) -> int:
    """Bytes per coordinate (and per ECDSA signature half) of a wrapped ECC key's curve."""
    area = public_area(public)
    return _CURVE_BYTES.get(int(area.parameters.eccDetail.curveID), 32)
