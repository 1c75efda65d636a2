"""Issue 10 (operators): the backup procedure docs/deployment.md gives works as written.

While the service runs and keys are being made, an online SQLite backup of the key store (what
`sqlite3 keys.sqlite3 ".backup FILE"` does) and a copy of the KEK are taken; on a new, empty state
directory those two files alone bring every key back, material included.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tessera.client.specs import ECDSA_P256
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_export_public_key_pb2
from tests.support import RunningService, direct, request_bytes, running_service


def public_key(service: RunningService, name: str) -> bytes:
    body = psa_export_public_key_pb2.Operation(key_name=name)
    response = service.call(
        request_bytes(Opcode.PSA_EXPORT_PUBLIC_KEY, body, provider=1, **direct("alice"))
    )
    assert response.header.status == 0, response.header.status
    return bytes(response.body)


def online_backup(store: Path, target: Path) -> None:
    """sqlite3's `.backup`: a consistent copy while the service writes (WAL included)."""
    source = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def test_an_online_backup_and_the_kek_restore_every_key(short_tmp: Path) -> None:
    live, backup, restored = short_tmp / "live", short_tmp / "backup", short_tmp / "restored"
    backup.mkdir(mode=0o700)
    with running_service(live, "--auth", "direct") as service:
        for name in ("a", "b"):
            service.generate_key(name, ECDSA_P256.attributes(), direct("alice"))
        keys = {name: public_key(service, name) for name in ("a", "b")}
        online_backup(live / "keys.sqlite3", backup / "keys.sqlite3")
        shutil.copy2(live / "kek", backup / "kek")
        # A key made after the backup is not in it: the backup is a point in time.
        service.generate_key("later", ECDSA_P256.attributes(), direct("alice"))
    restored.mkdir(mode=0o700)
    for name in ("kek", "keys.sqlite3"):
        shutil.copy2(backup / name, restored / name)
        (restored / name).chmod(0o600)  # the service refuses them otherwise
    with running_service(restored, "--auth", "direct") as service:
        assert {name: public_key(service, name) for name in keys} == keys
        body = psa_export_public_key_pb2.Operation(key_name="later")
        response = service.call(
            request_bytes(Opcode.PSA_EXPORT_PUBLIC_KEY, body, provider=1, **direct("alice"))
        )
        assert response.header.status != 0
