"""The outcome of a migration run: one result per key of Parsec's stores, and the whole report
(what `tessera migrate-parsec` prints, and its exit status)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from tessera.service.keystore import Owner
from tessera.service.migrate.parsec_kim import KimContents
from tessera.service.migrate.parsec_state import ParsecState


class Outcome(enum.Enum):
    """What happened to one key."""

    MIGRATED = "migrated"
    WOULD_MIGRATE = "would migrate"
    ALREADY_MIGRATED = "already migrated"
    NAME_TAKEN = "skipped"
    NOT_BRIDGED = "not migrated"
    FAILED = "failed"
    NOT_A_KEY = "not a key"  # Parsec's own record (its TPM storage key's name), checked

    @property
    def usable(self) -> bool:
        """True when the key is (or, in a dry run, would be) usable from Tessera."""
        return self in (
            Outcome.MIGRATED,
            Outcome.WOULD_MIGRATE,
            Outcome.ALREADY_MIGRATED,
            Outcome.NOT_A_KEY,
        )


@dataclass(frozen=True, slots=True)
class KeyResult:
    """One key's outcome, with a one-line explanation (never key material)."""

    owner: Owner
    key_name: str
    source: str  # where the key was in Parsec: "Mbed Crypto key 2"
    outcome: Outcome
    detail: str
    key_file: Path | None = None  # a plaintext key file that now only needs shredding


@dataclass(frozen=True, slots=True)
class Report:
    """The whole run."""

    parsec: ParsecState
    stores: list[KimContents]
    tessera_store: Path
    results: list[KeyResult]
    dry_run: bool

    @property
    def unreadable(self) -> list[str]:
        """Key-info entries that could not even be named."""
        return [line for store in self.stores for line in store.unreadable]

    @property
    def complete(self) -> bool:
        """True when every key Parsec holds is usable from Tessera."""
        return not self.unreadable and all(r.outcome.usable for r in self.results)

    @property
    def files_to_shred(self) -> list[Path]:
        """Plaintext key files whose keys Tessera now holds."""
        return [r.key_file for r in self.results if r.key_file is not None]
