"""Test support: temporary SoftHSM2 tokens for the PKCS#11 tests.

SoftHSM2 is not part of the project (`scripts/bootstrap` installs it as root): tests that need
it skip, saying why, where it is absent. Each token lives in its own folder with its own
`softhsm2.conf`, so tests never see each other's (or the machine's) tokens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

LIBRARIES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
LIBRARY = next((p for p in LIBRARIES if os.path.exists(p)), None)
SKIP_REASON = (
    "SoftHSM2 is not installed (scripts/bootstrap installs it as root): PKCS#11 tests skipped"
)
USER_PIN = "1234"
SO_PIN = "5678"


def softhsm_present() -> bool:
    """The library and `softhsm2-util` are both installed."""
    return LIBRARY is not None and shutil.which("softhsm2-util") is not None


def require_softhsm() -> str:
    """The SoftHSM2 library's path, or skip the test saying why."""
    if LIBRARY is None or not softhsm_present():
        pytest.skip(SKIP_REASON)
    return LIBRARY


@dataclass(frozen=True)
class SoftToken:
    """One initialized token in its own folder."""

    library: str
    label: str
    conf: Path
    pin_file: Path

    @property
    def env(self) -> dict[str, str]:
        """An environment in which SoftHSM2 sees this token only."""
        return {**os.environ, "SOFTHSM2_CONF": os.fspath(self.conf)}

    def provider_table(self, *, provider_id: int | None = None, **options: bool) -> str:
        """A `[[provider]]` TOML table for this token (PIN from a file)."""
        lines = [
            "[[provider]]",
            'provider_type = "pkcs11"',
            f'library_path = "{self.library}"',
            f'token_label = "{self.label}"',
            f'user_pin_file = "{self.pin_file}"',
        ]
        if provider_id is not None:
            lines.append(f"provider_id = {provider_id}")
        lines += [f"{name} = {'true' if value else 'false'}" for name, value in options.items()]
        return "\n".join(lines) + "\n"


def make_token(folder: Path, label: str = "tessera") -> SoftToken:
    """Initialize a fresh token (user PIN `USER_PIN`) whose files live under `folder`."""
    library = require_softhsm()
    tokens = folder / "tokens"
    tokens.mkdir(parents=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    token = SoftToken(library, label, conf, folder / "pin")
    init = ["softhsm2-util", "--init-token", "--free", "--label", label]
    subprocess.run(
        [*init, "--pin", USER_PIN, "--so-pin", SO_PIN],
        env=token.env,
        check=True,
        capture_output=True,
    )
    token.pin_file.write_text(USER_PIN + "\n")
    token.pin_file.chmod(0o600)
    return token
