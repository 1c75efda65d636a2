"""Reading a device provider's `[[provider]]` table: typed values and owner-only secret files.

Messages start with the provider's `who` ("pkcs11 provider") and fit on one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from tessera.config import ConfigError


def optional(entry: dict[str, Any], key: str, kind: type, who: str) -> Any:
    """`entry[key]` if it is of type `kind` (a bool is no int here), None if absent."""
    value = entry.get(key)
    if value is not None and (
        not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
    ):
        raise ConfigError(f"{who}: {key} must be of type {kind.__name__}")
    return value


def read_secret_file(path: Path, key: str, who: str) -> str:
    """The text of the secret file the setting `key` names, without a final line break; the file
    must be closed to group and others."""
    shown = repr(str(path))  # quoted: a newline in it must not split the message
    try:
        # Checked on the file opened, not on the path: it cannot be swapped in between.
        with path.open("r", encoding="utf-8") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{who}: {key} {shown} is not a regular file")
            if info.st_uid != os.geteuid():
                raise ConfigError(
                    f"{who}: {key} {shown} belongs to uid {info.st_uid}, not to this daemon's "
                    f"user (uid {os.geteuid()}): chown it"
                )
            if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    f"{who}: {key} {shown} must not be readable by group or others (chmod 600)"
                )
            return file.read().strip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError(f"{who}: {key} {shown} is not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{who}: cannot read {key} {shown}: {error.strerror}") from None
