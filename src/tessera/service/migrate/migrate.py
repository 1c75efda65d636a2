"""Bringing Parsec's keys into Tessera's key store, one key at a time.

Every key keeps its owner (application name and authenticator, as Parsec's store records them)
and its name. What happens depends on Parsec's provider:

- Mbed Crypto: the key file is read and checked against the key-info entry, and the key is
  imported into Tessera's software provider through its vault (wrapped under the KEK, one SQLite
  insert: the key is there whole or not at all). The plaintext file is left for the operator.
- PKCS#11: the key stays on the token; Tessera's first PKCS#11 provider gets a row naming
  Parsec's objects, once they are found on its token and match Parsec's record
  (`pkcs11_keys`).
- TPM: the key stays a child of Parsec's storage key, which Tessera's first TPM provider
  re-creates from Parsec's template; it gets a row with the key's blobs and its auth value sealed
  by the KEK, once the key is found to load (`tpm_keys`).

A key that Tessera already holds under that owner and name is reported, never overwritten:
"already migrated" when it is the same key, "skipped" when it is another. So a second run
changes nothing. A dry run reads and checks everything and writes nothing (not even the KEK).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tessera.psa.attributes import KeyAttributes, encode_attributes, parse_attributes
from tessera.psa.attributes import decode_attributes as stored_attributes
from tessera.psa.deprecation import key_deprecation
from tessera.psa.formats import import_key
from tessera.service.config import ConfigError, ServiceConfig
from tessera.service.keystore import KeyRecord, KeyStore, Owner
from tessera.service.keystore.kek import KEK_FILE_NAME, KeyEncryptionKey, load_or_create_file_kek
from tessera.service.migrate.errors import FormatError, KeyFileMissingError, MigrationError
from tessera.service.migrate.mbed_storage import read_key
from tessera.service.migrate.parsec_attributes import decode_attributes, decode_u32_key_id
from tessera.service.migrate.parsec_kim import ParsecKey, ParsecProvider, read_kim
from tessera.service.migrate.parsec_state import ParsecState, check_not_running
from tessera.service.migrate.pkcs11_keys import TokenSide, parsec_object_id, plan, same_key
from tessera.service.migrate.report import KeyResult, Outcome, Report
from tessera.service.migrate.tpm_keys import (
    NotBridgedError,
    TpmSide,
    check_root_record,
    is_root_record,
)
from tessera.service.migrate.tpm_keys import plan as tpm_plan
from tessera.service.migrate.tpm_keys import same_key as tpm_same_key
from tessera.service.providers.software.keys import check_importable
from tessera.service.providers.software.vault import Vault
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes as KeyAttributesPb
from tessera.wire.status import Status, StatusError

__all__ = ["KeyResult", "Outcome", "Report", "migrate", "migrate_key"]

NO_PKCS11_REASON = (
    "Tessera's configuration has no PKCS#11 provider; the key stays on the token, usable by Parsec"
)
NO_TPM_REASON = "Tessera's configuration has no TPM provider; the key stays usable by Parsec"


@dataclass
class _Target:
    """Tessera's side, opened lazily so that a run with nothing to import writes nothing."""

    config: ServiceConfig
    dry_run: bool
    _keystore: KeyStore | None = None
    _vault: Vault | None = None
    _software_id: int | None = field(default=None, init=False)
    pkcs11: TokenSide | None = field(default=None, init=False)
    tpm: TpmSide | None = field(default=None, init=False)
    _kek: KeyEncryptionKey | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        software = [p for p in self.config.providers if p.provider_type == "software"]
        self._software_id = software[0].provider_id if software else None
        self.pkcs11 = TokenSide.of(self.config)
        self.tpm = TpmSide.of(self.config)

    @property
    def software_id(self) -> int | None:
        """Tessera's first software provider (where Mbed Crypto keys go), if configured."""
        return self._software_id

    def keystore(self) -> KeyStore | None:
        """The key store (None in a dry run when it does not exist yet)."""
        path = self.config.key_store_path
        if self._keystore is None and not (self.dry_run and not path.exists()):
            self._keystore = KeyStore(path)
        return self._keystore

    def record(self, owner: Owner, name: str) -> KeyRecord | None:
        """Tessera's software-provider row of that owner and name, if there is one."""
        keystore = self.keystore()
        if keystore is None or self._software_id is None:
            return None
        try:
            return keystore.get(owner, self._software_id, name)
        except StatusError as error:
            if error.status is Status.PSA_ERROR_DOES_NOT_EXIST:
                return None
            raise

    def vault(self) -> Vault | None:
        """The software provider's vault, making the KEK if needed (None in a dry run without)."""
        keystore = self.keystore()
        if self._vault is not None or keystore is None or self._software_id is None:
            return self._vault
        kek = self.kek()
        if kek is not None:
            self._vault = Vault(keystore, self._software_id, kek)
        return self._vault

    def kek(self) -> KeyEncryptionKey | None:
        """Tessera's KEK, made if needed (None in a dry run without one, or without a store)."""
        keystore = self.keystore()
        if self._kek is not None or keystore is None:
            return self._kek
        kek_path = self.config.state_dir / KEK_FILE_NAME
        if not kek_path.exists():
            # As the software provider at start-up: a new KEK could never open existing keys.
            if self._software_id is not None and keystore.provider_has_keys(self._software_id):
                raise MigrationError(
                    f"the key-encryption key {kek_path} is missing but Tessera's key store holds "
                    "software keys: restore the file first"
                )
            if self.dry_run:
                return None
        try:
            self._kek, _ = load_or_create_file_kek(self.config.state_dir)
        except ConfigError as error:
            raise MigrationError(str(error)) from None
        return self._kek

    def close(self) -> None:
        if self._keystore is not None:
            self._keystore.close()
        if self.pkcs11 is not None:
            self.pkcs11.close()
        if self.tpm is not None:
            self.tpm.close()


