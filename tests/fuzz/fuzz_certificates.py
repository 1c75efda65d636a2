"""Fuzz target `certificates`: the certificate checks behind ShareTrustBundle
(trust/_certcheck.py), on a fixed clock.

Input: a mode byte (0: a root, 1: an intermediate of the fuzz chain's root), then DER.

Properties: the checks raise nothing but TrustError(TRUST_BAD_CERTIFICATE); an accepted root is
self-signed, an accepted intermediate is signed by the root (both checked here with
`cryptography` directly), and either is a CA on a P-256 key, valid at the clock's time.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.trust._certcheck import check_intermediate, check_root
from tessera.trust.errors import TrustError
from tessera.wire.status import Status
from tests.fuzz import _trust

TOKENS = (
    b"\x30\x82",  # SEQUENCE, two length bytes
    b"\x06\x03\x55\x1d\x13",  # OID basicConstraints
    b"\x06\x03\x55\x1d\x0f",  # OID keyUsage
    b"\x01\x01\xff",  # BOOLEAN true (critical)
    b"\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02",  # OID ecdsa-with-SHA256
    b"\x17\x0d",  # UTCTime
    b"\x18\x0f",  # GeneralizedTime
    b"\x0c",  # UTF8String
)


def one_input(data: bytes) -> None:
    if not data:
        return
    root = _trust.shared().root.certificate
    try:
        if data[0] & 1:
            accepted = check_intermediate(data[1:], root, _trust.NOW)
            issuer = root
        else:
            accepted = check_root(data[1:], _trust.NOW)
            issuer = accepted
    except TrustError as error:
        assert error.status is Status.TRUST_BAD_CERTIFICATE, error.status
        return
    accepted.verify_directly_issued_by(issuer)  # raises if it was not
    assert isinstance(accepted.public_key(), ec.EllipticCurvePublicKey)
    basic = accepted.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    assert accepted.not_valid_before_utc <= _trust.NOW <= accepted.not_valid_after_utc
