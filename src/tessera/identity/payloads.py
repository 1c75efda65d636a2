"""Verifying the signed payloads the orchestrator sends, and refusing their replay.

Each is a JWS signed by the orchestrator's current intermediate, with `kind`, `iat` (checked
against the configured maximum age) and a `jti` that may be used once. Their fields, and what
makes one malformed, are trust/payloads.py's (shared with the orchestrator, which builds them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol, Self, TypeVar

from tessera.trust.store import TrustStore
from tessera.wire.status import Status, StatusError


class _Readable(Protocol):
    @property
    def jti(self) -> str: ...

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Self: ...


_P = TypeVar("_P", bound=_Readable)


class PayloadVerifier:
    """Verifies signed payloads and refuses replays within their validity window."""

    def __init__(self, store: TrustStore, max_age: float) -> None:
        self._store = store
        self._max_age = max_age
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}  # jti -> when it may be forgotten

    def verify(self, token: str, payload_type: type[_P]) -> _P:
        """The payload; a TRUST_* status if it is not genuine, fresh and of that type
        (IDENTITY_ATTESTATION_FAILED for a proof that misstates its facts)."""
        claims = self._store.verify_payload(token, max_age=timedelta(seconds=self._max_age))
        payload = payload_type.from_claims(claims)
        now = time.monotonic()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if payload.jti in self._seen:
                raise StatusError(Status.TRUST_STALE_PAYLOAD, "payload already used")
            self._seen[payload.jti] = now + self._max_age + 60
        return payload
