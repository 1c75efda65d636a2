"""JWT-SVID claims: what a verified token says, and the checks every verifier applies.

Shared by `TrustStore.verify_token` (tokens from Tessera's identity provider) and
`JwtBundle.verify` (JWT-SVIDs from SPIRE). The signature has been checked before these run.

Rules (JWT-SVID §3 and DESIGN.md §3): `exp` required and in the future (within `leeway`); `aud`
required, a string or a non-empty list of strings, containing the verifier's audience; `sub`
required, a SPIFFE ID naming a workload; `nbf` checked when present; `iat` never refused for its
time, only for not being a number; `jti` a string when present. Leeway is at most 60 s.

Statuses: an expired or not-yet-valid token raises `TRUST_STALE_PAYLOAD` (the holder should fetch
a new one); every other claim failure raises `TRUST_BAD_SIGNATURE`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tessera.trust.errors import TrustError
from tessera.trust.spiffe import workload_id
from tessera.wire.status import Status

__all__ = [
    "DEFAULT_LEEWAY",
    "MAX_LEEWAY",
    "TokenClaims",
    "check_audience_argument",
    "check_leeway",
    "check_svid_claims",
]

#: The largest clock-skew allowance a verifier may be given (DESIGN.md §3).
MAX_LEEWAY = timedelta(seconds=60)
#: Clock skew allowed by default: seconds, since every second of it lets an expired token pass
#: (the identity provider and the service share a host, hence a clock).
DEFAULT_LEEWAY = timedelta(seconds=5)


@dataclass(frozen=True)
class TokenClaims:
    """The verified content of a JWT-SVID.

    `audience` is the verifier's own audience (the one that matched); `kid` names the key that
    signed the token (for Tessera tokens, the intermediate certificate's thumbprint).
    """

    subject: str
    audience: str
    expires_at: datetime
    issued_at: datetime | None
    token_id: str | None
    kid: str


def check_leeway(leeway: timedelta) -> None:
    """Raise ValueError unless 0 <= leeway <= 60 s: a verifier's misuse, not the token's fault."""
    if leeway < timedelta(0) or leeway > MAX_LEEWAY:
        raise ValueError("leeway must be between 0 and 60 seconds")


def check_audience_argument(audience: str) -> None:
    """Raise ValueError if the verifier named no audience."""
    if not isinstance(audience, str) or not audience:
        raise ValueError("audience must be a non-empty string")


def _bad(message: str) -> TrustError:
    return TrustError(Status.TRUST_BAD_SIGNATURE, message)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519 §2) as seconds, or None when absent."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"the token's '{name}' is not a number")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise _bad(f"the token's '{name}' is not a finite number")
    return seconds


def _to_datetime(seconds: float, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _bad(f"the token's '{name}' is out of range") from None


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return aud
    raise _bad("the token has no 'aud' claim of strings")


def check_svid_claims(
    claims: Mapping[str, Any],
    *,
    audience: str,
    leeway: timedelta,
    now: datetime,
    kid: str,
    trust_domain: str | None = None,
) -> TokenClaims:
    """Apply the JWT-SVID claim rules at time `now`; return the claims or raise TrustError.

    With `trust_domain`, the subject must belong to it.
    """
    check_leeway(leeway)
    check_audience_argument(audience)
    slack = leeway.total_seconds()
    at = now.timestamp()

    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise _bad("the token has no 'exp' claim")
    if audience not in _audiences(claims):
        raise _bad("the token is not meant for this audience")
    subject = claims.get("sub")
    if not isinstance(subject, str):
        raise _bad("the token has no 'sub' claim")
    try:
        subject_domain, _ = workload_id(subject)
    except ValueError:
        raise _bad("the token's subject is not a SPIFFE ID naming a workload") from None
    if trust_domain is not None and subject_domain != trust_domain:
        raise _bad("the token's subject belongs to another trust domain")
    token_id = claims.get("jti")
    if token_id is not None and not isinstance(token_id, str):
        raise _bad("the token's 'jti' is not a string")
    nbf = _numeric_date(claims, "nbf")
    iat = _numeric_date(claims, "iat")
    expires_at = _to_datetime(exp, "exp")
    issued_at = None if iat is None else _to_datetime(iat, "iat")

    if at >= exp + slack:
        raise TrustError(Status.TRUST_STALE_PAYLOAD, "the token has expired")
    if nbf is not None and at + slack < nbf:
        raise TrustError(Status.TRUST_STALE_PAYLOAD, "the token is not valid yet")
    return TokenClaims(
        subject=subject,
        audience=audience,
        expires_at=expires_at,
        issued_at=issued_at,
        token_id=token_id,
        kid=kid,
    )
