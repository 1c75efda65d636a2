"""SPIFFE JWT bundles: the keys a SPIRE trust domain signs JWT-SVIDs with, and their verification.

A bundle is a JWKS document (SPIFFE Trust Domain and Bundle §4): `{"keys": [...]}`, optionally with
`spiffe_sequence` and `spiffe_refresh_hint`. Only elements whose `use` is `jwt-svid` are kept; the
specification says elements with another `use` (`x509-svid`, unknown values) are ignored. A kept
element must have a unique non-empty `kid` and be a public EC key on P-256, P-384 or P-521, or a
public RSA key of at least 2048 bits; anything else makes the bundle invalid (ValueError: a
configuration error, reported when the file is loaded rather than when a token arrives).

Verification (JWT-SVID §2-§4): the header may hold only `alg`, `kid` and `typ`; `typ`, when set,
is `JWT` or `JOSE`; `kid` is required and names a key of the bundle; `alg` must be one the key's
type allows (ES256/ES384/ES512 by curve, RS256-512 and PS256-512 for RSA; narrowed further by the
JWK's own `alg`), so `none`, HMAC and key-type confusion are impossible. Claims as in
`tessera.trust.claims`; with a configured trust domain, the subject must belong to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.trust._clock import utc_now
from tessera.trust._jose import b64url_decode, load_json_object, read_header, verify_signature
from tessera.trust.claims import (
    DEFAULT_LEEWAY,
    TokenClaims,
    check_audience_argument,
    check_leeway,
    check_svid_claims,
)
from tessera.trust.errors import TrustError
from tessera.trust.spiffe import parse_spiffe_id
from tessera.wire.status import Status

__all__ = ["BundleKey", "JwtBundle", "load_jwt_bundle", "parse_jwt_bundle"]

_MAX_BUNDLE_BYTES = 1024 * 1024
_MAX_TOKEN_LENGTH = 16 * 1024
_MIN_RSA_BITS = 2048
_JWT_SVID_USE = "jwt-svid"
_TOKEN_TYPES = frozenset({None, "JWT", "JOSE"})
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
#: The `alg` values JWT-SVID allows (§2.1); which of them a token may use depends on its key.
_SVID_ALGORITHMS = _RSA_ALGORITHMS | {"ES256", "ES384", "ES512"}
_EC_CURVES: dict[str, tuple[ec.EllipticCurve, int, str]] = {
    "P-256": (ec.SECP256R1(), 32, "ES256"),
    "P-384": (ec.SECP384R1(), 48, "ES384"),
    "P-521": (ec.SECP521R1(), 66, "ES512"),
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class BundleKey:
    """One JWT authority of a bundle: its key and the algorithms it may verify."""

    kid: str
    key: PublicKey = field(repr=False)
    algorithms: frozenset[str]


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ValueError(f"JWK member {name!r} is missing")
    try:
        return b64url_decode(value)
    except ValueError:
        raise ValueError(f"JWK member {name!r} is not base64url") from None


def _ec_key(jwk: Mapping[str, Any]) -> tuple[PublicKey, frozenset[str]]:
    curve_name = jwk.get("crv")
    if not isinstance(curve_name, str) or curve_name not in _EC_CURVES:
        raise ValueError("EC JWK is not on P-256, P-384 or P-521")
    curve, size, alg = _EC_CURVES[curve_name]
    x, y = _member(jwk, "x"), _member(jwk, "y")
    if len(x) != size or len(y) != size:
        raise ValueError("EC JWK coordinates have the wrong length")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
    )
    try:
        return numbers.public_key(), frozenset({alg})
    except ValueError:
        raise ValueError("EC JWK is not a point on its curve") from None


def _rsa_key(jwk: Mapping[str, Any]) -> tuple[PublicKey, frozenset[str]]:
    n = int.from_bytes(_member(jwk, "n"), "big")
    e = int.from_bytes(_member(jwk, "e"), "big")
    try:
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise ValueError("RSA JWK is not a valid public key") from None
    if key.key_size < _MIN_RSA_BITS:
        raise ValueError("RSA JWK is shorter than 2048 bits")
    return key, _RSA_ALGORITHMS


def _parse_key(jwk: Mapping[str, Any]) -> BundleKey:
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("a jwt-svid JWK has no 'kid'")
    if _PRIVATE_MEMBERS & set(jwk):
        raise ValueError(f"JWK {kid!r} holds private key material")
    kty = jwk.get("kty")
    if kty == "EC":
        key, algorithms = _ec_key(jwk)
    elif kty == "RSA":
        key, algorithms = _rsa_key(jwk)
    else:
        raise ValueError(f"JWK {kid!r} has an unsupported key type")
    alg = jwk.get("alg")
    if alg is not None:
        if not isinstance(alg, str) or alg not in algorithms:
            raise ValueError(f"JWK {kid!r} names an algorithm its key cannot use")
        algorithms = frozenset({alg})
    return BundleKey(kid=kid, key=key, algorithms=algorithms)


class JwtBundle:
    """The JWT authorities of one trust domain, by `kid`; verifies JWT-SVIDs. Immutable."""

    __slots__ = ("_clock", "_keys", "_sequence", "_trust_domain")

    def __init__(
        self,
        keys: Mapping[str, BundleKey],
        *,
        trust_domain: str | None = None,
        sequence: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if trust_domain is not None:
            parse_spiffe_id(f"spiffe://{trust_domain}")
        self._keys = dict(keys)
        self._trust_domain = trust_domain
        self._sequence = sequence
        self._clock = clock

    def __repr__(self) -> str:
        return f"JwtBundle(trust_domain={self._trust_domain!r}, kids={sorted(self._keys)!r})"

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    @property
    def trust_domain(self) -> str | None:
        """The trust domain every subject must belong to, or None to accept any."""
        return self._trust_domain

    @property
    def sequence(self) -> int | None:
        """The bundle's `spiffe_sequence`, when it has one."""
        return self._sequence

    def key(self, kid: str) -> BundleKey | None:
        """The authority named `kid`, if present."""
        return self._keys.get(kid)

    def verify(
        self, token: str, *, audience: str, leeway: timedelta = DEFAULT_LEEWAY
    ) -> TokenClaims:
        """Verify a JWT-SVID against this bundle; raise TrustError (statuses as `TrustStore`).

        An unknown `kid` raises `TRUST_UNKNOWN_SIGNER`.
        """
        check_leeway(leeway)
        check_audience_argument(audience)
        header = read_header(
            token, algorithms=_SVID_ALGORITHMS, types=_TOKEN_TYPES, max_length=_MAX_TOKEN_LENGTH
        )
        authority = self._keys.get(header.kid)
        if authority is None:
            raise TrustError(Status.TRUST_UNKNOWN_SIGNER, "the token's 'kid' is not in the bundle")
        if header.alg not in authority.algorithms:
            raise TrustError(
                Status.TRUST_BAD_SIGNATURE, "the token's algorithm does not fit its key"
            )
        claims = verify_signature(token, header, authority.key)
        return check_svid_claims(
            claims,
            audience=audience,
            leeway=leeway,
            now=self._clock(),
            kid=authority.kid,
            trust_domain=self._trust_domain,
        )