@contextmanager
def _target(config: ServiceConfig, dry_run: bool) -> Iterator[_Target]:
    target = _Target(config, dry_run)
    try:
        yield target
    finally:
        target.close()


def migrate(parsec: ParsecState, config: ServiceConfig, *, dry_run: bool = False) -> Report:
    """Migrate every key of Parsec's stores; MigrationError if the run cannot start."""
    check_not_running(parsec)
    stores = [read_kim(path, parsec.auth_type) for path in parsec.stores]
    with _target(config, dry_run) as target:
        results = [
            migrate_key(key, parsec.directory, target) for store in stores for key in store.keys
        ]
    return Report(parsec, stores, config.key_store_path, results, dry_run)


def migrate_key(key: ParsecKey, directory: Path, target: _Target) -> KeyResult:
    """One key's migration; every failure becomes its outcome."""
    owner = Owner(key.app_name, key.auth_type)
    if key.provider is ParsecProvider.MBED_CRYPTO:
        return _mbed_crypto(key, owner, directory, target)
    if key.provider is ParsecProvider.PKCS11:
        return _pkcs11(key, owner, target)
    if key.provider is ParsecProvider.TPM:
        return _tpm(key, owner, target)
    reason = f"Tessera has no {key.provider_label} provider"
    return KeyResult(owner, key.key_name, key.provider_label, Outcome.NOT_BRIDGED, reason)


def _mbed_crypto(key: ParsecKey, owner: Owner, directory: Path, target: _Target) -> KeyResult:
    source = "Mbed Crypto key"

    def result(outcome: Outcome, detail: str, key_file: Path | None = None) -> KeyResult:
        return KeyResult(owner, key.key_name, source, outcome, detail, key_file)

    try:
        key_id = decode_u32_key_id(key.key_id)
        source = f"Mbed Crypto key {key_id}"
        if target.software_id is None:
            return result(Outcome.NOT_BRIDGED, "Tessera's configuration has no software provider")
        requested = decode_attributes(key.attributes)
        attributes = parse_attributes(requested)
        try:
            path, stored = read_key(directory, key_id)
        except KeyFileMissingError:
            known = _known_without_file(target, owner, key.key_name, requested)
            if known is None:
                raise
            return result(*known)
        if stored.key_type != attributes.key_type:
            raise FormatError(
                f"{path.name} holds key type {stored.key_type.kind.value} but Parsec's "
                f"key-info store says {attributes.key_type.kind.value}"
            )
        if attributes.bits not in (0, stored.bits):
            raise FormatError(
                f"{path.name} holds a {stored.bits}-bit key but Parsec's key-info store says "
                f"{attributes.bits} bits"
            )
        check_importable(attributes)
        bits, data = import_key(attributes.key_type, stored.bits, stored.data)
        row_attributes = encode_attributes(requested, bits)
        sized = KeyAttributes(attributes.key_type, bits, attributes.usage, attributes.algorithm)
        detail = _describe(sized, f"to software provider {target.software_id}")
        existing = _existing(target, owner, key.key_name, row_attributes, data)
        if existing is not None:
            outcome, why = existing
            kept = path if outcome is Outcome.ALREADY_MIGRATED else None
            return result(outcome, why, kept)
        vault = target.vault()
        if target.dry_run or vault is None:
            return result(Outcome.WOULD_MIGRATE, detail)
        try:
            vault.store(owner, key.key_name, row_attributes, data)
        except StatusError as error:
            if error.status is not Status.PSA_ERROR_ALREADY_EXISTS:
                raise
            return result(Outcome.NAME_TAKEN, "a key of that name appeared in Tessera meanwhile")
        return result(Outcome.MIGRATED, detail, path)
    except (FormatError, StatusError) as error:
        return result(Outcome.FAILED, str(error))


