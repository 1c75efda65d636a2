"""Parsec's own `config.toml` read by Tessera: what is honoured, ignored with a warning, refused.

The files under `parsec_files/` carry the keys and values of Parsec's own configuration files
(its repository's `config.toml` and `e2e_tests/provider_cfg/*/config*.toml`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tessera.config import ConfigError
from tessera.service.config import (
    ServiceConfig,
    load_config,
    parse_config,
    parse_tessera_config,
)
from tessera.service.parsec_config import (
    ParsecKeyStore,
    is_parsec_config,
    parsec_key_stores,
)
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.service.providers.tpm.config import TpmSettings
from tessera.wire.opcodes import AuthType

FILES = Path(__file__).parent / "parsec_files"
SQLITE_DEFAULT = "/var/lib/parsec/kim-mappings/sqlite/sqlite-key-info-manager.sqlite3"
LOCAL_SQLITE = "./kim-mappings/sqlite/sqlite-key-info-manager.sqlite3"
SOFTHSM = Path("/usr/local/lib/softhsm/libsofthsm2.so")


def read(name: str) -> dict[str, Any]:
    with (FILES / name).open("rb") as file:
        return tomllib.load(file)


def minimal(**tables: Any) -> dict[str, Any]:
    """A small Parsec file (Direct auth, one MbedCrypto provider), `tables` replacing its own."""
    document: dict[str, Any] = {
        "core_settings": {},
        "listener": {"listener_type": "DomainSocket", "timeout": 200},
        "authenticator": {"auth_type": "Direct"},
        "key_manager": [{"name": "kim", "manager_type": "SQLite"}],
        "provider": [{"provider_type": "MbedCrypto", "key_info_manager": "kim"}],
    }
    document.update(tables)
    return document


def provider(**entry: Any) -> dict[str, Any]:
    """A Parsec file whose only provider is `entry`."""
    return minimal(provider=[{"key_info_manager": "kim", **entry}])


def refusal(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    message = str(caught.value)
    assert "\n" not in message
    return message


def kim_warning(name: str, kind: str, where: str) -> str:
    return (
        f"key_manager {name!r} ({kind}, {where}) is not used: Tessera keeps keys in its own store "
        "in its state directory; keys Parsec stored there must be migrated (tessera migrate-parsec)"
    )


TIMESTAMP = "core_settings.log_timestamp is ignored: Tessera's log lines always carry a timestamp"
MBED = ("software", 1, "mbed-crypto-provider", None)


def summary(config: ServiceConfig) -> list[tuple[str, int, str, Any]]:
    return [(p.provider_type, p.provider_id, p.name, p.settings) for p in config.providers]


# Each of Parsec's files: the settings it gives and its warnings, all of them.


def test_the_repository_default_file() -> None:
    config = load_config(FILES / "repository-default.toml")
    assert config.socket_path == Path("/run/parsec/parsec.sock")  # Parsec's default
    assert config.connections.request_timeout == pytest.approx(0.2)
    assert config.authenticators == (AuthType.UNIX_PEER_CREDENTIALS,)
    assert not config.allow_root
    assert summary(config) == [MBED]
    assert config.warnings == (
        kim_warning("sqlite-manager", "SQLite", f"{SQLITE_DEFAULT}, Parsec's default"),
    )


@pytest.mark.parametrize(
    ("name", "deprecated", "store"),
    [
        ("mbed-crypto.toml", True, ("on-disk-manager", "OnDisk", "./mappings")),
        ("mbed-crypto-sqlite.toml", False, ("sqlite-manager", "SQLite", LOCAL_SQLITE)),
    ],
)
def test_mbed_crypto_files(name: str, deprecated: bool, store: tuple[str, str, str]) -> None:
    config = load_config(FILES / name)
    assert config.socket_path == Path("/tmp/parsec.sock")
    assert config.connections.request_timeout == pytest.approx(3.0)
    assert config.authenticators == (AuthType.DIRECT,)
    assert config.allow_root and config.log_error_details
    assert config.allow_deprecated is deprecated
    assert summary(config) == [MBED]
    assert config.warnings == (TIMESTAMP, kim_warning(*store))


@pytest.mark.parametrize("name", ["pkcs11.toml", "pkcs11-sqlite.toml"])
def test_pkcs11_files(name: str) -> None:
    config = load_config(FILES / name)
    # No slot or serial number: the only initialized token, as in Parsec; export allowed by
    # default, as in Parsec.
    settings = Pkcs11Settings(SOFTHSM, user_pin="123456", allow_export=True)
    assert summary(config) == [("pkcs11", 2, "pkcs11-provider", settings)]
    assert len(config.warnings) == 2


@pytest.mark.parametrize("name", ["all-providers.toml", "all-providers-on-disk.toml"])
def test_files_with_every_provider(name: str) -> None:
    config = load_config(FILES / name)
    assert summary(config) == [
        MBED,
        ("tpm", 3, "tpm-provider", TpmSettings("mssim", b"tpm_pass")),
        (
            "pkcs11",
            2,
            "pkcs11-provider",
            Pkcs11Settings(SOFTHSM, user_pin="123456", allow_export=True),
        ),
    ]
    names = {"list_clients test", "1000", "client1", "spiffe://example.org/parsec-client-1"}
    assert config.admin_identities() == {(AuthType.DIRECT, n) for n in names}
    assert len(config.warnings) == 2


@pytest.mark.parametrize("name", ["tpm.toml", "tpm-sqlite.toml"])
def test_tpm_files_are_refused_for_their_endorsement_authorization(name: str) -> None:
    with pytest.raises(ConfigError, match="endorsement_hierarchy_auth is not supported"):
        load_config(FILES / name)
    document = read(name)
    del document["provider"][0]["endorsement_hierarchy_auth"]
    (tpm,) = parse_config(document).providers
    assert tpm.provider_id == 3 and tpm.name == "tpm-provider"
    settings = tpm.settings
    assert isinstance(settings, TpmSettings)
    assert settings.tcti == "mssim:host=127.0.0.1,port=2321"
    assert settings.owner_hierarchy_auth == b"tpm_pass"  # from "hex:74706d5f70617373"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("trusted-service.toml", "TrustedService"), ("cryptoauthlib.toml", "CryptoAuthLib")],
)
def test_providers_tessera_lacks_are_refused(name: str, kind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(FILES / name)
    assert str(caught.value) == (
        f"provider_type {kind!r} is not supported: Tessera's providers are MbedCrypto "
        "(software), Pkcs11 and Tpm"
    )


# Which files are Parsec's; Tessera's own schema is untouched.


@pytest.mark.parametrize("path", sorted(FILES.glob("*.toml")), ids=lambda p: p.name)
def test_every_parsec_file_is_recognised(path: Path) -> None:
    assert is_parsec_config(read(path.name))


TESSERA_FILE = """
[core_settings]
log_level = "debug"
allow_deprecated = true

