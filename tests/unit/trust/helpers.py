"""Builders for the trust tests: a settable clock, processes, certificates and hand-made JWS."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf.message import Message

from tessera.trust._jose import b64url_encode
from tessera.trust.peer import (
    Incarnation,
    Peer,
    PeerCredentials,
    incarnation_of,
    peer_from_credentials,
)
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.trust.trusting_side import handle_trust
from tessera.wire.opcodes import Opcode

START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def self_peer() -> Peer:
    """This test process as a peer."""
    return peer_from_credentials(os.getpid(), os.getuid(), os.getgid())


def peer_for(incarnation: Incarnation, *, uid: int | None = None, exe: str | None = None) -> Peer:
    """A peer with the given incarnation (uid defaults to ours)."""
    return Peer(
        pid=incarnation.pid,
        uid=os.getuid() if uid is None else uid,
        gid=os.getgid(),
        incarnation=incarnation,
        exe=exe,
    )


@contextmanager
def child_process(argv0: str | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A running `sleep`, optionally started through a symlink named `argv0` (its comm)."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    program = sleep
    link_dir = None
    if argv0 is not None:
        import tempfile

        link_dir = tempfile.mkdtemp(prefix="ts-comm-")
        program = os.path.join(link_dir, argv0)
        os.symlink(sleep, program)
    child = subprocess.Popen([program, "30"])
    try:
        wait_for(lambda: incarnation_of(child.pid) is not None)
        yield child
    finally:
        child.kill()
        child.wait()
        if link_dir is not None:
            shutil.rmtree(link_dir, ignore_errors=True)


def dead_incarnation() -> Incarnation:
    """The incarnation of a child that has exited and been reaped."""
    with child_process() as child:
        incarnation = incarnation_of(child.pid)
        assert incarnation is not None
    return incarnation


def wait_for(condition: Any, timeout: float = 2.0) -> None:
    """Poll `condition()` until true (fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.002)


def key_usage(
    *, digital_signature: bool = False, cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def build_cert(
    *,
    subject: str,
    issuer: x509.Name | None = None,
    public_key: Any,
    signing_key: Any,
    not_before: datetime = START - timedelta(minutes=1),
    not_after: datetime = START + timedelta(days=1),
    ca: bool | None = True,
    path_length: int | None = 0,
    usage: x509.KeyUsage | None = None,
    critical: bool = True,
    extra: x509.ExtensionType | None = None,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | None = None,
) -> x509.Certificate:
    """A certificate with every knob the profile checks can trip over."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer if issuer is not None else name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
            critical=critical,
        )
    if usage is not None:
        builder = builder.add_extension(usage, critical=critical)
    if extra is not None:
        builder = builder.add_extension(extra, critical=True)
    return builder.sign(signing_key, hash_algorithm or hashes.SHA256())


def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def compact(header: Mapping[str, Any], payload: Mapping[str, Any] | bytes) -> str:
    """header.payload, without a signature."""
    body = payload if isinstance(payload, bytes) else json.dumps(dict(payload)).encode()
    return f"{b64url_encode(json.dumps(dict(header)).encode())}.{b64url_encode(body)}"


def es256_sign(key: ec.EllipticCurvePrivateKey, signing_input: str) -> str:
    """A raw r||s ES256 signature over `signing_input`, base64url."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def forge(
    key: ec.EllipticCurvePrivateKey,
    header: Mapping[str, Any],
    payload: Mapping[str, Any] | bytes,
) -> str:
    """A JWS with any header, validly ES256-signed by `key`."""
    signing_input = compact(header, payload)
    return f"{signing_input}.{es256_sign(key, signing_input)}"


def hs256(secret: bytes, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """An HS256 JWS keyed with `secret` (for the public-key-as-HMAC-secret confusion attack)."""
    signing_input = compact(header, payload)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def decode_segment(token: str, index: int) -> dict[str, Any]:
    """One segment of a compact JWS as JSON."""
    import base64

    segment = token.split(".")[index]
    value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(value, dict)
    return value


class TrustingPeer:
    """A trusting daemon as a trusted side's link (trust.trusted_side.PeerLink): a real store
    served by the real trust operations, without the socket. `restart()` forgets everything, as
    a new process does; while `down` is positive, that many calls fail as an unreachable socket
    does."""

    name = "peer"

    def __init__(self) -> None:
        self.store = TrustStore(TrustPolicy(uid=os.getuid()))
        self.down = 0

    def restart(self) -> None:
        self.store = TrustStore(TrustPolicy(uid=os.getuid()))

    async def call(self, opcode: Opcode, body: Message) -> Message:
        await asyncio.sleep(0)
        if self.down:
            self.down -= 1
            raise ConnectionRefusedError(f"the {self.name} is restarting")
        me = PeerCredentials(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())
        return handle_trust(self.store, opcode, body, me)
