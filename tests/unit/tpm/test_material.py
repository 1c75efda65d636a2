"""The key row's material format of the TPM provider (no TPM needed)."""

from __future__ import annotations

import pytest

from tessera.service.providers.tpm.caps import WrappedKey
from tessera.service.providers.tpm.context import decode_material, encode_public, encode_wrapped
from tessera.wire.status import Status, StatusError


def test_round_trips() -> None:
    wrapped = WrappedKey(b"\x00\x05publc", b"\x00\x03prv")
    assert decode_material(encode_wrapped(wrapped)) == (wrapped, b"")
    assert decode_material(encode_public(b"\x04point")) == (None, b"\x04point")


@pytest.mark.parametrize(
    "material",
    [b"", b"\x01", b"\x01\x00\x05abc", b"\x01\x00\x03abc", b"\x02", b"\x03data", bytes(16)],
)
def test_malformed_is_data_corrupt(material: bytes) -> None:
    with pytest.raises(StatusError) as caught:
        decode_material(material)
    assert caught.value.status is Status.PSA_ERROR_DATA_CORRUPT
