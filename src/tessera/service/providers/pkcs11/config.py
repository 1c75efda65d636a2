"""The `[[provider]]` table of a PKCS#11 provider, checked for shape when the file is read.

Whether the library loads, the token exists and the PIN logs in is checked when the provider is
built (`Pkcs11Provider`), still at start-up. The PIN is kept out of reprs and never logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera.config import ConfigError, config_path
from tessera.service.providers.provider_table import optional, read_secret_file

_KEYS = frozenset(
    {
        "provider_type",
        "provider_id",
        "name",
        "library_path",
        "token_label",
        "slot_number",
        "serial_number",
        "user_pin",
        "user_pin_file",
        "software_public_operations",
        "allow_export",
    }
)


@dataclass(frozen=True)
class Pkcs11Settings:
    """What a PKCS#11 provider needs: the library, which token, the user PIN, options."""

    library_path: Path
    token_label: str | None = None
    slot_number: int | None = None
    serial_number: str | None = None
    user_pin: str | None = field(default=None, repr=False)
    software_public_operations: bool = False
    allow_export: bool = False


_WHO = "pkcs11 provider"


def _optional(entry: dict[str, Any], key: str, kind: type) -> Any:
    return optional(entry, key, kind, _WHO)


def _read_pin_file(path: Path) -> str:
    pin = read_secret_file(path, "user_pin_file", _WHO)
    if not pin:
        raise ConfigError(f"pkcs11 provider: user_pin_file {str(path)!r} is empty")
    return pin


def parse_pkcs11(entry: dict[str, Any], *, only_token: bool = False) -> Pkcs11Settings:
    """Validate one `[[provider]]` table of type "pkcs11" (ConfigError, one line).

    `only_token` (Parsec's rule, for its config files): a table naming no token means the only
    initialized token.
    """
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"pkcs11 provider: unknown setting {unknown[0]!r}")
    library = _optional(entry, "library_path", str)
    if not library:
        raise ConfigError("pkcs11 provider: library_path is required")
    label = _optional(entry, "token_label", str)
    slot = _optional(entry, "slot_number", int)
    serial = _optional(entry, "serial_number", str)
    if label is None and slot is None and serial is None and not only_token:
        raise ConfigError(
            "pkcs11 provider: name the token with token_label, slot_number or serial_number"
        )
    if slot is not None and slot < 0:
        raise ConfigError("pkcs11 provider: slot_number must be non-negative")
    pin = _optional(entry, "user_pin", str)
    pin_file = _optional(entry, "user_pin_file", str)
    if pin is not None and pin_file is not None:
        raise ConfigError("pkcs11 provider: give user_pin or user_pin_file, not both")
    if pin_file is not None:
        pin = _read_pin_file(config_path(pin_file, "pkcs11 provider: user_pin_file"))
    if not pin:
        raise ConfigError("pkcs11 provider: user_pin or user_pin_file is required")
    return Pkcs11Settings(
        library_path=Path(os.path.expanduser(library)),
        token_label=label,
        slot_number=slot,
        serial_number=serial,
        user_pin=pin,
        software_public_operations=bool(_optional(entry, "software_public_operations", bool)),
        allow_export=bool(_optional(entry, "allow_export", bool)),
    )
