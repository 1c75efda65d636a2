"""The `[[provider]]` table of a TPM provider, checked for shape when the file is read.

Whether `tpm2-pytss` is installed and the TPM answers is checked when the provider is built
(`TpmProvider`), still at start-up. The owner hierarchy's authorization value is kept out of
reprs and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.config import ConfigError, config_path
from tessera.service.providers.provider_table import optional, read_secret_file

DEFAULT_TCTI = "device:/dev/tpmrm0"
_KEYS = frozenset(
    {
        "provider_type",
        "provider_id",
        "name",
        "tcti",
        "owner_hierarchy_auth",
        "owner_hierarchy_auth_file",
        "skip_if_no_tpm",
    }
)


class TpmUnavailable(ConfigError):  # noqa: N818 - a ConfigError, named for what happened
    """The TPM cannot be reached: start-up fails, or with `skip_if_no_tpm` the provider is left
    out."""


@dataclass(frozen=True)
class TpmSettings:
    """What a TPM provider needs: how to reach the TPM, the owner hierarchy's auth, options."""

    tcti: str = DEFAULT_TCTI
    owner_hierarchy_auth: bytes = field(default=b"", repr=False)
    skip_if_no_tpm: bool = False


_WHO = "tpm provider"


def _optional(entry: dict[str, Any], key: str, kind: type) -> Any:
    return optional(entry, key, kind, _WHO)


def parse_auth(text: str) -> bytes:
    """An authorization value as Parsec writes it: "hex:..." for bytes, "str:..." or plain text."""
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise ConfigError("tpm provider: owner_hierarchy_auth is not valid hex") from None
    if text.startswith("str:"):
        text = text[4:]
    return text.encode("utf-8")


def _read_auth_file(path: Path) -> bytes:
    return parse_auth(read_secret_file(path, "owner_hierarchy_auth_file", _WHO))


def _check_tcti(tcti: str) -> str:
    name, _, _ = tcti.partition(":")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ConfigError(
            f"tpm provider: tcti {tcti!r} is not NAME[:CONF] (e.g. device:/dev/tpmrm0)"
        )
    return tcti


def parse_tpm(entry: dict[str, Any]) -> TpmSettings:
    """Validate one `[[provider]]` table of type "tpm" (ConfigError, one line)."""
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"tpm provider: unknown setting {unknown[0]!r}")
    tcti = _optional(entry, "tcti", str)
    auth = _optional(entry, "owner_hierarchy_auth", str)
    auth_file = _optional(entry, "owner_hierarchy_auth_file", str)
    if auth is not None and auth_file is not None:
        raise ConfigError(
            "tpm provider: give owner_hierarchy_auth or owner_hierarchy_auth_file, not both"
        )
    value = b""
    if auth is not None:
        value = parse_auth(auth)
    elif auth_file is not None:
        value = _read_auth_file(config_path(auth_file, "tpm provider: owner_hierarchy_auth_file"))
    return TpmSettings(
        tcti=_check_tcti(DEFAULT_TCTI if tcti is None else tcti),
        owner_hierarchy_auth=value,
        skip_if_no_tpm=bool(_optional(entry, "skip_if_no_tpm", bool)),
    )
