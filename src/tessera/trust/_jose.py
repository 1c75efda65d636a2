"""JWS compact serialization: strict parsing of the protected header, and signature checks.

Every token and signed payload Tessera accepts goes through `read_header` before any signature
work: three base64url segments without padding, a header that is a JSON object with no duplicate
members and nothing but `alg`, `kid` and `typ`, an `alg` from the caller's fixed list (never
`none`, never HMAC), a non-empty `kid`. Only then does PyJWT's JWS layer check the signature, with
the algorithm the caller's key dictates, so a token cannot pick its own algorithm or key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from tessera.trust.errors import TrustError
from tessera.wire.status import Status

__all__ = [
    "ALLOWED_HEADERS",
    "FORBIDDEN_ALGORITHMS",
    "JoseHeader",
    "b64url_decode",
    "b64url_encode",
    "load_json_object",
    "read_header",
    "sign_compact",
    "verify_signature",
]

#: Header members a Tessera or JWT-SVID header may carry; anything else (x5c, jku, jwk, crit,
#: b64, x5u, ...) is refused.
ALLOWED_HEADERS = frozenset({"alg", "kid", "typ"})
#: Algorithms no caller may allow, whatever list it passes.
FORBIDDEN_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})
#: Asymmetric algorithms PyJWT is allowed to run at all (JWT-SVID's list, RFC 7518 §3.3-3.5).
_SIGNATURE_ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
)
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_MAX_KID_LENGTH = 256
# A registry without none/HS*: even a caller's mistake cannot reach them. Short RSA keys raise.
_JWS = jwt.PyJWS(
    algorithms=list(_SIGNATURE_ALGORITHMS),
    options={"verify_signature": True, "enforce_minimum_key_length": True},
)


def _bad(message: str) -> TrustError:
    return TrustError(Status.TRUST_BAD_SIGNATURE, message)


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly; raise ValueError on anything but the canonical form.

    Padding, foreign characters and non-zero trailing bits are refused, so one byte string has
    exactly one accepted encoding (no malleable tokens).
    """
    if _SEGMENT.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError("duplicate member")
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json_object(data: bytes | str) -> dict[str, Any]:
    """Parse a JSON object strictly: no duplicate members, no NaN or Infinity.

    Raises ValueError. Two parsers reading duplicate members differently is a classic way to
    make a verifier and a consumer disagree about a signed document, so duplicates are refused.
    """
    try:
        value = json.loads(
            data, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, RecursionError, json.JSONDecodeError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


@dataclass(frozen=True)
class JoseHeader:
    """A protected header that passed `read_header`."""

    alg: str
    kid: str
    typ: str | None


def read_header(
    token: str,
    *,
    algorithms: Collection[str],
    types: Collection[str | None],
    max_length: int,
) -> JoseHeader:
    """Check a compact JWS's shape and protected header; raise TrustError(TRUST_BAD_SIGNATURE).

    `algorithms` are the `alg` values the caller's key allows; `types` the accepted `typ` values
    (`None` in it allows an absent `typ`).
    """
    if not isinstance(token, str) or len(token) > max_length:
        raise _bad("the token is not a string of acceptable length")
    segments = token.split(".")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise _bad("the token is not a JWS in compact serialization")
    try:
        header = load_json_object(b64url_decode(segments[0]))
    except ValueError:
        raise _bad("the token's header is not a base64url JSON object") from None
    try:
        b64url_decode(segments[1])
        b64url_decode(segments[2])
    except ValueError:
        raise _bad("the token's payload or signature is not canonical base64url") from None
    extra = set(header) - ALLOWED_HEADERS
    if extra:
        raise _bad(f"the token's header carries refused members: {', '.join(sorted(extra))}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg in FORBIDDEN_ALGORITHMS or alg not in algorithms:
        raise _bad("the token's algorithm is not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
        raise _bad("the token's header has no usable 'kid'")
    typ = header.get("typ")
    if (typ is not None and not isinstance(typ, str)) or typ not in types:
        raise _bad("the token's 'typ' is not accepted here")
    return JoseHeader(alg=alg, kid=kid, typ=typ)


def verify_signature(token: str, header: JoseHeader, key: Any) -> dict[str, Any]:
    """Verify the signature with `key` under `header.alg` (already checked); return the payload.

    The payload must be a strict JSON object. Raise TrustError(TRUST_BAD_SIGNATURE).
    """
    if header.alg in FORBIDDEN_ALGORITHMS:  # read_header refuses them; never rely on one check
        raise _bad("the token's algorithm is not allowed")
    try:
        decoded = _JWS.decode_complete(token, key=key, algorithms=[header.alg])
    except (jwt.PyJWTError, ValueError, TypeError):
        raise _bad("the token's signature does not verify") from None
    try:
        return load_json_object(decoded["payload"])
    except ValueError:
        raise _bad("the token's payload is not a JSON object") from None


def sign_compact(payload: Mapping[str, Any], key: Any, *, alg: str, kid: str, typ: str) -> str:
    """Sign `payload` as a compact JWS whose header is exactly {alg, kid, typ}.

    The payload is serialized compactly; NaN and Infinity are refused (ValueError).
    """
    body = json.dumps(dict(payload), separators=(",", ":"), allow_nan=False).encode()
    return _JWS.encode(body, key, algorithm=alg, headers={"kid": kid, "typ": typ})
