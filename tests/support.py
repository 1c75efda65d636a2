"""Test support: run the real daemon on a temporary socket and talk raw bytes to it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from google.protobuf.message import Message

from tessera.wire.framing import Frame, FrameReader, Limits, encode_request
from tessera.wire.header import FLAG_EXTENSIONS, FLAG_KEEP_ALIVE, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import psa_generate_key_pb2
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

STARTUP_TIMEOUT = 20.0


def request_bytes(
    opcode: Opcode | int,
    body: Message | bytes = b"",
    *,
    auth_type: AuthType | int = AuthType.NO_AUTH,
    auth: bytes = b"",
    provider: int = 0,
    session: int = 0,
    keep_alive: bool = False,
    extensions: bool = False,
) -> bytes:
    """A complete request frame (`extensions`: as a client that knows Tessera's additions)."""
    payload = body if isinstance(body, bytes) else body.SerializeToString()
    header = Header(
        provider=provider,
        session=session,
        auth_type=int(auth_type),
        opcode=int(opcode),
        flags=(FLAG_KEEP_ALIVE if keep_alive else 0) | (FLAG_EXTENSIONS if extensions else 0),
    )
    return encode_request(header, payload, auth)


class Auth(TypedDict):
    """Keyword arguments of `request_bytes` that authenticate a request."""

    auth_type: AuthType
    auth: bytes


def direct(name: str) -> Auth:
    """Keyword arguments for direct authentication as `name`."""
    return {"auth_type": AuthType.DIRECT, "auth": name.encode()}


def unix_peer(uid: int | None = None) -> Auth:
    """Keyword arguments for Unix peer-credential authentication (our uid by default)."""
    claimed = os.getuid() if uid is None else uid
    return {"auth_type": AuthType.UNIX_PEER_CREDENTIALS, "auth": claimed.to_bytes(4, "little")}


@dataclass
class Response:
    """A parsed response: header and body."""

    header: Header
    body: bytes


class _Responses:
    """Frames read from one socket but not yet returned (pipelined answers share reads)."""

    def __init__(self) -> None:
        self.reader = FrameReader(Limits(max_body_size=1 << 24), responses=True)
        self.ready: deque[Response] = deque()


_RESPONSES: weakref.WeakKeyDictionary[socket.socket, _Responses] = weakref.WeakKeyDictionary()


def read_response(sock: socket.socket, timeout: float = 10.0) -> Response:
    """Read exactly one response from a connected socket (keeping any that follow it)."""
    state = _RESPONSES.setdefault(sock, _Responses())
    sock.settimeout(timeout)
    while not state.ready:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the service closed the connection without a response")
        for event in state.reader.feed(chunk):
            assert isinstance(event, Frame), f"malformed response: {event}"
            state.ready.append(Response(event.header, event.body))
    return state.ready.popleft()


def exchange_raw(path: Path, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes on a fresh connection, half-close, and return every byte until EOF."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(os.fspath(path))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def generate_key_request(
    name: str, attributes: KeyAttributes, auth: Auth, provider: int = 1
) -> bytes:
    """A PsaGenerateKey request."""
    body = psa_generate_key_pb2.Operation(key_name=name, attributes=attributes)
    return request_bytes(Opcode.PSA_GENERATE_KEY, body, provider=provider, **auth)


@dataclass
class RunningService:
    """A daemon process started for a test."""

    socket_path: Path
    state_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] = field(default_factory=list)

    def call(self, data: bytes, timeout: float = 10.0) -> Response:
        """One request on its own connection (as Parsec's clients do)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(os.fspath(self.socket_path))
            sock.sendall(data)
            return read_response(sock, timeout)

    def generate_key(self, name: str, attributes: KeyAttributes, auth: Auth) -> None:
        """Create a key through the wire; fail the test if the service refuses."""
        response = self.call(generate_key_request(name, attributes, auth))
        assert response.header.status == 0, f"generating {name!r}: status {response.header.status}"

    def connect(self) -> socket.socket:
        """A connected socket for tests that drive the conversation themselves."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(os.fspath(self.socket_path))
        return sock

    def log(self) -> str:
        """What the daemon wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def workers(self) -> list[int]:
        """The pids of its live worker processes (none when one process serves)."""
        return [pid for pid in children_of(self.process.pid) if process_alive(pid)]

    def kill(self) -> None:
        """kill -9 the whole service at once, its workers too: a crash of the service (as the
        OOM killer or systemd's stop of its cgroup makes one), not of its master alone."""
        workers = self.workers()
        self.process.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        for pid in workers:
            while process_alive(pid):
                time.sleep(0.01)


def unmeasured_environment() -> dict[str, str]:
    """This process's environment without what starts coverage.py in a child (the suite runs
    under coverage, which passes itself on to subprocesses): for tests of what a plain process
    imports or runs at exit, which the measuring would change."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in {"COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG"}
    }


def children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid`."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def process_alive(pid: int) -> bool:
    """True while any thread of `pid` runs (a zombie waiting for its parent has ended; a main
    thread that exited first shows as a zombie while the process's other threads, and the
    descriptors they share, are still being torn down)."""
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for thread in threads:
        try:
            state = (thread / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if state not in ("Z", "X"):
            return True
    return False


def socket_file(path: Path) -> tuple[int, int] | None:
    """Which socket file is at `path` (inode and change time: a new file may reuse the inode
    number of one just removed), None if there is none."""
    try:
        status = path.lstat()
    except OSError:
        return None
    return status.st_ino, status.st_ctime_ns


def wait_for_socket(
    path: Path,
    process: subprocess.Popen[bytes],
    log_path: Path,
    *,
    stale: tuple[int, int] | None = None,
) -> None:
    """Block until the daemon accepts connections; fail with its log if it died.

    `stale` is the socket file a previous daemon left at `path` (`socket_file`, read before
    this one started): until the new daemon has replaced it, a connection may still reach the
    old one's listening socket while its last holder exits, and be reset.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited early:\n{log_path.read_text(errors='replace')}")
        if stale is not None and socket_file(path) == stale:
            time.sleep(0.02)
            continue
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
            probe.connect(os.fspath(path))
            return
        time.sleep(0.02)
    raise RuntimeError(f"service did not start:\n{log_path.read_text(errors='replace')}")


def start_service(
    state_dir: Path,
    *extra: str,
    config: Path | None = None,
    socket_path: Path | None = None,
    env: dict[str, str] | None = None,
    wait: bool = True,
) -> RunningService:
    """Start `tessera service` on a socket inside `state_dir` (environment `env`, default ours);
    with `wait`, return once its socket exists."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = socket_path or state_dir / "run" / "parsec.sock"
    args = [
        sys.executable,
        "-m",
        "tessera.cli.main",
        "service",
        "--socket",
        os.fspath(path),
        "--state-dir",
        os.fspath(state_dir),
        "--log-level",
        "debug",
        "--allow-root",  # CI machines run tests as root
        *extra,
    ]
    if config is not None:
        args += ["--config", os.fspath(config)]
    log_path = state_dir / "service.log"
    stale = socket_file(path)
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    if wait:
        wait_for_socket(path, process, log_path, stale=stale)
    return RunningService(path, state_dir, process, log_path, args)


def start_identity(
    state_dir: Path, service_socket: Path, *extra: str, socket_path: Path | None = None
) -> RunningService:
    """Start `tessera identity` next to a service, on a socket inside `state_dir`."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = socket_path or state_dir / "run" / "identity.sock"
    args = [
        sys.executable,
        "-m",
        "tessera.cli.main",
        "identity",
        "--socket",
        os.fspath(path),
        "--state-dir",
        os.fspath(state_dir),
        "--service-socket",
        os.fspath(service_socket),
        "--log-level",
        "debug",
        "--allow-root",
        *extra,
    ]
    log_path = state_dir / "identity.log"
    stale = socket_file(path)
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
    wait_for_socket(path, process, log_path, stale=stale)
    return RunningService(path, state_dir, process, log_path, args)


def start_orchestrator(
    state_dir: Path,
    *extra: str,
    service_socket: Path,
    identity_socket: Path,
    manifest: Path | None = None,
    env: dict[str, str] | None = None,
) -> RunningService:
    """Start `tessera orchestrator` with its state (and control socket) in `state_dir`.

    Its applications inherit `env` (default: ours) and write to its log.
    """
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / "run" / "orchestrator.sock"
    args = [
        sys.executable,
        "-m",
        "tessera.cli.main",
        "orchestrator",
        "--allow-root",
        "--state-dir",
        os.fspath(state_dir),
        "--identity-socket",
        os.fspath(identity_socket),
        "--service-socket",
        os.fspath(service_socket),
        "--heartbeat",
        "0.2",
        "--log-level",
        "debug",
        *extra,
    ]
    if manifest is not None:
        args += ["--manifest", os.fspath(manifest)]
    log_path = state_dir / "orchestrator.log"
    stale = socket_file(path)
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    wait_for_socket(path, process, log_path, stale=stale)
    return RunningService(path, state_dir, process, log_path, args)


def call(path: Path, opcode: Opcode, body: Message, timeout: float = 10.0) -> Response:
    """One request (no auth) on its own connection to any daemon."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(os.fspath(path))
        sock.sendall(request_bytes(opcode, body))
        return read_response(sock, timeout)


def stop_service(service: RunningService, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Signal the daemon and wait for it; returns its exit status."""
    if service.alive():
        service.process.send_signal(sig)
    try:
        return service.process.wait(timeout)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()
        raise


@contextlib.contextmanager
def running_service(
    state_dir: Path, *extra: str, config: Path | None = None
) -> Iterator[RunningService]:
    """`start_service` as a context manager that always stops the daemon."""
    service = start_service(state_dir, *extra, config=config)
    try:
        yield service
    finally:
        stop_service(service)


@contextlib.contextmanager
def services_on_one_state_dir(
    state_dir: Path, sockets: tuple[Path, Path], *extra: str, config: Path | None = None
) -> Iterator[tuple[RunningService, RunningService]]:
    """Two `tessera service` processes on `state_dir`, each on its own socket (as the workers of
    one run are), both up before the block runs. The first is stopped if the second does not
    start; both are always stopped at the end, the second first (their exit statuses are then
    in `process.returncode`)."""
    first = start_service(state_dir, *extra, config=config, socket_path=sockets[0])
    try:
        second = start_service(state_dir, *extra, config=config, socket_path=sockets[1])
    except BaseException:
        stop_service(first)
        raise
    try:
        yield first, second
    finally:
        try:
            stop_service(second)
        finally:
            stop_service(first)
