"""The key-encryption key: wrapping, binding, and the file's creation and checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tessera.service.config import ConfigError
from tessera.service.keystore.kek import AesGcmKek, load_or_create_file_kek
from tessera.wire.status import Status, StatusError


def test_wrap_is_randomised_and_bound_to_its_associated_data() -> None:
    kek = AesGcmKek(os.urandom(32))
    first, second = kek.wrap(b"secret", b"ad"), kek.wrap(b"secret", b"ad")
    assert first != second and b"secret" not in first
    assert kek.unwrap(first, b"ad") == b"secret"
    for blob, ad in (
        (first, b"other"),
        (first[:-1] + bytes([first[-1] ^ 1]), b"ad"),
        (b"\x02" + first[1:], b"ad"),
    ):
        with pytest.raises(StatusError) as caught:
            kek.unwrap(blob, ad)
        assert caught.value.status is Status.PSA_ERROR_DATA_CORRUPT
    with pytest.raises(StatusError):
        AesGcmKek(os.urandom(32)).unwrap(first, b"ad")
    assert repr(kek) == "AesGcmKek(<secret>)"


def test_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    kek, created = load_or_create_file_kek(tmp_path / "state")
    again, created_again = load_or_create_file_kek(tmp_path / "state")
    assert created and not created_again
    assert again.unwrap(kek.wrap(b"x", b""), b"") == b"x"
    path = tmp_path / "state" / "kek"
    assert path.stat().st_mode & 0o777 == 0o600
    (tmp_path / "link").symlink_to(path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "kek").symlink_to(path)
    with pytest.raises(ConfigError, match="cannot open"):
        load_or_create_file_kek(tmp_path / "other")
