"""Parsing the `[[provider]]` table of a TPM provider (no TPM and no tpm2-pytss needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tessera.config import ConfigError
from tessera.service.config import parse_config
from tessera.service.providers.tpm.config import (
    DEFAULT_TCTI,
    TpmSettings,
    TpmUnavailable,
    parse_auth,
    parse_tpm,
)


def providers(**entry: Any) -> Any:
    return parse_config({"provider": [{"provider_type": "tpm", **entry}]}).providers


def test_defaults() -> None:
    (provider,) = providers()
    assert provider.provider_type == "tpm"
    assert provider.provider_id == 3
    assert provider.name == "tpm"
    assert provider.settings == TpmSettings(DEFAULT_TCTI, b"", False)


def test_full_table() -> None:
    (provider,) = providers(
        tcti="swtpm:host=127.0.0.1,port=2321",
        owner_hierarchy_auth="s3cret",
        skip_if_no_tpm=True,
        provider_id=7,
        name="hw",
    )
    settings = provider.settings
    assert isinstance(settings, TpmSettings)
    assert settings.tcti == "swtpm:host=127.0.0.1,port=2321"
    assert settings.owner_hierarchy_auth == b"s3cret"
    assert settings.skip_if_no_tpm
    assert provider.provider_id == 7
    assert "s3cret" not in repr(provider)


def test_auth_forms() -> None:
    assert parse_auth("plain") == b"plain"
    assert parse_auth("str:hex:x") == b"hex:x"
    assert parse_auth("hex:00ff") == b"\x00\xff"
    with pytest.raises(ConfigError, match="not valid hex"):
        parse_auth("hex:zz")


def test_auth_file(tmp_path: Path) -> None:
    path = tmp_path / "owner"
    path.write_text("hex:0102\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        parse_tpm({"owner_hierarchy_auth_file": str(path)})
    path.chmod(0o600)
    assert parse_tpm({"owner_hierarchy_auth_file": str(path)}).owner_hierarchy_auth == b"\1\2"
    with pytest.raises(ConfigError, match="cannot read"):
        parse_tpm({"owner_hierarchy_auth_file": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="not both"):
        parse_tpm({"owner_hierarchy_auth_file": str(path), "owner_hierarchy_auth": "x"})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"tcti": 5}, "tcti must be of type str"),
        ({"tcti": ""}, "is not NAME"),
        ({"tcti": ":conf"}, "is not NAME"),
        ({"tcti": "bad name:x"}, "is not NAME"),
        ({"skip_if_no_tpm": "yes"}, "skip_if_no_tpm must be of type bool"),
        ({"owner_hierarchy_auth": 1}, "owner_hierarchy_auth must be of type str"),
        ({"pin": "1234"}, "unknown setting 'pin'"),
    ],
)
def test_refusals(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tpm(entry)


def test_ids_and_errors() -> None:
    config = parse_config(
        {"provider": [{"provider_type": "software"}, {"provider_type": "tpm", "tcti": "mssim"}]}
    )
    assert [p.provider_id for p in config.providers] == [1, 3]
    with pytest.raises(ConfigError, match="share the id 3"):
        parse_config(
            {"provider": [{"provider_type": "tpm"}, {"provider_type": "tpm", "name": "b"}]}
        )
    assert issubclass(TpmUnavailable, ConfigError)
