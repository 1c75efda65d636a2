"""JWT-SVID authentication (auth type 4): SPIFFE tokens checked against a JWT bundle file.

For SPIRE deployments: the bundle is the trust domain's JWKS (as `spire-server bundle show
-format spiffe` writes it); the application is the token's SPIFFE ID.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tessera.daemon.peer import PeerCredentials
from tessera.trust.bundle import JwtBundle, load_jwt_bundle
from tessera.wire.opcodes import AuthType
from tessera.wire.status import Status, StatusError


class JwtSvidAuthenticator:
    """Verifies JWT-SVIDs with the keys of a SPIFFE JWT bundle."""

    auth_type = AuthType.JWT_SVID
    description = "JWT-SVID: SPIFFE identity tokens checked against a JWT bundle"

    def __init__(self, bundle_path: Path, *, audience: str, leeway: float) -> None:
        self._bundle: JwtBundle = load_jwt_bundle(bundle_path)
        self._audience = audience
        self._leeway = timedelta(seconds=leeway)

    def authenticate(self, payload: bytes, peer: PeerCredentials | None) -> str:
        try:
            token = payload.decode("ascii")
        except UnicodeDecodeError:
            # As Parsec's JWT-SVID authenticator: a payload that is not text is InvalidEncoding.
            raise StatusError(Status.INVALID_ENCODING, "token is not ASCII") from None
        try:
            claims = self._bundle.verify(token, audience=self._audience, leeway=self._leeway)
        except StatusError as error:
            raise StatusError(Status.AUTHENTICATION_ERROR, f"JWT-SVID refused: {error}") from None
        return claims.subject
