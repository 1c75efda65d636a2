"""The signed payloads the orchestrator sends: their kinds, fields, and replay protection.

Each is a JWS signed by the orchestrator's current intermediate, with `kind`, `iat` (checked
against the configured maximum age) and a `jti` that may be used once.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from tessera.trust.store import TrustStore
from tessera.wire.status import Status, StatusError


class PayloadVerifier:
    """Verifies signed payloads and refuses replays within their validity window."""

    def __init__(self, store: TrustStore, max_age: float) -> None:
        self._store = store
        self._max_age = max_age
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}  # jti -> when it may be forgotten

    def verify(self, token: str, kind: str) -> dict[str, Any]:
        """The payload's claims; a TRUST_* status if it is not genuine, fresh and of `kind`."""
        claims = self._store.verify_payload(token, max_age=timedelta(seconds=self._max_age))
        if claims.get("kind") != kind:
            raise StatusError(Status.TRUST_BAD_SIGNATURE, f"payload is not a {kind}")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise StatusError(Status.TRUST_BAD_SIGNATURE, "payload has no jti")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise StatusError(Status.TRUST_BAD_SIGNATURE, "payload names no client")
        now = time.monotonic()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if jti in self._seen:
                raise StatusError(Status.TRUST_STALE_PAYLOAD, "payload already used")
            self._seen[jti] = now + self._max_age + 60
        return claims
