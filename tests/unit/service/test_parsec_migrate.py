"""`tessera migrate-parsec` in-process, on synthetic Parsec state: what each key becomes, and
that runs are idempotent, dry runs write nothing, and Parsec at work stops the run."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tessera.cli.main import main
from tessera.psa.attributes import decode_attributes, encode_attributes
from tessera.service.config import ServiceConfig, parse_config
from tessera.service.keystore import KeyStore, Owner
from tessera.service.keystore.kek import load_or_create_file_kek
from tessera.service.migrate.errors import MigrationError
from tessera.service.migrate.migrate import Outcome, Report, migrate
from tessera.service.migrate.parsec_attributes import decode_attributes as parsec_attributes
from tessera.service.migrate.parsec_kim import read_kim
from tessera.service.migrate.parsec_state import _DEFAULT_STORES, locate
from tessera.service.migrate.pkcs11_keys import PARSEC_ID_BYTES
from tessera.service.providers.software.vault import Vault
from tests.unit.service.migrate_support import (
    AES,
    ECC_R1,
    ECDSA_SHA256,
    GCM,
    PKCS11_UUID,
    TPM_UUID,
    TYPE_AES,
    Installation,
    Row,
    attributes,
    make_installation,
    u32,
    u64,
    write_key_file,
    write_on_disk_kim,
    write_sqlite_kim,
)

SIGN = {"sign_hash", "verify_hash"}


@pytest.fixture
def parsec(short_tmp: Path) -> Installation:
    return make_installation(short_tmp / "parsec")


@pytest.fixture
def config(short_tmp: Path) -> ServiceConfig:
    return parse_config({"core_settings": {"state_dir": str(short_tmp / "tessera")}})


def vault(config: ServiceConfig) -> Vault:
    kek, _ = load_or_create_file_kek(config.state_dir)
    return Vault(KeyStore(config.key_store_path), 1, kek)


def outcomes(report: Report) -> dict[tuple[str, str], Outcome]:
    return {(r.owner.name, r.key_name): r.outcome for r in report.results}


def test_migrates_every_key_once(parsec: Installation, config: ServiceConfig) -> None:
    report = migrate(locate(parsec.directory), config)
    assert set(outcomes(report).values()) == {Outcome.MIGRATED}
    assert report.complete and len(report.files_to_shred) == 3
    opened = vault(config)
    assert opened.open(Owner("alice", 1), "ecc").data == parsec.ecc
    assert opened.open(Owner("alice", 1), "rsa").data == parsec.rsa
    aes = opened.open(Owner("bob", 1), "ecc")  # bob's key of that name is another key
    assert aes.data == parsec.aes and aes.bits == 256  # size from the key file: Parsec said 0
    stored = decode_attributes(
        KeyStore(config.key_store_path).get(Owner("bob", 1), 1, "ecc").attributes
    )
    assert stored.key_bits == 256 and stored.key_policy.key_usage_flags.decrypt

    again = migrate(locate(parsec.directory), config)
    assert set(outcomes(again).values()) == {Outcome.ALREADY_MIGRATED}
    assert again.complete and again.files_to_shred == report.files_to_shred
    assert len(KeyStore(config.key_store_path).list_keys(Owner("alice", 1))) == 2


def test_dry_run_writes_nothing(parsec: Installation, config: ServiceConfig) -> None:
    report = migrate(locate(parsec.directory), config, dry_run=True)
    assert set(outcomes(report).values()) == {Outcome.WOULD_MIGRATE}
    assert report.complete and not report.files_to_shred
    assert not config.state_dir.exists()
    migrate(locate(parsec.directory), config)
    later = migrate(locate(parsec.directory), config, dry_run=True)
    assert set(outcomes(later).values()) == {Outcome.ALREADY_MIGRATED}


def test_a_taken_name_is_skipped_and_left_alone(
    parsec: Installation, config: ServiceConfig
) -> None:
    existing = vault(config)
    other = attributes(AES, 128, {"encrypt"}, GCM)
    existing.store(
        Owner("alice", 1), "ecc", encode_attributes(parsec_attributes(other), 128), bytes(16)
    )
    report = migrate(locate(parsec.directory), config)
    found = outcomes(report)
    assert found["alice", "ecc"] is Outcome.NAME_TAKEN
    assert found["alice", "rsa"] is Outcome.MIGRATED and found["bob", "ecc"] is Outcome.MIGRATED
    assert not report.complete
    assert vault(config).open(Owner("alice", 1), "ecc").data == bytes(16)
    assert all(path.name != "0000000000000001.psa_its" for path in report.files_to_shred)


def test_a_bad_key_file_fails_only_its_key(parsec: Installation, config: ServiceConfig) -> None:
    rsa_file = parsec.directory / "0000000000000002.psa_its"
    rsa_file.write_bytes(rsa_file.read_bytes()[:-10])
    (parsec.directory / "0000000000000001.psa_its").unlink()
    report = migrate(locate(parsec.directory), config)
    failed = {
        (r.owner.name, r.key_name): r.detail for r in report.results if r.outcome is Outcome.FAILED
    }
    assert "truncated" in failed["alice", "rsa"] and "missing" in failed["alice", "ecc"]
    assert outcomes(report)["bob", "ecc"] is Outcome.MIGRATED
    assert [k.name for k in KeyStore(config.key_store_path).list_keys(Owner("alice", 1))] == []


def test_key_file_and_store_must_agree(short_tmp: Path, config: ServiceConfig) -> None:
    directory = short_tmp / "p"
    directory.mkdir()
    write_key_file(directory, 1, TYPE_AES, 128, bytes(16))
    write_key_file(directory, 2, TYPE_AES, 128, bytes(16))
    rows = [
        Row("a", "type", u32(1), attributes(ECC_R1, 256, SIGN, ECDSA_SHA256)),
        Row("a", "size", u32(2), attributes(AES, 256, {"encrypt"}, GCM)),
        Row("a", "id", b"\x01", attributes(AES, 128, {"encrypt"}, GCM)),
        Row("a", "attrs", u32(2), b"\x01\x00"),
    ]
    write_sqlite_kim(directory / "kim.sqlite3", rows)
    report = migrate(locate(directory, kim=directory / "kim.sqlite3"), config)
    details = {r.key_name: r.detail for r in report.results}
    assert all(r.outcome is Outcome.FAILED for r in report.results)
    assert "key type aes" in details["type"] and "128-bit key" in details["size"]
    assert "key id is truncated" in details["id"] and "attributes is truncated" in details["attrs"]


def test_hardware_keys_are_reported_not_written(short_tmp: Path, config: ServiceConfig) -> None:
    directory = short_tmp / "p"
    directory.mkdir()
    rows = [
        Row("a", "token", u32(0x2A), attributes(ECC_R1, 256, SIGN, ECDSA_SHA256), PKCS11_UUID),
        Row("a", "tpm", b"opaque", attributes(ECC_R1, 256, SIGN, ECDSA_SHA256), TPM_UUID),
        Row("a", "other", u32(1), attributes(ECC_R1, 256, SIGN, ECDSA_SHA256), "some-uuid"),
    ]
    write_sqlite_kim(directory / "kim.sqlite3", rows)
    report = migrate(locate(directory, kim=directory / "kim.sqlite3"), config)
    by_name = {r.key_name: r for r in report.results}
    assert {r.outcome for r in report.results} == {Outcome.NOT_BRIDGED}
    assert by_name["token"].source == "PKCS#11 object with CKA_ID 0000002a"
    assert "no PKCS#11 provider" in by_name["token"].detail
    assert "no TPM provider" in by_name["tpm"].detail
    assert "no provider (some-uuid) provider" in by_name["other"].detail
    assert not config.key_store_path.exists()


def test_the_pkcs11_provider_takes_parsecs_id_width() -> None:
    from tessera.service.providers.pkcs11.context import KEY_ID_WIDTHS

    assert PARSEC_ID_BYTES in KEY_ID_WIDTHS


def test_on_disk_store(short_tmp: Path, config: ServiceConfig) -> None:
    directory = short_tmp / "p"
    directory.mkdir()
    write_key_file(directory, 5, TYPE_AES, 128, bytes(range(16)))
    info = u64(4) + u32(5) + attributes(AES, 128, {"encrypt", "decrypt"}, GCM)
    write_on_disk_kim(directory / "mappings", "carol", 1, "disk key", info)
    bad = directory / "mappings" / "not base64!" / "1"
    bad.mkdir(parents=True)
    (bad / "a2V5").write_bytes(info)
    report = migrate(locate(directory, auth_type=3), config)
    assert [(r.owner, r.key_name, r.outcome) for r in report.results] == [
        (Owner("carol", 3), "disk key", Outcome.MIGRATED)
    ]
    assert len(report.unreadable) == 1 and "not base64" in report.unreadable[0]
    assert not report.complete


def test_sqlite_store_checks(short_tmp: Path) -> None:
    path = short_tmp / "kim.sqlite3"
    write_sqlite_kim(path, [], schema_version=2)
    with pytest.raises(MigrationError, match="schema version"):
        read_kim(path, 1)
    path.write_bytes(b"not a database at all, not even close" * 20)
    with pytest.raises(MigrationError, match="cannot read"):
        read_kim(path, 1)
    path.unlink()
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(MigrationError, match="not a Parsec"):
        read_kim(path, 1)
    path.unlink()
    write_sqlite_kim(path, [Row("a", "k", u32(1), b"")])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE key_mapping SET key_attributes_version = 2")
    contents = read_kim(path, 1)
    assert contents.keys == [] and "record versions 1/2" in contents.unreadable[0]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE key_mapping SET authenticator_id = 'x', key_attributes_version = 1")
    assert "malformed name or authenticator" in read_kim(path, 1).unreadable[0]


def test_locating_stores(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = short_tmp / "p"
    directory.mkdir()
    with pytest.raises(MigrationError, match="--kim"):
        locate(directory)
    (directory / "config.toml").write_text(
        '[authenticator]\nauth_type = "UnixPeerCredentials"\n'
        '[[key_manager]]\nname = "s"\nmanager_type = "SQLite"\nstore_path = "ignored"\n'
    )
    # Parsec 1.1.0 reads only sqlite_db_path for SQLite stores, so its default is used here.
    default = short_tmp / "default.sqlite3"
    monkeypatch.setitem(_DEFAULT_STORES, "sqlite", default)
    with pytest.raises(MigrationError, match=f"{default} does not exist"):
        locate(directory)
    default.touch()
    assert locate(directory).stores == (default,)
    (directory / "config.toml").write_text('[[key_manager]]\nname = "s"\nmanager_type = "Foo"\n')
    with pytest.raises(MigrationError, match="manager type"):
        locate(directory)
    (directory / "config.toml").write_text("not toml [")
    with pytest.raises(MigrationError, match="not valid TOML"):
        locate(directory)
    (directory / "config.toml").write_text('[authenticator]\nauth_type = "UnixPeerCredentials"\n')
    (directory / "store").touch()
    state = locate(directory, kim=directory / "store")
    assert state.stores == (directory / "store",) and state.auth_type == 3
    with pytest.raises(MigrationError, match="does not exist"):
        locate(short_tmp / "absent")


def test_refuses_while_parsec_is_at_work(parsec: Installation, config: ServiceConfig) -> None:
    state = locate(parsec.directory)
    temporary = parsec.directory / "tempfile.psa_its"
    temporary.write_bytes(b"")
    with pytest.raises(MigrationError, match="writing a key"):
        migrate(state, config)
    temporary.unlink()
    journal = parsec.directory / "kim.sqlite3-journal"
    journal.write_bytes(b"")
    with pytest.raises(MigrationError, match="being written"):
        migrate(state, config)
    journal.unlink()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(parsec.directory / "parsec.sock"))
        listener.listen()
        with pytest.raises(MigrationError, match="answers on"):
            migrate(state, config)
    (parsec.directory.parent / "bin").mkdir()
    impostor = parsec.directory.parent / "bin" / "parsec"  # a process Linux calls "parsec"
    shutil.copy("/bin/sleep", impostor)
    process = subprocess.Popen([impostor, "30"], cwd=parsec.directory)
    try:
        _wait_until_named(process.pid, "parsec")  # until exec, the child is still a python
        with pytest.raises(MigrationError, match=f"pid {process.pid}"):
            migrate(state, config)
    finally:
        process.kill()
        process.wait()
    assert not config.state_dir.exists()
    migrate(state, config)  # the stale socket file left behind does not stop it


def _wait_until_named(pid: int, name: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/comm").read_text().strip() != name:
        assert time.monotonic() < deadline, f"pid {pid} never became {name!r}"
        time.sleep(0.01)


def test_missing_kek_with_software_keys(parsec: Installation, config: ServiceConfig) -> None:
    migrate(locate(parsec.directory), config)
    (config.state_dir / "kek").unlink()
    with pytest.raises(MigrationError, match=r"key-encryption key .* is missing"):
        migrate(locate(parsec.directory), config)


def test_command_line(
    parsec: Installation, short_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = short_tmp / "cli"
    args = ["migrate-parsec", "--parsec-dir", str(parsec.directory), "--state-dir", str(state_dir)]
    assert main([*args, "--dry-run"]) == 0
    assert "3 keys: 3 would migrate." in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert 'migrated  "alice" (auth 1) key "ecc" [Mbed Crypto key 1]' in out
    assert f"shred -u {parsec.directory / '0000000000000003.psa_its'}" in out
    (parsec.directory / "0000000000000002.psa_its").unlink()
    assert main(args) == 0  # a shredded file's key is in Tessera already
    out = capsys.readouterr().out
    assert "3 keys: 3 already migrated." in out and "material was not compared" in out

    assert main(["migrate-parsec", "--parsec-dir", str(short_tmp / "nowhere")]) == 3
    error = capsys.readouterr().err
    assert error.startswith("tessera: migrate-parsec: ") and error.count("\n") == 1
    assert main([*args, "--auth-type", "telepathy"]) == 2
