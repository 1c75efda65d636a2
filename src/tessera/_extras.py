"""The optional parts of the distribution (pip extras), and the one line said when one is missing.

The runtime installs without them; a configuration that asks for one of these features fails at
start-up with `missing_extra`'s sentence, naming the extra to install.
"""

from __future__ import annotations

from typing import NoReturn

DISTRIBUTION = "tessera-keys"  # the name on PyPI ("tessera" is another project's)

# extra: (the import it provides, the package pip installs, what needs it)
EXTRAS: dict[str, tuple[str, str, str]] = {
    "pkcs11": ("pkcs11", "python-pkcs11", "the pkcs11 provider"),
    "tpm": ("tpm2_pytss", "tpm2-pytss (built against libtss2-dev)", "the tpm provider"),
    "spiffe": ("grpclib", "grpclib", "the SPIFFE Workload API (workload_api_socket)"),
}


def missing_extra(extra: str, error: ImportError) -> str | None:
    """The sentence for `error` if it is the extra's package missing, else None (a real bug,
    or another module missing, which the caller re-raises)."""
    module, package, feature = EXTRAS[extra]
    missing = (error.name or "").split(".")[0]
    if missing != module:
        return None
    return (
        f"{feature} needs {package}, which is not installed: pip install '{DISTRIBUTION}[{extra}]'"
    )


def require_extra(extra: str, error: ImportError, config_error: type[Exception]) -> NoReturn:
    """Raise `config_error` with that sentence if `error` is the extra's package missing;
    re-raise `error` otherwise."""
    sentence = missing_extra(extra, error)
    if sentence is None:
        raise error
    raise config_error(sentence) from None
