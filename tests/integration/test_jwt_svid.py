"""Auth type 4: JWT-SVIDs (as SPIRE issues them) checked against a JWT bundle file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import list_keys_pb2
from tessera.wire.status import Status
from tests.support import RunningService, request_bytes, running_service
from tests.unit.trust.test_bundle import jwk_of

DOMAIN = "example.org"


def write_bundle(path: Path, keys: dict[str, Any]) -> None:
    document = {"keys": [jwk_of(key.public_key(), kid) for kid, key in keys.items()]}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document))
    os.replace(temporary, path)  # as a bundle updater would: atomically


def svid(key: Any, kid: str, *, sub: str = f"spiffe://{DOMAIN}/web", aud: str = "parsec") -> str:
    claims = {"sub": sub, "aud": aud, "exp": int(time.time()) + 300, "iat": int(time.time())}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})


def status(service: RunningService, token: bytes) -> Status:
    request = request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.JWT_SVID, auth=token)
    return Status(service.call(request).header.status)


def test_jwt_svids_from_a_bundle(short_tmp: Path) -> None:
    first = ec.generate_private_key(ec.SECP256R1())
    bundle = short_tmp / "bundle.json"
    write_bundle(bundle, {"k1": first})
    config = short_tmp / "config.toml"
    config.write_text(
        "[authenticator]\n"
        'auth_types = ["jwt-svid"]\n'
        f'jwt_svid_bundle = "{bundle}"\n'
        f'jwt_svid_trust_domain = "{DOMAIN}"\n'
    )
    with running_service(short_tmp, config=config) as service:
        good = svid(first, "k1").encode()
        assert status(service, good) is Status.SUCCESS
        response = service.call(
            request_bytes(Opcode.LIST_KEYS, auth_type=AuthType.JWT_SVID, auth=good)
        )
        assert list_keys_pb2.Result.FromString(response.body).keys == []
        assert status(service, svid(first, "k1", aud="other").encode()) is (
            Status.AUTHENTICATION_ERROR
        )
        foreign = svid(first, "k1", sub="spiffe://elsewhere.org/web").encode()
        assert status(service, foreign) is Status.AUTHENTICATION_ERROR
        assert status(service, b"\xff\xfe") is Status.INVALID_ENCODING
        stranger = ec.generate_private_key(ec.SECP256R1())
        assert status(service, svid(stranger, "k1").encode()) is Status.AUTHENTICATION_ERROR

        # SPIRE rotates its keys: the file changes, the service follows without a restart.
        second = ec.generate_private_key(ec.SECP256R1())
        write_bundle(bundle, {"k2": second})
        assert status(service, svid(second, "k2").encode()) is Status.SUCCESS
        assert status(service, good) is Status.AUTHENTICATION_ERROR


def test_a_missing_bundle_is_a_one_line_start_up_error(short_tmp: Path) -> None:
    import subprocess
    import sys

    config = short_tmp / "config.toml"
    config.write_text(
        "[authenticator]\n"
        'auth_types = ["jwt-svid"]\n'
        f'jwt_svid_bundle = "{short_tmp / "absent.json"}"\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tessera.cli.main",
            "service",
            "--allow-root",
            "--config",
            str(config),
            "--state-dir",
            str(short_tmp),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 3
    assert "JWT-SVID bundle" in result.stderr and result.stderr.count("\n") == 1
