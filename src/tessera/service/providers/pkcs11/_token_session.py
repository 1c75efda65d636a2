"""The session every token call goes through: one lock, one error boundary.

One logged-in read-write session serves the provider; PKCS#11 sessions are not thread-safe, so
every call holds a lock. Library errors become StatusError here: the operation modules turn the
ones they expect (a failed verification, a bad padding) into PSA's answer, and anything else is
HardwareFailure with the PKCS#11 error's class name (never key material or the PIN).

The `_token*` modules are the only ones that import `python-pkcs11`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute

from tessera.wire.status import Status, StatusError

_T = TypeVar("_T")


def failure(error: Exception) -> StatusError:
    """HardwareFailure naming the library's error class only."""
    return StatusError(Status.PSA_ERROR_HARDWARE_FAILURE, f"token error: {type(error).__name__}")


def missing() -> StatusError:
    """The row names token objects that are not there (or not one of them)."""
    return StatusError(Status.PSA_ERROR_DATA_CORRUPT, "the key's token object is missing")


class TokenSession:
    """A logged-in session and its lock; the base of `Token`."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._lock = threading.Lock()

    def close(self) -> None:
        """Log out and close the session."""
        with self._lock, contextlib.suppress(pkcs11.PKCS11Error):
            self._session.close()

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with self._lock:
            try:
                yield self._session
            except StatusError:
                raise
            except pkcs11.PKCS11Error as error:
                raise failure(error) from None

    @staticmethod
    def _find(session: Any, key_id: bytes, object_class: Any) -> list[Any]:
        return list(session.get_objects({Attribute.ID: key_id, Attribute.CLASS: object_class}))

    def _one(self, session: Any, key_id: bytes, object_class: Any) -> Any:
        found = self._find(session, key_id, object_class)
        if len(found) != 1:
            raise missing()
        return found[0]

    def _run(self, key_id: bytes, object_class: Any, action: Callable[[Any], _T]) -> _T:
        with self._locked() as session:
            return action(self._one(session, key_id, object_class))

    def random(self, size: int) -> bytes:
        """`size` random bytes from the token."""
        if size == 0:
            return b""
        with self._locked() as session:
            return bytes(session.generate_random(size * 8))
