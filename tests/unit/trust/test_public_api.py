"""The public names of tessera.trust, and the exception they raise."""

from __future__ import annotations

import tessera.trust
from tessera.trust import TrustError
from tessera.wire.status import Status, StatusError


def test_public_names() -> None:
    assert sorted(tessera.trust.__all__) == sorted(
        [
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
    )
    for name in tessera.trust.__all__:
        assert hasattr(tessera.trust, name), name


def test_trust_error_carries_a_status() -> None:
    error = TrustError(Status.TRUST_NO_ROOT)
    assert isinstance(error, StatusError)
    assert error.status is Status.TRUST_NO_ROOT
    assert str(error) == Status.TRUST_NO_ROOT.description


def test_token_claims_is_importable_from_the_store() -> None:
    from tessera.trust.claims import TokenClaims
    from tessera.trust.store import TokenClaims as FromStore

    assert FromStore is TokenClaims
