"""SPIFFE IDs: `spiffe://<trust domain>/<path>`, checked against the SPIFFE ID specification.

The trust domain is lowercase letters, digits, `.`, `-` and `_` (at most 255 bytes); the path is
segments of letters, digits, `.`, `-` and `_`, none empty, none `.` or `..`, no trailing slash;
no userinfo, port, query, fragment or percent-encoding; the whole ID at most 2048 bytes. The path
is returned with its leading slash (`"/ns/app"`), or `""` for a trust domain's own ID.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SPIFFE_ID_LENGTH", "parse_spiffe_id", "spiffe_id", "workload_id"]

MAX_SPIFFE_ID_LENGTH = 2048
_MAX_TRUST_DOMAIN_LENGTH = 255
_PREFIX = "spiffe://"
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def _check_trust_domain(trust_domain: str) -> None:
    if not trust_domain:
        raise ValueError("SPIFFE ID has an empty trust domain")
    if len(trust_domain) > _MAX_TRUST_DOMAIN_LENGTH:
        raise ValueError("SPIFFE trust domain is longer than 255 bytes")
    if _TRUST_DOMAIN.fullmatch(trust_domain) is None:
        raise ValueError(
            "SPIFFE trust domain may only hold lowercase letters, digits, '.', '-' and '_'"
        )


def _check_path(path: str) -> None:
    if not path:
        return
    if not path.startswith("/"):
        raise ValueError("SPIFFE ID path must start with '/'")
    for segment in path[1:].split("/"):
        if not segment:
            raise ValueError("SPIFFE ID path has an empty segment or a trailing '/'")
        if segment in (".", ".."):
            raise ValueError("SPIFFE ID path has a '.' or '..' segment")
        if _SEGMENT.fullmatch(segment) is None:
            raise ValueError(
                "SPIFFE ID path segments may only hold letters, digits, '.', '-' and '_'"
            )


def parse_spiffe_id(value: str) -> tuple[str, str]:
    """Split a SPIFFE ID into (trust domain, path); raise ValueError if it is not one.

    >>> parse_spiffe_id("spiffe://example.org/ns/app")
    ('example.org', '/ns/app')
    """
    if not isinstance(value, str):
        raise ValueError("SPIFFE ID must be a string")
    if not value.isascii() or len(value) > MAX_SPIFFE_ID_LENGTH:
        raise ValueError("SPIFFE ID must be ASCII and at most 2048 bytes")
    if not value.startswith(_PREFIX):
        raise ValueError("SPIFFE ID must start with 'spiffe://'")
    rest = value[len(_PREFIX) :]
    slash = rest.find("/")
    trust_domain, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    # '@', ':', '?', '#' and '%' fall outside both character sets, so userinfo, ports, queries,
    # fragments and percent-encoding are refused by the two checks below.
    _check_trust_domain(trust_domain)
    _check_path(path)
    return trust_domain, path


def spiffe_id(trust_domain: str, path: str) -> str:
    """Build a SPIFFE ID; `path` may be given with or without its leading slash ("" for none)."""
    if path and not path.startswith("/"):
        path = "/" + path
    value = f"{_PREFIX}{trust_domain}{path}"
    parse_spiffe_id(value)
    return value


def workload_id(value: str) -> tuple[str, str]:
    """Parse a SPIFFE ID naming a workload: like `parse_spiffe_id`, and the path is not empty."""
    trust_domain, path = parse_spiffe_id(value)
    if not path:
        raise ValueError("SPIFFE ID names a trust domain, not a workload")
    return trust_domain, path
