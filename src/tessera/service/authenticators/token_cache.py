"""A bounded cache of verified tokens, so that a token is verified once, not on every request.

A JWT authenticator (auth types 2 and 4) pays an ES256 or RSA signature verification (50-130 µs
here) for each request; the same token comes back on every request of an application for
minutes. An entry says: this token passed, naming this application, under trust generation G,
and would keep passing on time alone until T. It is used only while:

- the generation the verifier reports now is still G: any change of trust (a new root or
  intermediate, a new revocation list, a reloaded JWT bundle) moves it, and for the service's
  trust store it is the generation shared by every process of the run, so a rotation or
  revocation through one process invalidates the entries of all at once;
- the clock is before T: the token's `exp` plus the leeway (and, for Tessera's tokens, the
  intermediate's expiry), the very bound verification applies;
- it is among the `capacity` most recently used entries: least recently used ones are dropped,
  so a flood of distinct valid tokens cannot grow memory. Only verified tokens enter.

Entries are keyed by the SHA-256 digest of the token, not the token: a lookup compares digests,
so its timing tells nothing about the tokens held, and the cache holds no bearer credential.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

__all__ = ["DEFAULT_CAPACITY", "TokenCache"]

#: Entries kept by default: distinct live tokens (about one per application process).
DEFAULT_CAPACITY = 4096


class TokenCache:
    """Verified tokens: digest -> (generation, valid until (epoch s), application); thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("the token cache needs room for at least one entry")
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[int, float, str]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def capacity(self) -> int:
        """The most entries held at once."""
        return self._capacity

    @staticmethod
    def key(token: bytes) -> bytes:
        """The cache key of a token."""
        return hashlib.sha256(token).digest()

    def get(self, key: bytes, generation: int, now: float) -> str | None:
        """The application of a token verified under `generation` and still in time, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] != generation or now >= entry[1]:
                del self._entries[key]  # it can never pass again under this state
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, key: bytes, generation: int, valid_until: float, application: str) -> None:
        """Remember a token that passed verification under `generation`."""
        with self._lock:
            self._entries[key] = (generation, valid_until, application)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
