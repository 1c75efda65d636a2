"""Parsec's storage key on the TPM, through `tpm2-pytss`: re-created from its template when one of
Parsec's keys is loaded, and never left loaded (`parsec_keys` has the template and why this works).

Creating an RSA 2048 primary takes a hardware TPM seconds, so after the first creation its context
is saved (TPM2_ContextSave: a blob the TPM encrypts for itself, kept in this process's memory) and
loaded again for the moment a child is loaded; a saved context the TPM no longer takes (after a TPM
reset) is replaced by a fresh creation. A loaded child does not need its parent, so the parent is
flushed at once.

`ParsecKeyCheck` is the migration's view: which template a Parsec key loads under on this TPM.
"""

from __future__ import annotations

import os

os.environ.setdefault("TSS2_LOG", "all+none")  # as in `_tpm`: errors are reported by the caller

from contextlib import suppress
from typing import Any

from tpm2_pytss import ESAPI, TSS2_Exception
from tpm2_pytss.constants import ESYS_TR, TPM2_RC, TPM2_SU
from tpm2_pytss.types import TPM2B_PRIVATE, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

from tessera.service.providers.tpm.config import TpmSettings, TpmUnavailable
from tessera.service.providers.tpm.parsec_keys import ParsecParent, parent_template
from tessera.wire.status import Status, StatusError


class ParsecParents:
    """Parsec's storage keys (one per template), as saved contexts."""

    def __init__(self) -> None:
        self._saved: dict[ParsecParent, Any] = {}

    def _loaded_parent(self, esapi: Any, parent: ParsecParent) -> Any:
        saved = self._saved.pop(parent, None)
        if saved is not None:
            with suppress(TSS2_Exception):
                handle = esapi.context_load(saved)
                self._saved[parent] = saved
                return handle
        template, _ = TPM2B_PUBLIC.unmarshal(parent_template(parent))
        handle, _, _, _, _ = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), template, ESYS_TR.OWNER)
        with suppress(TSS2_Exception):  # without a saved context, the next use creates it again
            self._saved[parent] = esapi.context_save(handle)
        return handle

    def load(self, esapi: Any, parent: int, private: Any, public: Any) -> Any:
        """Load a child of Parsec's storage key: its handle (TSS2_Exception if it does not load).
        Needs two free transient slots for a moment."""
        handle = self._loaded_parent(esapi, ParsecParent(parent))
        try:
            return esapi.load(handle, private, public)
        finally:
            with suppress(TSS2_Exception):
                esapi.flush_context(handle)

    def name(self, esapi: Any, parent: ParsecParent) -> bytes:
        """The TPM name of Parsec's storage key of this template (what Parsec 1.4+ records)."""
        handle = self._loaded_parent(esapi, parent)
        try:
            return bytes(esapi.tr_get_name(handle))
        finally:
            with suppress(TSS2_Exception):
                esapi.flush_context(handle)


class ParsecKeyCheck:
    """A short ESAPI session for the migration: it loads Parsec's keys to find their parent, and
    flushes everything it loads (it flushes nothing else: Tessera's service may use the TPM)."""

    def __init__(self, settings: TpmSettings) -> None:
        try:
            self._esapi: Any = ESAPI(settings.tcti)
        except TSS2_Exception as error:
            raise TpmUnavailable(f"cannot reach the TPM at {settings.tcti!r} ({error})") from None
        with suppress(TSS2_Exception):  # a TPM already started (the usual case) refuses
            self._esapi.startup(TPM2_SU.CLEAR)
        try:
            if settings.owner_hierarchy_auth:
                self._esapi.tr_set_auth(ESYS_TR.OWNER, settings.owner_hierarchy_auth)
        except TSS2_Exception as error:
            self._esapi.close()
            raise TpmUnavailable(f"cannot use the TPM at {settings.tcti!r} ({error})") from None
        self._parents = ParsecParents()

    def parent_of(self, public: bytes, private: bytes) -> ParsecParent | None:
        """The template of Parsec's storage key under which this key loads, if any (a key of
        another TPM, or of this one before its owner hierarchy was cleared, loads under none).
        StatusError when the TPM fails otherwise (the owner auth is wrong, ...)."""
        try:
            blob, _ = TPM2B_PRIVATE.unmarshal(private)
            area, _ = TPM2B_PUBLIC.unmarshal(public)
        except (TSS2_Exception, ValueError, TypeError):
            return None
        for parent in ParsecParent:
            try:
                handle = self._parents.load(self._esapi, parent, blob, area)
            except TSS2_Exception as error:
                if _fatal(error):
                    raise _failure(error) from None
                continue  # not under this template (or the TPM has no such template)
            with suppress(TSS2_Exception):
                self._esapi.flush_context(handle)
            return parent
        return None

    def root_names(self) -> dict[bytes, ParsecParent]:
        """The names Parsec's storage key can have on this TPM, with their template (a template
        the TPM refuses has none). StatusError when the TPM fails."""
        names: dict[bytes, ParsecParent] = {}
        for parent in ParsecParent:
            try:
                names[self._parents.name(self._esapi, parent)] = parent
            except TSS2_Exception as error:
                if _fatal(error):
                    raise _failure(error) from None
        return names

    def close(self) -> None:
        with suppress(TSS2_Exception):
            self._esapi.close()


def _failure(error: TSS2_Exception) -> StatusError:
    return StatusError(Status.PSA_ERROR_HARDWARE_FAILURE, f"TPM error: {error}")


def _fatal(error: TSS2_Exception) -> bool:
    """A failure that says nothing about the key: the TPM cannot be reached, or refuses the owner
    hierarchy's authorization (trying other templates would not help)."""
    if error.rc >> 16:  # the TCTI or ESAPI layer, not a TPM response
        return True
    return int(error.rc) in _FATAL or int(error.error) in _FATAL


_FATAL = frozenset(
    int(code) for code in (TPM2_RC.AUTH_FAIL, TPM2_RC.BAD_AUTH, TPM2_RC.HIERARCHY, TPM2_RC.LOCKOUT)
)
