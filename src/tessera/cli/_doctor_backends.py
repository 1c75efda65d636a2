"""`tessera doctor`'s look behind the configured hardware providers: is the PKCS#11 token there,
can the TPM be reached. Seen from the doctor's user, which may see less than the service's: what
it cannot see is a warning, not a failure."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tessera.cli._doctor_checks import FAIL, OK, SKIP, WARN, Check
from tessera.config import ConfigError
from tessera.service.config import ProviderConfig
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.service.providers.tpm.config import TpmSettings

CONNECT_TIMEOUT = 2.0


def backend(provider: ProviderConfig) -> Check | None:
    """The check of a provider's device or token; None for the software provider."""
    name = f"provider {provider.provider_id} backend"
    settings = provider.settings
    if isinstance(settings, Pkcs11Settings):
        return _pkcs11(name, settings)
    if isinstance(settings, TpmSettings):
        return _tpm(name, settings)
    return None


def _pkcs11(name: str, settings: Pkcs11Settings) -> Check:
    library = settings.library_path
    try:
        library.stat()
    except OSError as error:
        return Check(name, FAIL, f"no PKCS#11 library at {library} ({error.strerror})")
    try:
        import pkcs11

        from tessera.service.providers.pkcs11._token import Token
    except ImportError:
        return Check(name, OK, f"{library} present (token not checked: no python-pkcs11 here)")
    try:
        loaded = pkcs11.lib(str(library))
        token = Token._find_token(loaded, settings)
    except ConfigError as error:
        # SoftHSM2 and others keep tokens per user or per config file: ours may not be theirs.
        return Check(name, WARN, f"{error} (as seen by uid {os.geteuid()})")
    except Exception as error:  # the loader raises several kinds
        return Check(name, FAIL, f"cannot load {library}: {type(error).__name__}")
    return Check(name, OK, f"token {token.label!r} present in {library}", {"token": token.label})


def _tpm(name: str, settings: TpmSettings) -> Check:
    kind, _, conf = settings.tcti.partition(":")
    if kind == "device":
        device = Path(conf or "/dev/tpmrm0")
        try:
            device.stat()
        except OSError as error:
            level = WARN if settings.skip_if_no_tpm else FAIL
            return Check(name, level, f"no TPM device {device} ({error.strerror})")
        if not os.access(device, os.R_OK | os.W_OK):
            return Check(name, WARN, f"{device} present, not open to uid {os.geteuid()}")
        return Check(name, OK, f"TPM device {device} reachable")
    if kind in ("swtpm", "mssim"):
        options = dict(part.partition("=")[::2] for part in conf.split(",") if "=" in part)
        host = options.get("host", "localhost")
        port_text = options.get("port", "2321")
        if not port_text.isdigit():
            return Check(name, FAIL, f"TCTI {settings.tcti!r}: the port is not a number")
        port = int(port_text)
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
                pass
        except OSError as error:
            return Check(name, FAIL, f"TPM simulator at {host}:{port}: {error.strerror or error}")
        return Check(name, OK, f"TPM simulator at {host}:{port} accepts connections")
    return Check(name, SKIP, f"TCTI {settings.tcti!r}: not checked")