[listener]
timeout = 2000

[authenticator]
auth_types = ["direct", "unix-peer"]
admins = [{ name = "admin-app" }]

[[key_manager]]
store_path = "/var/lib/tessera/keys.sqlite3"

[[provider]]
provider_type = "software"

[[provider]]
provider_type = "Tpm"
tcti = "swtpm:host=127.0.0.1,port=2321"
"""


def test_tessera_files_keep_tesseras_meaning() -> None:
    document = tomllib.loads(TESSERA_FILE)
    assert not is_parsec_config(document)  # "Tpm" alone does not make a file Parsec's
    config = parse_config(document)
    assert config == parse_tessera_config(document)
    assert config.key_store_path == Path("/var/lib/tessera/keys.sqlite3")
    assert config.socket_path.name == "parsec.sock" and config.socket_path.parent.name == "run"
    assert [p.name for p in config.providers] == ["software", "tpm"]
    assert config.warnings == ()
    assert not is_parsec_config({})


# Settings honoured, with Parsec's meaning.


@pytest.mark.parametrize(
    ("written", "level"),
    [
        ("trace", "debug"),
        ("debug", "debug"),
        ("info", "info"),
        ("warn", "warning"),
        ("WARN", "warning"),
        ("error", "error"),
        ("warning", "warning"),
    ],
)
def test_log_levels(written: str, level: str) -> None:
    config = parse_config(minimal(core_settings={"log_level": written}))
    assert config.log_level == level
    assert len(config.warnings) == 1  # the key manager's


def test_core_settings_and_listener() -> None:
    core: dict[str, Any] = {"allow_root": True, "allow_deprecated": True, "log_error_details": True}
    core |= {"body_len_limit": 4096, "buffer_size_limit": 2048}
    listener = {"listener_type": "DomainSocket", "timeout": 750, "socket_path": "/tmp/p.sock"}
    config = parse_config(minimal(core_settings=core, listener=listener))
    assert config.allow_root and config.allow_deprecated and config.log_error_details
    assert config.limits.max_body_size == 4096 and config.buffer_size_limit == 2048
    assert config.connections.request_timeout == pytest.approx(0.75)
    assert config.socket_path == Path("/tmp/p.sock")


def test_tessera_keys_may_stand_beside_parsecs(tmp_path: Path) -> None:
    core = {"state_dir": str(tmp_path), "auth_len_limit": 512}
    listener = {"listener_type": "DomainSocket", "timeout": 200, "idle_timeout": 9000}
    auth = {"auth_type": "Direct", "admins": [{"name": "ops", "auth": "direct"}]}
    pkcs11: dict[str, Any] = {"provider_type": "Pkcs11", "library_path": str(SOFTHSM)}
    pkcs11 |= {"user_pin": "1"}
    pkcs11 |= {"token_label": "parsec", "provider_id": 7, "allow_export": False}
    document = minimal(core_settings=core, listener=listener, authenticator=auth)
    document["provider"].append({"key_info_manager": "kim", **pkcs11})
    document["trust"] = {"audience": "parsec-tests"}
    config = parse_config(document)
    assert config.state_dir == tmp_path and config.key_store_path == tmp_path / "keys.sqlite3"
    assert config.limits.max_auth_size == 512 and config.connections.idle_timeout == pytest.approx(
        9.0
    )
    assert config.admin_identities() == {(AuthType.DIRECT, "ops")}
    assert config.trust.audience == "parsec-tests"
    assert summary(config)[1] == (
        "pkcs11",
        7,
        "pkcs11-provider",
        Pkcs11Settings(SOFTHSM, token_label="parsec", user_pin="1", allow_export=False),
    )
    assert len(config.warnings) == 1


@pytest.mark.parametrize(
    ("auth_type", "expected"),
    [
        ("Direct", AuthType.DIRECT),
        ("UnixPeerCredentials", AuthType.UNIX_PEER_CREDENTIALS),
    ],
)
def test_one_authenticator_and_its_admins(auth_type: str, expected: AuthType) -> None:
    auth = {"auth_type": auth_type, "admins": [{"name": "1000"}, {"name": "app"}]}
    config = parse_config(minimal(authenticator=auth))
    assert config.authenticators == (expected,)
    assert config.admin_identities() == {(expected, "1000"), (expected, "app")}


def test_jwt_svid_with_a_bundle_file() -> None:
    auth: dict[str, Any] = {"auth_type": "JwtSvid"}
    auth |= {"workload_endpoint": "unix:///run/spire/sockets/agent.sock"}
    auth |= {"jwt_svid_bundle": "/etc/spire/bundle.jwks", "admins": [{"name": "spiffe://x/y"}]}
    config = parse_config(minimal(authenticator=auth))
    assert config.authenticators == (AuthType.JWT_SVID,)
    assert config.jwt_svid is not None
    assert config.jwt_svid.bundle == Path("/etc/spire/bundle.jwks")
    assert config.jwt_svid.audience == "parsec"  # the audience Parsec checks
    assert config.admin_identities() == {(AuthType.JWT_SVID, "spiffe://x/y")}
    assert config.warnings[0] == (
        "authenticator.workload_endpoint is ignored: JWT-SVIDs are checked against jwt_svid_bundle"
    )


@pytest.mark.parametrize(
    ("pin", "expected"),
    [("123456", "123456"), ("str:hex:12", "hex:12"), ("hex:31323334", "1234")],
)
def test_pkcs11_pins_as_parsec_writes_them(pin: str, expected: str) -> None:
    config = parse_config(provider(provider_type="Pkcs11", library_path="/l.so", user_pin=pin))
    settings = config.providers[0].settings
    assert isinstance(settings, Pkcs11Settings) and settings.user_pin == expected


def test_pkcs11_token_choice() -> None:
    entry = {"provider_type": "Pkcs11", "library_path": "/l.so", "user_pin": "1"}
    by_slot = parse_config(provider(**entry, slot_number=3)).providers[0].settings
    assert isinstance(by_slot, Pkcs11Settings) and by_slot.slot_number == 3
    both = parse_config(provider(**entry, slot_number=3, serial_number=" 0123abc "))
    settings = both.providers[0].settings
    # Parsec picks the token by serial number (compared trimmed) when both are given.
    assert isinstance(settings, Pkcs11Settings)
    assert (settings.serial_number, settings.slot_number) == ("0123abc", None)
    assert both.warnings[-1] == (
        "provider 'pkcs11-provider': slot_number is ignored: serial_number picks the token"
    )


@pytest.mark.parametrize("value", ["", "str:", "hex:"])
def test_an_empty_endorsement_authorization_is_what_tessera_uses(value: str) -> None:
    entry = {"provider_type": "Tpm", "tcti": "mssim", "owner_hierarchy_auth": ""}
    config = parse_config(provider(**entry, endorsement_hierarchy_auth=value, skip_if_no_tpm=True))
    settings = config.providers[0].settings
    assert isinstance(settings, TpmSettings) and settings.skip_if_no_tpm


def test_providers_keep_their_order_names_and_ids() -> None:
    entries = [
        {"provider_type": "Tpm", "name": "tpm-a", "tcti": "mssim", "owner_hierarchy_auth": "x"},
        {"provider_type": "MbedCrypto", "name": "soft"},
    ]
    config = parse_config(minimal(provider=entries))
    assert [(p.provider_type, p.provider_id, p.name) for p in config.providers] == [
        ("tpm", 3, "tpm-a"),
        ("software", 1, "soft"),
    ]


def test_where_parsecs_key_stores_are() -> None:
    assert parsec_key_stores(read("all-providers-on-disk.toml")) == (
        ParsecKeyStore("on-disk-manager", "OnDisk", Path("./mappings")),
    )
    managers = [
        {"name": "a", "manager_type": "SQLite", "store_path": "/ignored"},
        {"name": "b", "manager_type": "OnDisk"},
    ]
    assert parsec_key_stores({"key_manager": managers}) == (
        ParsecKeyStore("a", "SQLite", Path(SQLITE_DEFAULT)),
        ParsecKeyStore("b", "OnDisk", Path("/var/lib/parsec/mappings")),
    )


# Settings ignored: one warning each, naming the setting.


def test_each_ignored_setting_warns_once() -> None:
    document = minimal(
        core_settings={
            "thread_pool_size": 8,
            "idle_listener_sleep_duration": 10,
            "log_timestamp": True,
            "log_level": "off",
            "log_colour": True,
        },
        listener={"listener_type": "DomainSocket", "timeout": 200, "backlog": 5},
        authenticator={"auth_type": "Direct", "workload_endpoint": "unix:///agent.sock"},
        key_manager=[
            {"name": "kim", "manager_type": "SQLite", "store_path": "/var/lib/parsec/x.db"},
            {"name": "disk", "manager_type": "OnDisk", "sqlite_db_path": "/x", "cache": 1},
        ],
        provider=[
            {"provider_type": "MbedCrypto", "key_info_manager": "kim", "tcti": "mssim"},
            {
                "provider_type": "Pkcs11",
                "key_info_manager": "disk",
                "library_path": "/l.so",
                "user_pin": "1",
                "slot_number": 1,
                "serial_number": "abc",
            },
        ],
    )
    document["metrics"] = {"enabled": True}
    config = parse_config(document)
    expected = [
        "[metrics]",
        "thread_pool_size",
        "idle_listener_sleep_duration",
        "log_timestamp",
        'log_level "off"',
        "workload_endpoint",
        "core_settings.log_colour",
        "listener.backlog",
        "key_manager 'kim': store_path",
        "key_manager 'kim' (SQLite",
        "key_manager 'disk': sqlite_db_path",
        "key_manager 'disk': cache",
        "key_manager 'disk' (OnDisk",
        "provider 'mbed-crypto-provider': tcti",
        "provider 'pkcs11-provider': slot_number",
    ]
    assert len(config.warnings) == len(expected)
    for fragment, warning in zip(expected, config.warnings, strict=True):
        assert fragment in warning
        assert "\n" not in warning
    assert config.log_level == "error"
    assert config.warnings[8] == (
        "key_manager 'kim': store_path is ignored, as Parsec ignores it: a SQLite manager's "
        f"store is sqlite_db_path ({SQLITE_DEFAULT}, Parsec's default)"
    )


def test_a_file_without_ignored_settings_warns_only_about_its_key_store() -> None:
    config = parse_config(minimal(key_manager=[], provider=[{"provider_type": "MbedCrypto"}]))
    assert config.warnings == ()


# Settings refused: one line each, saying what to do.


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            minimal(listener={"listener_type": "TcpSocket", "timeout": 1}),
            "listener.listener_type 'TcpSocket' is not supported: Tessera listens on a Unix "
            'socket, listener_type = "DomainSocket"',
        ),
        (
            minimal(authenticator={"auth_type": "Jwt"}),
            "authenticator.auth_type must be one of Direct, UnixPeerCredentials, JwtSvid, "
            "not 'Jwt'",
        ),
        (  # Tessera's spelling under Parsec's key: both spellings are named
            minimal(authenticator={"auth_type": "unix-peer"}),
            "authenticator.auth_type must be one of Direct, UnixPeerCredentials, JwtSvid, "
            """not 'unix-peer' (Parsec's key; Tessera's is auth_types = ["unix-peer"])""",
        ),
        (
            minimal(authenticator={"auth_type": "JwtSvid", "workload_endpoint": "unix:///a"}),
            "authenticator: Tessera does not use the SPIFFE Workload API (workload_endpoint); set "
            "jwt_svid_bundle to the trust domain's JWT bundle file (as `spire-server bundle show "
            "-format spiffe` writes it) instead",
        ),
        (
            minimal(authenticator={"auth_type": "Direct", "auth_types": ["direct"]}),
            "authenticator: give auth_type (Parsec's) or auth_types, not both",
        ),
        (
            minimal(key_manager=[{"name": "kim", "manager_type": "Memory"}]),
            "key_manager 'kim': manager_type must be SQLite or OnDisk, not 'Memory'",
        ),
        (
            minimal(key_manager=[{"manager_type": "SQLite"}]),
            "each [[key_manager]] needs a name, as in Parsec",
        ),
        (
            provider(provider_type="Hsm"),
            "provider_type must be MbedCrypto, Pkcs11 or Tpm, not 'Hsm'",
        ),
        (
            minimal(provider=[{"provider_type": "MbedCrypto", "key_info_manager": "other"}]),
            "provider 'mbed-crypto-provider': key_info_manager 'other' names no [[key_manager]]",
        ),
        (
            provider(provider_type="Pkcs11", library_path="/l.so"),
            "provider 'pkcs11-provider': user_pin is required: Tessera logs in to the token "
            "(Parsec without a PIN does not)",
        ),
        (
            provider(provider_type="Pkcs11", library_path="/l.so", user_pin="hex:zz"),
            "provider 'pkcs11-provider': user_pin after hex: must be hex of UTF-8 text",
        ),
        (
            provider(provider_type="Pkcs11", user_pin="1"),
            "pkcs11 provider: library_path is required",
        ),
        (
            provider(provider_type="Tpm", tcti="mssim", endorsement_hierarchy_auth="e"),
            "provider 'tpm-provider': endorsement_hierarchy_auth is not supported: Tessera's key "
            "attestation needs the endorsement hierarchy's authorization empty; remove the "
            "setting (and clear that authorization to attest keys)",
        ),
        (
            minimal(
                provider=[
                    {"provider_type": "MbedCrypto", "name": "a"},
                    {"provider_type": "MbedCrypto", "name": "b"},
                ]
            ),
            "providers 'a' and 'b' share the wire id 1 (one per type, in Parsec): set "
            "provider_id on one",
        ),
        (
            minimal(provider=[{"provider_type": "MbedCrypto"}, {"provider_type": "MbedCrypto"}]),
            "two providers are named 'mbed-crypto-provider': set name on one",
        ),
        (
            {k: v for k, v in minimal().items() if k != "provider"},
            'no [[provider]]: add one (e.g. provider_type = "MbedCrypto")',
        ),
        (
            minimal(core_settings={"thread_pool_size": "8"}),
            "core_settings.thread_pool_size must be of type int",
        ),
        (
            minimal(core_settings={"log_level": "verbose"}),
            "log_level must be one of off, error, warn, info, debug, trace, not 'verbose'",
        ),
        (
            minimal(listener={"listener_type": "DomainSocket", "timeout": "200"}),
            "listener.timeout must be an integer, not '200'",
        ),
    ],
)
def test_settings_tessera_cannot_honour_are_refused(
    document: dict[str, Any], expected: str
) -> None:
    assert refusal(document) == expected
