"""The security service's side of trust: root once, intermediates, and forged tokens refused.

Here the test itself is the trusted side (as the identity provider would be), so it can mint
every kind of bad token with real keys.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tessera.trust.authority import RootAuthority
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import share_trust_bundle_pb2
from tessera.wire.status import Status
from tests.support import RunningService, call, request_bytes, start_service, stop_service

SUBJECT = "spiffe://tessera.local/app"


def share(path: Path, der: bytes, *, root: bool = False) -> Status:
    body = share_trust_bundle_pb2.Operation(certificate=der, root=root)
    return Status(call(path, Opcode.SHARE_TRUST_BUNDLE, body).header.status)


def use(service: RunningService, token: str) -> Status:
    request = request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.JWT, auth=token.encode())
    return Status(service.call(request).header.status)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


@pytest.fixture(scope="module")
def trusted() -> Iterator[tuple[RunningService, RootAuthority, Any]]:
    base = Path(tempfile.mkdtemp(prefix="ts-tok-", dir="/tmp"))
    service = start_service(base, "--auth", "jwt")
    try:
        root = RootAuthority.generate("test identity provider")
        intermediate = root.issue_intermediate(timedelta(minutes=10))
        assert share(service.socket_path, root.der, root=True) is Status.SUCCESS
        assert share(service.socket_path, intermediate.der) is Status.SUCCESS
        yield service, root, intermediate
    finally:
        stop_service(service)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": SUBJECT, "aud": "tessera", "exp": now + 120, "iat": now, "jti": "t"} | changes


def test_a_genuine_token_authenticates(trusted: Any) -> None:
    service, _, intermediate = trusted
    token = intermediate.issue_token(
        subject=SUBJECT, audience="tessera", lifetime=timedelta(minutes=1)
    )
    assert use(service, token) is Status.SUCCESS
    assert use(service, token) is Status.SUCCESS  # and again, from the cache


@pytest.mark.parametrize(
    "case",
    [
        "bad signature",
        "alg none",
        "hs256 with the public key",
        "expired",
        "not yet valid",
        "wrong audience",
        "no audience",
        "no expiry",
        "not a spiffe id",
        "extra x5c header",
        "unknown root",
        "garbage",
    ],
)
def test_forged_or_wrong_tokens_are_refused(trusted: Any, case: str) -> None:
    service, _, intermediate = trusted
    headers = {"alg": "ES256", "kid": intermediate.kid, "typ": "JWT"}

    def signed(body: dict[str, Any], signer: Any = intermediate) -> str:
        token: str = signer.issue_token(
            subject=body["sub"], audience=body["aud"], lifetime=timedelta(minutes=1)
        )
        return token

    genuine = signed(claims())
    if case == "bad signature":
        head, payload, signature = genuine.split(".")
        token = f"{head}.{payload}.{signature[::-1]}"
    elif case == "alg none":
        token = unsigned({"alg": "none", "kid": intermediate.kid, "typ": "JWT"}, claims()) + "."
    elif case == "hs256 with the public key":
        public = intermediate.certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        token = hmac_token(
            {"alg": "HS256", "kid": intermediate.kid, "typ": "JWT"}, claims(), public
        )
    elif case == "expired":
        token = forge(intermediate, headers, claims(exp=int(time.time()) - 3600))
    elif case == "not yet valid":
        token = forge(intermediate, headers, claims(nbf=int(time.time()) + 3600))
    elif case == "wrong audience":
        token = forge(intermediate, headers, claims(aud="somebody-else"))
    elif case == "no audience":
        token = forge(intermediate, headers, without(claims(), "aud"))
    elif case == "no expiry":
        token = forge(intermediate, headers, without(claims(), "exp"))
    elif case == "not a spiffe id":
        token = forge(intermediate, headers, claims(sub="app"))
    elif case == "extra x5c header":
        token = forge(intermediate, headers | {"x5c": ["AAAA"]}, claims())
    elif case == "unknown root":
        stranger = RootAuthority.generate("stranger").issue_intermediate(timedelta(minutes=5))
        token = signed(claims(), stranger)
    else:
        token = "\x00not a token"
    assert use(service, token) is Status.AUTHENTICATION_ERROR


def test_a_token_expired_seconds_ago_is_refused(trusted: Any) -> None:
    """The default leeway is seconds (5), not half a minute: every second of it lets a token
    that has run out pass."""
    service, _, intermediate = trusted
    headers = {"alg": "ES256", "kid": intermediate.kid, "typ": "JWT"}
    token = forge(intermediate, headers, claims(exp=int(time.time()) - 10))
    assert use(service, token) is Status.AUTHENTICATION_ERROR


def without(body: dict[str, Any], claim: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != claim}


def hmac_token(header: dict[str, Any], body: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    signing_input = unsigned(header, body)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def forge(intermediate: Any, header: dict[str, Any], body: dict[str, Any]) -> str:
    """Sign arbitrary header and claims with the intermediate's real key (the key is in memory
    of this process only; reached through the object for the test's sake)."""
    key = intermediate._key
    return jwt.encode(body, key, algorithm="ES256", headers=header)


def test_superseded_intermediate_tokens_are_refused(trusted: Any) -> None:
    service, root, intermediate = trusted
    old = intermediate.issue_token(
        subject=SUBJECT, audience="tessera", lifetime=timedelta(minutes=1)
    )
    assert use(service, old) is Status.SUCCESS
    fresh = root.issue_intermediate(timedelta(minutes=10))
    assert share(service.socket_path, fresh.der) is Status.SUCCESS
    assert use(service, old) is Status.AUTHENTICATION_ERROR  # cached, yet refused at once
    new = fresh.issue_token(subject=SUBJECT, audience="tessera", lifetime=timedelta(minutes=1))
    assert use(service, new) is Status.SUCCESS


SHARE_ROOT = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from tessera.trust.authority import RootAuthority
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import share_trust_bundle_pb2
from tests.support import call
root = RootAuthority.generate("another process")
r = call(Path(sys.argv[1]), Opcode.SHARE_TRUST_BUNDLE,
         share_trust_bundle_pb2.Operation(certificate=root.der, root=True))
print(r.header.status, flush=True)
if len(sys.argv) > 3:
    sys.stdin.readline()  # stay alive as the root holder until told to go
"""


def share_from_another_process(path: Path, *, stay: bool = False) -> subprocess.Popen[str]:
    repo = str(Path(__file__).resolve().parents[2])
    args = [sys.executable, "-c", SHARE_ROOT, str(path), repo] + (["stay"] if stay else [])
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_root_once_per_incarnation(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = Path(tempfile.mkdtemp(prefix="ts-root-", dir="/tmp"))
    service = start_service(base, "--auth", "jwt")
    try:
        holder = share_from_another_process(service.socket_path, stay=True)
        assert holder.stdout is not None
        assert int(holder.stdout.readline()) == Status.SUCCESS
        # The live holder's peers may not replace its root ...
        contender = share_from_another_process(service.socket_path)
        out, _ = contender.communicate(timeout=30)
        assert int(out) == Status.TRUST_ROOT_HOLDER_ALIVE
        # ... and once it has exited, a new process's root is accepted (a restart heals).
        holder.communicate("go\n", timeout=30)
        successor = share_from_another_process(service.socket_path)
        out, _ = successor.communicate(timeout=30)
        assert int(out) == Status.SUCCESS
        again = RootAuthority.generate("this test process")
        assert share(service.socket_path, again.der, root=True) is Status.SUCCESS
        assert share(service.socket_path, again.der, root=True) is Status.TRUST_ROOT_ALREADY_SHARED
    finally:
        stop_service(service)
