"""Revocation lists: tokens the trusted side withdrew before they expire.

The identity provider gives every proven process a random *grant*, and every token it issues
to that process a `jti` of the form `<grant>.<random>`. When the process is withdrawn (the
orchestrator removed it, it exited, or its client was redefined as another identity), the
grant is revoked: a signed list reaches the service, which then refuses every token whose
`jti` is a listed grant or starts with one and a dot.

A list is a snapshot, not a change, so lists may be re-sent and may cross on the wire:
`serial` grows with every change inside one process of the trusted side, and a list with a
lower serial than the one held is ignored. A list covers the tokens of the intermediate that
signs it (a new intermediate makes every older token worthless anyway), and each entry lasts
until `until` (epoch seconds), by when every token of that grant has expired.

Claims of the signed payload (JWS, `typ` "JOSE", from the current intermediate):
`{"kind": "tessera/revocation-list", "serial": <int>, "iat": <int>,
"revoked": {"<grant>": <until>, ...}}`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tessera.trust.claims import MAX_LEEWAY
from tessera.trust.errors import TrustError
from tessera.wire.payload_kinds import REVOCATIONS
from tessera.wire.status import Status

__all__ = [
    "MAX_REVOKED",
    "REVOCATION_MAX_AGE",
    "RevocationList",
    "grant_of",
    "parse_revocation_claims",
    "revocation_claims",
]

#: Most entries one list may carry: a bound on what a service keeps (about 40 bytes each).
MAX_REVOKED = 8192
#: Lists are signed when sent: an older one is stale.
REVOCATION_MAX_AGE = timedelta(seconds=120)
_GRANT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def grant_of(token_id: str) -> str:
    """The grant part of a `jti` (all of it when it has no dot)."""
    return token_id.partition(".")[0]


@dataclass(frozen=True)
class RevocationList:
    """A verified list: revoked grants and until when each matters."""

    serial: int = 0
    revoked: Mapping[str, float] = field(default_factory=dict)

    def covers(self, token_id: str | None) -> bool:
        """True if a token with this `jti` is revoked."""
        return token_id is not None and grant_of(token_id) in self.revoked

    def pruned(self, now: float) -> RevocationList:
        """Without the entries whose tokens can no longer pass, even with the largest leeway."""
        slack = MAX_LEEWAY.total_seconds()
        live = {grant: until for grant, until in self.revoked.items() if until + slack > now}
        return RevocationList(self.serial, live)


def revocation_claims(serial: int, revoked: Mapping[str, float]) -> dict[str, Any]:
    """The payload to sign for a list."""
    return {"kind": REVOCATIONS, "serial": serial, "revoked": dict(revoked)}


def _bad(message: str) -> TrustError:
    return TrustError(Status.TRUST_BAD_SIGNATURE, message)


def parse_revocation_claims(claims: Mapping[str, Any]) -> RevocationList:
    """A list from verified payload claims; TRUST_BAD_SIGNATURE if it is not a sound one."""
    if claims.get("kind") != REVOCATIONS:
        raise _bad("the payload is not a revocation list")
    serial = claims.get("serial")
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
        raise _bad("the revocation list has no serial")
    revoked = claims.get("revoked")
    if not isinstance(revoked, dict) or len(revoked) > MAX_REVOKED:
        raise _bad("the revocation list has no entries table, or too many entries")
    entries: dict[str, float] = {}
    for grant, until in revoked.items():
        if not _GRANT.match(grant):
            raise _bad("the revocation list names a malformed grant")
        if isinstance(until, bool) or not isinstance(until, int | float):
            raise _bad("a revocation has no end time")
        if not math.isfinite(until):
            raise _bad("a revocation has no finite end time")
        entries[grant] = float(until)
    return RevocationList(serial, entries)
