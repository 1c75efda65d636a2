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
