"""A destroyed key leaves no copy in the files, and the KEK can be rotated without losing keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera.service.keystore import KeyRecord
from tessera.service.keystore.kek import create_kek_file, read_kek_file
from tessera.service.providers.software import SoftwareProvider
from tessera.service.providers.software.kek_rotation import (
    NEXT_KEK_FILE_NAME,
    finish_interrupted_rotation,
    rotate_kek,
)
from tessera.service.providers.software.vault import binding
from tessera.wire import contracts
from tessera.wire.proto import (
    psa_destroy_key_pb2,
    psa_export_public_key_pb2,
    psa_generate_key_pb2,
)
from tessera.wire.status import StatusError

from .builders import SECP_R1, A, attributes, sign_policy
from .conftest import APP, make_provider

SOFTWARE = frozenset({1})


def _generate(provider: SoftwareProvider, name: str) -> None:
    attrs = attributes(
        "ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1, sign_hash=True
    )
    provider.call(
        contracts.PSA_GENERATE_KEY,
        APP,
        psa_generate_key_pb2.Operation(key_name=name, attributes=attrs),
    )


def _public(provider: SoftwareProvider, name: str) -> bytes:
    op = psa_export_public_key_pb2.Operation(key_name=name)
    return bytes(provider.call(contracts.PSA_EXPORT_PUBLIC_KEY, APP, op).data)


def _files(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in state.glob("keys.sqlite3*") if p.is_file())


def test_a_destroyed_keys_wrapped_material_is_gone_from_every_file(tmp_path: Path) -> None:
    provider, store = make_provider(tmp_path)
    try:
        for i in range(3):
            _generate(provider, f"k{i}")
        owner = APP.owner
        material = store.get(owner, 1, "k1").material
        assert material in _files(tmp_path)  # the check below could fail
        provider.call(contracts.PSA_DESTROY_KEY, APP, psa_destroy_key_pb2.Operation(key_name="k1"))
        assert material not in _files(tmp_path)
        assert store.get(owner, 1, "k2").material in _files(tmp_path)  # the others stay
    finally:
        store.close()


def test_rotation_rewraps_every_key_and_the_old_kek_opens_none(tmp_path: Path) -> None:
    provider, store = make_provider(tmp_path)
    try:
        for i in range(4):
            _generate(provider, f"k{i}")
        publics = [_public(provider, f"k{i}") for i in range(4)]
        old_kek = read_kek_file(tmp_path / "kek")
        old_material = store.get(APP.owner, 1, "k0").material
        assert rotate_kek(tmp_path, store, SOFTWARE) == 4
        assert not (tmp_path / NEXT_KEK_FILE_NAME).exists()
        assert old_material not in _files(tmp_path)
        record = store.get(APP.owner, 1, "k0")
        with pytest.raises(StatusError):
            old_kek.unwrap(record.material, binding(record.owner, 1, "k0", record.attributes))
    finally:
        store.close()
    again, store = make_provider(tmp_path)  # a restarted service opens every key
    try:
        assert [_public(again, f"k{i}") for i in range(4)] == publics
    finally:
        store.close()


@pytest.mark.parametrize("committed", [True, False])
def test_an_interrupted_rotation_is_finished_or_undone(tmp_path: Path, committed: bool) -> None:
    provider, store = make_provider(tmp_path)
    try:
        _generate(provider, "k")
        public = _public(provider, "k")
        old = read_kek_file(tmp_path / "kek")
        new = create_kek_file(tmp_path / NEXT_KEK_FILE_NAME)
        if committed:  # the crash came after the transaction, before the rename

            def rewrap(record: KeyRecord) -> bytes:
                aad = binding(record.owner, 1, record.name, record.attributes)
                return new.wrap(old.unwrap(record.material, aad), aad)

            store.rewrap(SOFTWARE, rewrap)
        outcome = finish_interrupted_rotation(tmp_path, store, SOFTWARE)
        assert outcome == ("finished" if committed else "undone")
        assert not (tmp_path / NEXT_KEK_FILE_NAME).exists()
    finally:
        store.close()
    again, store = make_provider(tmp_path)
    try:
        assert _public(again, "k") == public
    finally:
        store.close()
