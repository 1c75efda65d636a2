"""Issue 10, defect 5: every daemon's config is read by one strict converter. Unknown keys and
sections are refused with the file, the line and the nearest valid key; types are checked
exactly; the same rules hold in the service, the identity provider and the orchestrator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tessera.config import ConfigError
from tessera.daemon.config_schema import Table
from tessera.identity.config import load_identity_config
from tessera.orchestrator.config import load_manifest, load_orchestrator_config
from tessera.service.config import load_config, parse_config

Loader = Callable[[Path], Any]
DAEMONS: dict[str, tuple[Loader, str]] = {
    "service": (load_config, "core_settings"),
    "identity": (load_identity_config, "identity"),
    "orchestrator": (load_orchestrator_config, "orchestrator"),
}


def refusal(tmp_path: Path, loader: Loader, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        loader(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.replace(str(path), "FILE")


# Unknown keys and sections: refused, with the line and the nearest valid name.


def test_a_typo_in_core_settings_names_file_line_and_the_key_meant(tmp_path: Path) -> None:
    text = '[core_settings]\nlog_level = "info"\nallow_rot = true\n'
    assert refusal(tmp_path, load_config, text) == (
        "FILE:3: unknown key 'allow_rot' in [core_settings] (did you mean 'allow_root'?)"
    )


def test_a_misspelt_section_is_refused(tmp_path: Path) -> None:
    text = '[core_settings]\nlog_level = "info"\n\n[listner]\nsocket_path = "/tmp/x.sock"\n'
    assert refusal(tmp_path, load_config, text) == (
        "FILE:4: unknown section [listner] (did you mean [listener]?)"
    )


def test_a_typo_in_the_authenticator_list_does_not_leave_the_defaults_on(tmp_path: Path) -> None:
    text = '[authenticator]\nauth_typs = ["unix-peer"]\n'
    assert refusal(tmp_path, load_config, text) == (
        "FILE:2: unknown key 'auth_typs' in [authenticator] (did you mean 'auth_types'?)"
    )


@pytest.mark.parametrize("daemon", DAEMONS)
def test_every_daemon_refuses_an_unknown_key_the_same_way(tmp_path: Path, daemon: str) -> None:
    loader, section = DAEMONS[daemon]
    text = f"[{section}]\n\n# a comment\nallow_rot = true\n"
    assert refusal(tmp_path, loader, text) == (
        f"FILE:4: unknown key 'allow_rot' in [{section}] (did you mean 'allow_root'?)"
    )


@pytest.mark.parametrize("daemon", DAEMONS)
def test_every_daemon_refuses_another_daemons_section(tmp_path: Path, daemon: str) -> None:
    loader, _ = DAEMONS[daemon]
    other = "identity" if daemon != "identity" else "orchestrator"
    message = refusal(tmp_path, loader, f"[{other}]\nheartbeat = 2\n")
    assert message.startswith(f"FILE:1: unknown section [{other}]")


@pytest.mark.parametrize(
    ("loader", "text", "expected"),
    [
        (  # the service's metrics settings, a sub-table of rules, an array entry
            load_config,
            "[listener]\nmetrics_prot = 9464\n",
            "FILE:2: unknown key 'metrics_prot' in [listener] (did you mean 'metrics_port'?)",
        ),
        (
            load_config,
            '[quotas]\nmax_key = 5\n[[provider]]\nprovider_type = "software"\nname = "sw"\n'
            'library_path = "/x.so"\n',
            "FILE:2: unknown key 'max_key' in [quotas] (did you mean 'max_keys'?)",
        ),
        (
            load_config,
            '[[provider]]\nprovider_type = "software"\nlibrary_path = "/x.so"\n',
            "FILE:3: unknown key 'library_path' in [[provider]] "
            "(known: 'name', 'provider_id', 'provider_type')",
        ),
        (
            load_identity_config,
            '[identity]\n[[identity.rule]]\nname = "a"\n[[identity.rule]]\nusr = "www-data"\n',
            "FILE:5: unknown key 'usr' in [[identity.rule]] (did you mean 'user'?)",
        ),
        (
            load_orchestrator_config,
            '[containers]\nengine = "/run/podman/podman.sock"\nreconcile_perod = 5\n',
            "FILE:3: unknown key 'reconcile_perod' in [containers] "
            "(did you mean 'reconcile_period'?)",
        ),
        (
            load_orchestrator_config,
            '[[app]]\nname = "a"\ncommand = ["x"]\nrestar = "always"\n',
            "FILE:4: unknown key 'restar' in [[app]] (did you mean 'restart'?)",
        ),
        (
            load_manifest,
            '[[app]]\nname = "a"\ncommand = ["x"]\n[orchestrator]\n',
            "FILE:4: unknown section [orchestrator] (known: [app])",
        ),
        (  # a required key misspelt: named as the typo it is, not as a missing command
            load_manifest,
            '[[app]]\nname = "a"\ncomand = ["x"]\n',
            "FILE:3: app a: no command: 'comand' is written (did you mean 'command'?)",
        ),
        (  # written as a dotted key, and after a multi-line string that looks like keys
            load_identity_config,
            'identity.audience = """\nallow_rot = 1\n"""\nidentity.hearbeat = 3\n',
            "FILE:4: unknown key 'hearbeat' in [identity] (did you mean 'heartbeat'?)",
        ),
    ],
)
def test_unknown_keys_everywhere(tmp_path: Path, loader: Loader, text: str, expected: str) -> None:
    assert refusal(tmp_path, loader, text) == expected


def test_a_key_with_a_newline_is_refused_on_one_line(tmp_path: Path) -> None:
    message = refusal(tmp_path, load_config, '[core_settings]\n"a\\nb" = 1\n')
    assert message.startswith("FILE:2: unknown key 'a\\nb' in [core_settings] (known: ")


def test_without_a_file_the_refusal_still_names_table_and_key() -> None:
    with pytest.raises(ConfigError, match=r"^unknown key 'allow_rot' in \[core_settings\]"):
        parse_config({"core_settings": {"allow_rot": True}})


# Types, checked exactly: a boolean is not a string or a number, an integer is not a float.


@pytest.mark.parametrize("daemon", DAEMONS)
def test_allow_root_false_as_a_string_is_refused(tmp_path: Path, daemon: str) -> None:
    loader, section = DAEMONS[daemon]
    message = refusal(tmp_path, loader, f'[{section}]\nallow_root = "false"\n')
    assert message == f"FILE:2: {section}.allow_root must be true or false, not 'false'"


def test_a_fractional_uid_is_refused(tmp_path: Path) -> None:
    text = "[identity]\norchestrator_uid = 1000.9\n"
    assert refusal(tmp_path, load_identity_config, text) == (
        "FILE:2: identity.orchestrator_uid must be an integer, not 1000.9"
    )


@pytest.mark.parametrize(
    ("loader", "text", "message"),
    [
        (load_config, "[listener]\ntimeout = true\n", "listener.timeout must be an integer"),
        (load_config, "[listener]\nmax_connections = 10.0\n", "must be an integer, not 10.0"),
        (load_identity_config, "[identity]\nheartbeat = true\n", "must be a number, not True"),
        (load_identity_config, "[identity]\ntoken_lifetime = nan\n", "is out of range"),
        (load_orchestrator_config, "[orchestrator]\nstop_timeout = inf\n", "is out of range"),
        (load_orchestrator_config, "[orchestrator]\nstate_dir = 5\n", "must be a string"),
        (load_orchestrator_config, '[[app]]\nname = "a"\ncommand = ["x"]\nreplicas = true\n', ""),
    ],
)
def test_types_are_checked_exactly(tmp_path: Path, loader: Loader, text: str, message: str) -> None:
    assert message in refusal(tmp_path, loader, text)


@pytest.mark.parametrize("level", ["verbose", "DEBUG", "5", 5, True])
@pytest.mark.parametrize("daemon", DAEMONS)
def test_a_bad_log_level_is_one_line_in_every_daemon(
    tmp_path: Path, daemon: str, level: object
) -> None:
    loader, section = DAEMONS[daemon]
    written = f'"{level}"' if isinstance(level, str) else str(level).lower()
    message = refusal(tmp_path, loader, f"[{section}]\nlog_level = {written}\n")
    assert message.startswith(f"FILE:2: {section}.log_level must be ")


def test_the_orchestrator_reads_its_log_level(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.toml"
    path.write_text('[orchestrator]\nlog_level = "debug"\nallow_root = true\n')
    config = load_orchestrator_config(path)
    assert (config.log_level, config.allow_root) == ("debug", True)


# The identity provider's listener limits and timeouts, named as the service's.


def test_the_identity_providers_limits_and_timeouts_are_settable(tmp_path: Path) -> None:
    path = tmp_path / "identity.toml"
    path.write_text(
        "[identity]\ntimeout = 250\nidle_timeout = 30000\ndrain_timeout = 0\n"
        "body_len_limit = 4096\nauth_len_limit = 1024\nheader_size_limit = 30\n"
    )
    config = load_identity_config(path)
    assert (
        config.connections.request_timeout,
        config.connections.idle_timeout,
        config.connections.drain_timeout,
    ) == (0.25, 30, 0)
    limits = config.limits
    assert (limits.max_body_size, limits.max_auth_size, limits.max_header_size) == (4096, 1024, 30)
    path.write_text("[identity]\ntimeout = 0\n")
    with pytest.raises(ConfigError, match=r":2: identity.timeout must be at least 1$"):
        load_identity_config(path)
    path.write_text(
        "[identity]\nmax_connections = 64\nmax_connections_per_uid = 8\nfirst_byte_timeout = 500\n"
    )
    config = load_identity_config(path)
    shares = (
        config.connections.max_connections,
        config.connections.max_connections_per_uid,
        config.connections.first_byte_timeout,
    )
    assert shares == (64, 8, 0.5)


# What stays as it was.


def test_parsec_files_still_warn_about_keys_nobody_reads(tmp_path: Path) -> None:
    path = tmp_path / "parsec.toml"
    path.write_text(
        "[core_settings]\nthread_pool_size = 4\nallow_rot = true\n[listener]\nlistener_type = "
        '"DomainSocket"\ntimeout = 200\n[authenticator]\nauth_type = "Direct"\n'
        '[[key_manager]]\nname = "kim"\nmanager_type = "SQLite"\n'
        '[[provider]]\nprovider_type = "MbedCrypto"\nkey_info_manager = "kim"\n'
    )
    config = load_config(path)
    assert "core_settings.allow_rot is ignored: Tessera does not read it here" in config.warnings
    assert config.connections.request_timeout == 0.2


def test_a_table_records_what_was_read() -> None:
    table = Table({"a": 1, "b": True, "c": {"d": "x", "e": 2}})
    assert table.integer("a", 0) == 1
    assert table.boolean("b", False) is True
    assert table.table("c").string("d", "") == "x"
    assert [(t.name, key) for t, key in table.unread()] == [("c", "e")]
    with pytest.raises(ConfigError, match=r"^unknown key 'e' in \[c\] \(known: 'd'\)$"):
        table.finish()