def parse_jwt_bundle(
    data: bytes | str,
    *,
    trust_domain: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> JwtBundle:
    """Parse a SPIFFE bundle (JWKS JSON) into its JWT authorities; raise ValueError if invalid."""
    if len(data) > _MAX_BUNDLE_BYTES:
        raise ValueError("the bundle is larger than 1 MiB")
    try:
        document = load_json_object(data)
    except ValueError as exc:
        raise ValueError(f"the bundle is not a JSON object: {exc}") from None
    elements = document.get("keys")
    if not isinstance(elements, list):
        raise ValueError("the bundle has no 'keys' list")
    sequence = document.get("spiffe_sequence")
    if sequence is not None and (isinstance(sequence, bool) or not isinstance(sequence, int)):
        raise ValueError("the bundle's 'spiffe_sequence' is not an integer")
    keys: dict[str, BundleKey] = {}
    for element in elements:
        if not isinstance(element, dict):
            raise ValueError("a bundle key is not a JSON object")
        if element.get("use") != _JWT_SVID_USE:
            continue
        parsed = _parse_key(element)
        if parsed.kid in keys:
            raise ValueError(f"the bundle has two keys with kid {parsed.kid!r}")
        keys[parsed.kid] = parsed
    return JwtBundle(keys, trust_domain=trust_domain, sequence=sequence, clock=clock)


def load_jwt_bundle(
    path: Path,
    *,
    trust_domain: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> JwtBundle:
    """Read and parse a SPIFFE bundle file (see `parse_jwt_bundle`)."""
    with open(path, "rb") as file:
        data = file.read(_MAX_BUNDLE_BYTES + 1)
    return parse_jwt_bundle(data, trust_domain=trust_domain, clock=clock)
