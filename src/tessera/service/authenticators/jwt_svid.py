"""JWT-SVID authentication (auth type 4): SPIFFE tokens checked against a JWT bundle file.

For SPIRE deployments: the bundle is the trust domain's JWKS (as `spire-server bundle show
-format spiffe` writes it); the application is the token's SPIFFE ID.

Each process watches the bundle file itself (its inode, size and modification time, checked on
every request), so a rotated bundle is in force in every process of the service from its next
request. A verified token is remembered (authenticators/token_cache.py) under the bundle it
passed with: a reloaded bundle starts a new generation, and the token is verified afresh.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from tessera.config import ConfigError
from tessera.service.authenticators.token_cache import DEFAULT_CAPACITY, TokenCache
from tessera.trust.bundle import JwtBundle, load_jwt_bundle
from tessera.trust.peer import PeerCredentials
from tessera.wire.opcodes import AuthType
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)


class JwtSvidAuthenticator:
    """Verifies JWT-SVIDs with the keys of a SPIFFE JWT bundle."""

    auth_type = AuthType.JWT_SVID
    description = "JWT-SVID: SPIFFE identity tokens checked against a JWT bundle"

    def __init__(
        self,
        bundle_path: Path,
        *,
        audience: str,
        leeway: float,
        trust_domain: str | None,
        cache_size: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = bundle_path
        self._trust_domain = trust_domain
        self._audience = audience
        self._leeway = timedelta(seconds=leeway)
        self._lock = threading.Lock()
        self._clock = clock
        self.cache = TokenCache(cache_size)
        self._generation = 0  # bumped with every bundle loaded after the first
        try:
            self._version = self._file_version()
            self._bundle: JwtBundle = load_jwt_bundle(bundle_path, trust_domain=trust_domain)
        except (OSError, ValueError) as error:
            raise ConfigError(f"JWT-SVID bundle {bundle_path}: {error}") from None

    def _file_version(self) -> tuple[int, int, int]:
        info = os.stat(self._path)
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def _current_bundle(self) -> tuple[JwtBundle, int]:
        """The bundle and its generation, re-read when the file changed (SPIRE rotates its JWT
        keys)."""
        try:
            version = self._file_version()
        except OSError:
            # Momentarily missing while being replaced: keep the last good.
            return self._bundle, self._generation
        if version != self._version:
            with self._lock:
                if version != self._version:
                    try:
                        bundle = load_jwt_bundle(self._path, trust_domain=self._trust_domain)
                    except (OSError, ValueError) as error:
                        log.warning("keeping the previous JWT-SVID bundle: %s", error)
                    else:
                        self._bundle = bundle
                        self._generation += 1
                        log.info("reloaded the JWT-SVID bundle %s", self._path)
                    self._version = version
                return self._bundle, self._generation
        return self._bundle, self._generation

    def authenticate(self, payload: bytes, peer: PeerCredentials | None) -> str:
        bundle, generation = self._current_bundle()
        key = TokenCache.key(payload)
        cached = self.cache.get(key, generation, self._clock())
        if cached is not None:
            return cached
        try:
            token = payload.decode("ascii")
        except UnicodeDecodeError:
            # As Parsec's JWT-SVID authenticator: a payload that is not text is InvalidEncoding.
            raise StatusError(Status.INVALID_ENCODING, "token is not ASCII") from None
        try:
            claims = bundle.verify(token, audience=self._audience, leeway=self._leeway)
        except StatusError as error:
            raise StatusError(Status.AUTHENTICATION_ERROR, f"JWT-SVID refused: {error}") from None
        valid_until = claims.expires_at.timestamp() + self._leeway.total_seconds()
        self.cache.put(key, generation, valid_until, claims.subject)
        return claims.subject
