"""The two ways a migration step fails: a whole run that cannot start, or one unreadable record."""

from __future__ import annotations


class MigrationError(Exception):
    """The migration cannot run at all (no key-info store, Parsec still running, ...).

    The message is one line for the operator and never contains key material.
    """


class FormatError(ValueError):
    """One record of Parsec's state (a key file, a key-info entry) is malformed.

    The message is one line naming what is wrong; it never contains key material.
    """


class KeyFileMissingError(FormatError):
    """A key-info entry's key file is absent (never written, or already shredded)."""
