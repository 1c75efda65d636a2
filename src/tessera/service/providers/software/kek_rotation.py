"""Rotating the key-encryption key: every software key re-wrapped under a new one, crash-safe.

Steps: the new KEK is written to `kek.next` (durably); every key of the software providers is
unwrapped with the old KEK and wrapped with the new one in one key-store transaction; then
`kek.next` replaces `kek` in one rename; then the write-ahead log is emptied (secure_delete has
overwritten the old wrapped bytes in the database). A crash leaves one of two states, told
apart at the next start by trying one stored key with `kek.next`: the transaction committed
(the rename is finished) or it did not (`kek.next` is dropped). Either way no key is lost.

The service must be stopped (it holds the old KEK and keys opened with it); `tessera service
rotate-kek` checks that its socket does not answer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tessera.service.keystore import KeyRecord, KeyStore
from tessera.service.keystore.kek import (
    KEK_FILE_NAME,
    create_kek_file,
    read_kek_file,
    replace_kek_file,
)
from tessera.service.providers.software.vault import binding
from tessera.wire.status import StatusError

log = logging.getLogger(__name__)

NEXT_KEK_FILE_NAME = "kek.next"


def _associated(record: KeyRecord) -> bytes:
    return binding(record.owner, record.provider_id, record.name, record.attributes)


def finish_interrupted_rotation(
    state_dir: Path, keystore: KeyStore, provider_ids: frozenset[int]
) -> str | None:
    """Complete or undo a rotation a crash interrupted; what was done, or None if nothing."""
    pending = state_dir / NEXT_KEK_FILE_NAME
    if not pending.exists():
        return None
    probe = keystore.sample(provider_ids)
    committed = True
    if probe is not None:
        try:
            read_kek_file(pending).unwrap(probe.material, _associated(probe))
        except StatusError:
            committed = False
    if committed:
        replace_kek_file(pending, state_dir / KEK_FILE_NAME)
        log.warning("finished a key-encryption key rotation that was interrupted")
        return "finished"
    pending.unlink()
    log.warning("undid a key-encryption key rotation that was interrupted before its commit")
    return "undone"


def rotate_kek(state_dir: Path, keystore: KeyStore, provider_ids: frozenset[int]) -> int:
    """Re-wrap every key of `provider_ids` under a new KEK; how many keys were re-wrapped."""
    finish_interrupted_rotation(state_dir, keystore, provider_ids)
    old = read_kek_file(state_dir / KEK_FILE_NAME)
    new = create_kek_file(state_dir / NEXT_KEK_FILE_NAME)

    def rewrap(record: KeyRecord) -> bytes:
        associated = _associated(record)
        return new.wrap(old.unwrap(record.material, associated), associated)

    try:
        count = keystore.rewrap(provider_ids, rewrap)
    except BaseException:
        (state_dir / NEXT_KEK_FILE_NAME).unlink()  # rolled back: the old KEK stays in force
        raise
    replace_kek_file(state_dir / NEXT_KEK_FILE_NAME, state_dir / KEK_FILE_NAME)
    keystore.checkpoint()  # the old wrapped bytes leave the write-ahead log
    return count
