"""JWT authentication (auth type 2): tokens issued by Tessera's identity provider.

The token is a JWT-SVID signed by the identity provider's current intermediate, which the
identity provider shared with this service (ShareTrustBundle). The application is the token's
SPIFFE ID.

A verified token is remembered (authenticators/token_cache.py) under the trust store's
generation, which every process of the service run shares: a rotated intermediate, a new root
or a new revocation list, received by any process, moves it, and the token is verified afresh
(and refused) everywhere. An entry also ends when the token would expire (with the leeway) or
its intermediate would, whichever comes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from tessera.service.authenticators.token_cache import DEFAULT_CAPACITY, TokenCache
from tessera.trust.peer import PeerCredentials
from tessera.trust.store import TrustStore
from tessera.wire.opcodes import AuthType
from tessera.wire.status import Status, StatusError


class TokenAuthenticator:
    """Checks identity-provider tokens against the trust store."""

    auth_type = AuthType.JWT
    description = "Tessera identity tokens: JWT-SVIDs from the identity provider"

    def __init__(
        self,
        store: TrustStore,
        *,
        audience: str,
        leeway: float,
        cache_size: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._audience = audience
        self._leeway = timedelta(seconds=leeway)
        self._clock = clock
        self.cache = TokenCache(cache_size)

    def authenticate(self, payload: bytes, peer: PeerCredentials | None) -> str:
        generation = self._store.generation
        key = TokenCache.key(payload)
        cached = self.cache.get(key, generation, self._clock())
        if cached is not None:
            return cached
        try:
            token = payload.decode("ascii")
        except UnicodeDecodeError:
            raise StatusError(Status.AUTHENTICATION_ERROR, "token is not ASCII") from None
        if self._store.current_kid is None:
            # Not the token's fault: this service (just restarted?) has not been re-shared the
            # identity provider's trust yet. A distinct status lets the client wait, not refetch.
            raise StatusError(Status.TRUST_NO_ROOT, "the identity provider's trust is not held")
        try:
            verified = self._store.verify_token_detailed(
                token, audience=self._audience, leeway=self._leeway
            )
        except StatusError as error:
            # Whatever the trust failure, the wire says AuthenticationError: the client library
            # refetches its token once on exactly this status.
            raise StatusError(Status.AUTHENTICATION_ERROR, f"token refused: {error}") from None
        subject = verified.claims.subject
        self.cache.put(key, verified.generation, verified.valid_until, subject)
        return subject
