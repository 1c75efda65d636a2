"""JWT authentication (auth type 2): tokens issued by Tessera's identity provider.

The token is a JWT-SVID signed by the identity provider's current intermediate, which the
identity provider shared with this service (ShareTrustBundle). The application is the token's
SPIFFE ID. Verified tokens are cached until they expire or the intermediate changes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import timedelta

from tessera.trust.peer import PeerCredentials
from tessera.trust.store import TrustStore
from tessera.wire.opcodes import AuthType
from tessera.wire.status import Status, StatusError

_CACHE_SIZE = 4096


class TokenAuthenticator:
    """Checks identity-provider tokens against the trust store."""

    auth_type = AuthType.JWT
    description = "Tessera identity tokens: JWT-SVIDs from the identity provider"

    def __init__(self, store: TrustStore, *, audience: str, leeway: float) -> None:
        self._store = store
        self._audience = audience
        self._leeway = timedelta(seconds=leeway)
        self._lock = threading.Lock()
        # token -> (trust generation it was verified under, expiry (epoch s), application)
        self._verified: OrderedDict[str, tuple[int, float, str]] = OrderedDict()

    def authenticate(self, payload: bytes, peer: PeerCredentials | None) -> str:
        try:
            token = payload.decode("ascii")
        except UnicodeDecodeError:
            raise StatusError(Status.AUTHENTICATION_ERROR, "token is not ASCII") from None
        if self._store.current_kid is None:
            # Not the token's fault: this service (just restarted?) has not been re-shared the
            # identity provider's trust yet. A distinct status lets the client wait, not refetch.
            raise StatusError(Status.TRUST_NO_ROOT, "the identity provider's trust is not held")
        generation = self._store.generation
        now = time.time()
        with self._lock:
            cached = self._verified.get(token)
            if cached is not None and cached[0] == generation and now < cached[1]:
                self._verified.move_to_end(token)
                return cached[2]
        try:
            claims = self._store.verify_token(token, audience=self._audience, leeway=self._leeway)
        except StatusError as error:
            # Whatever the trust failure, the wire says AuthenticationError: the client library
            # refetches its token once on exactly this status.
            raise StatusError(Status.AUTHENTICATION_ERROR, f"token refused: {error}") from None
        with self._lock:
            self._verified[token] = (generation, claims.expires_at.timestamp(), claims.subject)
            while len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims.subject