def _pkcs11(key: ParsecKey, owner: Owner, target: _Target) -> KeyResult:
    source = "PKCS#11 object"

    def result(outcome: Outcome, detail: str) -> KeyResult:
        return KeyResult(owner, key.key_name, source, outcome, detail)

    try:
        source = f"PKCS#11 object with CKA_ID {parsec_object_id(key).hex()}"
        side = target.pkcs11
        if side is None:
            return result(Outcome.NOT_BRIDGED, NO_PKCS11_REASON)
        attached = plan(key, owner, side, target.keystore())
        if attached.existing is not None:
            if same_key(attached):
                return result(Outcome.ALREADY_MIGRATED, "Tessera already names these objects")
            return result(Outcome.NAME_TAKEN, "Tessera already holds a different key of that name")
        where = f"re-attached to PKCS#11 provider {side.provider_id}, on the token"
        detail = _describe(attached.attributes, where)
        keystore = target.keystore()
        if target.dry_run or keystore is None:
            return result(Outcome.WOULD_MIGRATE, detail)
        try:
            keystore.insert(attached.record)
        except StatusError as error:
            if error.status is not Status.PSA_ERROR_ALREADY_EXISTS:
                raise
            return result(Outcome.NAME_TAKEN, "a key of that name appeared in Tessera meanwhile")
        return result(Outcome.MIGRATED, detail)
    except (FormatError, StatusError) as error:
        return result(Outcome.FAILED, str(error))


def _tpm(key: ParsecKey, owner: Owner, target: _Target) -> KeyResult:
    source = "TPM key"

    def result(outcome: Outcome, detail: str) -> KeyResult:
        return KeyResult(owner, key.key_name, source, outcome, detail)

    try:
        if is_root_record(key):
            source = "Parsec's TPM storage key record"
            return result(Outcome.NOT_A_KEY, check_root_record(key, target.tpm))
        side = target.tpm
        if side is None:
            return result(Outcome.NOT_BRIDGED, NO_TPM_REASON)
        attached = tpm_plan(key, owner, side, target.keystore())
        parent = attached.parent
        if parent is not None:
            source = f"TPM key under Parsec's storage key ({parent.label})"
        if attached.existing is not None:
            if tpm_same_key(attached, target.kek()):
                return result(Outcome.ALREADY_MIGRATED, "Tessera already names this key")
            return result(Outcome.NAME_TAKEN, "Tessera already holds a different key of that name")
        where = f"re-attached to TPM provider {side.provider_id}, in the TPM"
        detail = _describe(attached.attributes, where)
        keystore, kek = target.keystore(), target.kek()
        if target.dry_run or keystore is None or kek is None:
            return result(Outcome.WOULD_MIGRATE, detail)
        try:
            keystore.insert(attached.record(kek))
        except StatusError as error:
            if error.status is not Status.PSA_ERROR_ALREADY_EXISTS:
                raise
            return result(Outcome.NAME_TAKEN, "a key of that name appeared in Tessera meanwhile")
        return result(Outcome.MIGRATED, detail)
    except NotBridgedError as error:
        return result(Outcome.NOT_BRIDGED, str(error))
    except (FormatError, StatusError) as error:
        return result(Outcome.FAILED, str(error))


def _existing(
    target: _Target, owner: Owner, name: str, row_attributes: bytes, data: bytes
) -> tuple[Outcome, str] | None:
    """None when Tessera has no key of that name, else what to report about the one it has."""
    record = target.record(owner, name)
    if record is None:
        return None
    vault = target.vault()
    taken = (Outcome.NAME_TAKEN, "Tessera already holds a different key of that name")
    if vault is None or record.attributes != row_attributes:
        return taken
    try:
        opened = vault.open(owner, name)
    except StatusError:
        return taken
    if not hmac.compare_digest(opened.data, data):
        return taken
    return Outcome.ALREADY_MIGRATED, "Tessera already holds this key"


def _known_without_file(
    target: _Target, owner: Owner, name: str, requested: KeyAttributesPb
) -> tuple[Outcome, str] | None:
    """What Tessera holds under the name of a key whose file is gone (shredded after a run)."""
    record = target.record(owner, name)
    if record is None:
        return None
    # Without the file only the attributes can be compared (with the size Tessera recorded).
    expected = encode_attributes(requested, stored_attributes(record.attributes).key_bits)
    if record.attributes != expected:
        return Outcome.NAME_TAKEN, "Tessera already holds a different key of that name"
    return (
        Outcome.ALREADY_MIGRATED,
        "Tessera holds a key of that name and policy; its Parsec key file is gone, so the key "
        "material was not compared",
    )


def _describe(attributes: KeyAttributes, where: str) -> str:
    key_type = attributes.key_type
    family = f" {key_type.family.name}" if key_type.family is not None else ""
    text = f"{key_type.kind.value}{family} {attributes.bits}-bit, {where}"
    reason = key_deprecation(attributes)
    return f"{text} (deprecated: {reason})" if reason else text
