"""Trust machinery shared by the identity provider, the orchestrator and the security service.

DESIGN.md §3. The trusted side (`authority`) holds a root and rotating intermediates in memory and
signs payloads and tokens; the trusting side (`store`) accepts a root once per incarnation of its
sharer (`peer`), follows the newest intermediate, and verifies what it signed. `bundle` verifies
JWT-SVIDs from SPIRE trust domains; `spiffe` checks SPIFFE IDs. Failures raise `TrustError`
carrying a `TRUST_*` status (see `errors`).
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
    ancestry,
    incarnation_of,
    is_alive,
    parent_pid,
    peer_from_credentials,
)
from tessera.trust.spiffe import parse_spiffe_id, spiffe_id, workload_id
from tessera.trust.store import TrustPolicy, TrustStore

__all__ = [
    "MAX_LEEWAY",
    "PAYLOAD_TYP",
    "TOKEN_TYP",
    "BundleKey",
    "Incarnation",
    "Intermediate",
    "JwtBundle",
    "Peer",
    "RootAuthority",
    "TokenClaims",
    "TrustError",
    "TrustPolicy",
    "TrustStore",
    "ancestry",
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
