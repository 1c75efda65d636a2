"""Two service processes on one state directory share one trust state (trust/shared.py).

Each `tessera service` here has its own socket and the same `--state-dir`, as the workers of
one run have: what ShareTrustBundle or RevokeTokens installs through one is in force through
the other from the moment the first answers. The test plays the identity provider.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.revocation import revocation_claims
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import list_keys_pb2, revoke_tokens_pb2
from tessera.wire.status import Status
from tests.integration.identity_support import share, trust_status
from tests.support import RunningService, call, request_bytes, services_on_one_state_dir

REPO = Path(__file__).resolve().parents[2]
AUDIENCE = "tessera"
SUBJECT = "spiffe://tessera.local/shared-trust"


@pytest.fixture
def pair(short_tmp: Path) -> Iterator[tuple[RunningService, RunningService]]:
    """Two service processes on one state directory; both up before anything is shared."""
    sockets = (short_tmp / "a.sock", short_tmp / "b.sock")
    with services_on_one_state_dir(short_tmp / "state", sockets, "--auth", "jwt") as pair:
        yield pair


def _status(service: RunningService, token: str) -> Status:
    """What the service answers a ListKeys authenticated by `token`."""
    data = request_bytes(
        Opcode.LIST_KEYS,
        list_keys_pb2.Operation(),
        auth_type=AuthType.JWT,
        auth=token.encode(),
    )
    return Status(service.call(data).header.status)


def _token(intermediate: Intermediate, grant: str = "g") -> str:
    return intermediate.issue_token(
        subject=SUBJECT, audience=AUDIENCE, lifetime=timedelta(minutes=5), token_id=f"{grant}.1"
    )


def _shared(service: RunningService, der: bytes, *, root: bool = False) -> Status:
    response = call(service.socket_path, Opcode.SHARE_TRUST_BUNDLE, share(der, root=root))
    return Status(response.header.status)


def test_what_one_process_accepts_is_in_force_in_the_other(
    pair: tuple[RunningService, RunningService],
) -> None:
    a, b = pair
    authority = RootAuthority.generate("identity provider")
    intermediate = authority.issue_intermediate(timedelta(hours=1))
    token = _token(intermediate)
    assert _status(b, token) is Status.TRUST_NO_ROOT

    assert _shared(a, authority.der, root=True) is Status.SUCCESS
    assert trust_status(b.socket_path).has_root
    # The root holder is this process, whichever service it reaches: no second root.
    assert _shared(b, authority.der, root=True) is Status.TRUST_ROOT_ALREADY_SHARED
    assert _shared(a, intermediate.der) is Status.SUCCESS
    held = trust_status(b.socket_path)
    assert held.intermediate_kid == trust_status(a.socket_path).intermediate_kid != ""
    assert _status(b, token) is Status.SUCCESS
    assert _status(b, token) is Status.SUCCESS  # cached now

    # Rotation through the other process: the old intermediate's tokens fail in both at once.
    newer = authority.issue_intermediate(timedelta(hours=1))
    assert _shared(b, newer.der) is Status.SUCCESS
    assert _status(a, token) is Status.AUTHENTICATION_ERROR
    assert _status(b, token) is Status.AUTHENTICATION_ERROR
    gone, kept = _token(newer, "gone"), _token(newer, "kept")
    assert _status(a, gone) is Status.SUCCESS
    assert _status(b, gone) is Status.SUCCESS

    # A revocation through one refuses the token, cached in both, in both.
    until = newer.not_after.timestamp()
    listing = newer.sign_jws(revocation_claims(1, {"gone": until}))
    response = call(
        a.socket_path, Opcode.REVOKE_TOKENS, revoke_tokens_pb2.Operation(revocations=listing)
    )
    assert response.header.status == Status.SUCCESS
    assert _status(b, gone) is Status.AUTHENTICATION_ERROR
    assert _status(a, gone) is Status.AUTHENTICATION_ERROR
    assert _status(b, kept) is Status.SUCCESS

    live = a.state_dir / "live"
    assert (live.stat().st_mode & 0o777) == 0o700
    for path in live.iterdir():
        assert (path.stat().st_mode & 0o777) == 0o600, path


_SENDER = """
import os, socket, sys
from tessera.trust.authority import RootAuthority
from tessera.wire.framing import encode_request
from tessera.wire.header import Header
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import share_trust_bundle_pb2

root = RootAuthority.generate("racer")
body = share_trust_bundle_pb2.Operation(certificate=root.der, root=True).SerializeToString()
data = encode_request(Header(opcode=int(Opcode.SHARE_TRUST_BUNDLE)), body, b"")
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
sock.sendall(data)
header = b""
while len(header) < 36:
    header += sock.recv(36 - len(header))
print(int.from_bytes(header[32:34], "little"), flush=True)
sys.stdin.readline()  # stay alive (the root holder) until told
"""


def test_roots_racing_through_two_processes_one_is_accepted(
    pair: tuple[RunningService, RunningService],
) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    senders = [
        subprocess.Popen(
            [sys.executable, "-c", _SENDER, os.fspath(service.socket_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for service in pair
    ]
    try:
        for sender in senders:
            assert sender.stdout is not None and sender.stdout.readline().strip() == "ready"
        for sender in senders:
            assert sender.stdin is not None
            sender.stdin.write("go\n")
            sender.stdin.flush()
        statuses = []
        for sender in senders:
            assert sender.stdout is not None
            statuses.append(Status(int(sender.stdout.readline())))
        assert sorted(statuses) == sorted([Status.SUCCESS, Status.TRUST_ROOT_HOLDER_ALIVE])
        kids = {trust_status(s.socket_path).root_kid for s in pair}
        assert len(kids) == 1 and "" not in kids
        # The holder exits: another identity provider's root may replace it now, and the new
        # root is in force in both processes.
        holder = senders[statuses.index(Status.SUCCESS)]
        _end(holder)
        for sender in senders:
            _end(sender)
        successor = RootAuthority.generate("restarted identity provider")
        assert _shared(pair[senders.index(holder)], successor.der, root=True) is Status.SUCCESS
        replaced = {trust_status(s.socket_path).root_kid for s in pair}
        assert len(replaced) == 1 and replaced != kids
    finally:
        for sender in senders:
            _end(sender)


def _end(sender: subprocess.Popen[str]) -> None:
    """Let a sender go (closing its stdin ends it) and release its pipes."""
    for stream in (sender.stdin, sender.stdout):
        if stream is not None and not stream.closed:
            stream.close()
    try:
        sender.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sender.kill()
        sender.wait()
