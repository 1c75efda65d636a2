"""Trust machinery shared by the identity provider, the orchestrator and the security service.

DESIGN.md §3. Both roles of a trust relationship live here. The trusted side: `authority` holds a
root and rotating intermediates in memory and signs payloads and tokens; `trusted_side` shares
them with the trusting daemon and keeps it in sync (rotations, re-sharing to a peer that
restarted), over a link the daemon passes in. The trusting side: `store` accepts a root once per
incarnation of its sharer (`peer`), follows the newest intermediate, and verifies what it
signed; `trusting_side` serves ShareTrustBundle, TrustStatus and RevokeTokens over it.
`bundle` verifies JWT-SVIDs from SPIRE trust domains; `spiffe` checks SPIFFE IDs. Failures raise
`TrustError` carrying a `TRUST_*` status (see `errors`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tessera.trust._clock import utc_now
    from tessera.trust.authority import (
        PAYLOAD_TYP,
        TOKEN_TYP,
        Intermediate,
        RootAuthority,
        thumbprint,
    )
    from tessera.trust.bundle import BundleKey, JwtBundle, load_jwt_bundle, parse_jwt_bundle
    from tessera.trust.claims import MAX_LEEWAY, TokenClaims
    from tessera.trust.errors import TrustError
    from tessera.trust.peer import (
        Incarnation,
        Peer,
        PeerCredentials,
        ancestry,
        incarnation_of,
        is_alive,
        parent_pid,
        peer_from_credentials,
    )
    from tessera.trust.spiffe import parse_spiffe_id, spiffe_id, workload_id
    from tessera.trust.store import TrustPolicy, TrustStore
    from tessera.trust.trusted_side import PeerLink, TrustedSide
    from tessera.trust.trusting_side import TRUST_OPCODES, handle_trust

# Each name is loaded from its module on first use: the service reads its configuration
# without loading certificates and JOSE, and each daemon loads only the roles it plays.
_HOMES = {
    "BundleKey": "tessera.trust.bundle",
    "Incarnation": "tessera.trust.peer",
    "Intermediate": "tessera.trust.authority",
    "JwtBundle": "tessera.trust.bundle",
    "MAX_LEEWAY": "tessera.trust.claims",
    "PAYLOAD_TYP": "tessera.trust.authority",
    "Peer": "tessera.trust.peer",
    "PeerCredentials": "tessera.trust.peer",
    "PeerLink": "tessera.trust.trusted_side",
    "RootAuthority": "tessera.trust.authority",
    "TOKEN_TYP": "tessera.trust.authority",
    "TRUST_OPCODES": "tessera.trust.trusting_side",
    "TokenClaims": "tessera.trust.claims",
    "TrustError": "tessera.trust.errors",
    "TrustPolicy": "tessera.trust.store",
    "TrustStore": "tessera.trust.store",
    "TrustedSide": "tessera.trust.trusted_side",
    "ancestry": "tessera.trust.peer",
    "handle_trust": "tessera.trust.trusting_side",
    "incarnation_of": "tessera.trust.peer",
    "is_alive": "tessera.trust.peer",
    "load_jwt_bundle": "tessera.trust.bundle",
    "parent_pid": "tessera.trust.peer",
    "parse_jwt_bundle": "tessera.trust.bundle",
    "parse_spiffe_id": "tessera.trust.spiffe",
    "peer_from_credentials": "tessera.trust.peer",
    "spiffe_id": "tessera.trust.spiffe",
    "thumbprint": "tessera.trust.authority",
    "utc_now": "tessera.trust._clock",
    "workload_id": "tessera.trust.spiffe",
}

__all__ = [
    "MAX_LEEWAY",
    "PAYLOAD_TYP",
    "TOKEN_TYP",
    "TRUST_OPCODES",
    "BundleKey",
    "Incarnation",
    "Intermediate",
    "JwtBundle",
    "Peer",
    "PeerCredentials",
    "PeerLink",
    "RootAuthority",
    "TokenClaims",
    "TrustError",
    "TrustPolicy",
    "TrustStore",
    "TrustedSide",
    "ancestry",
    "handle_trust",
    "incarnation_of",
    "is_alive",
    "load_jwt_bundle",
    "parent_pid",
    "parse_jwt_bundle",
    "parse_spiffe_id",
    "peer_from_credentials",
    "spiffe_id",
    "thumbprint",
    "utc_now",
    "workload_id",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
