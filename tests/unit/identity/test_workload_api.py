"""The SPIFFE Workload API server in-process: a grpclib client in the same process is the caller,
so proving this very process makes it an application of the orchestrator's."""

from __future__ import annotations

import asyncio
import contextlib
import filecmp
import os
import socket
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from grpclib import GRPCError
from grpclib.client import Channel, UnaryStreamMethod, UnaryUnaryMethod
from grpclib.const import Status as Grpc

from tessera.identity.config import IdentityConfig, load_identity_config
from tessera.identity.registry import Registry
from tessera.identity.revocations import Revocations
from tessera.identity.workload_api import SECURITY_HEADER, SERVICE_PATH, resolve_caller
from tessera.identity.workload_proto import workload_pb2 as pb
from tessera.identity.workload_server import PeerBook, WorkloadApiServer
from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.payloads import ClientDefinition
from tessera.trust.peer import PeerCredentials, incarnation_of
from tessera.trust.revocation import grant_of
from tessera.wire.status import Status, StatusError

DOMAIN = "tessera.local"
APP_ID = f"spiffe://{DOMAIN}/app"
HEADER = {SECURITY_HEADER: "true"}
PROTO_DIR = Path(__file__).resolve().parents[3] / "src" / "tessera" / "identity" / "workload_proto"


class FakeIssuer:
    """The trusted side's token issuing, without a service to share intermediates with."""

    def __init__(self) -> None:
        self.root = RootAuthority.generate("test identity provider")
        self.current: Intermediate | None = self.root.issue_intermediate(timedelta(minutes=10))

    def rotate(self) -> None:
        self.current = self.root.issue_intermediate(timedelta(minutes=10))

    def issue_token(
        self, subject: str, audience: str, lifetime: float, token_id: str | None = None
    ) -> tuple[str, datetime]:
        if self.current is None:
            raise StatusError(Status.TRUST_NO_ROOT, "no intermediate yet")
        token = self.current.issue_token(
            subject=subject,
            audience=audience,
            lifetime=timedelta(seconds=lifetime),
            token_id=token_id,
        )
        return token, datetime.now(UTC) + timedelta(seconds=lifetime)


@dataclass
class Api:
    """A client of the served Workload API."""

    channel: Channel
    registry: Registry
    issuer: FakeIssuer
    server: WorkloadApiServer
    revocations: Revocations

    def prove_self(self) -> None:
        self.registry.define("app-1", ClientDefinition("app-1", "app"), APP_ID)
        me = incarnation_of(os.getpid())
        assert me is not None
        self.registry.prove("app-1", me, os.getuid())

    async def svid(
        self, *audience: str, spiffe_id: str = "", metadata: Any = HEADER
    ) -> pb.JWTSVIDResponse:
        method = UnaryUnaryMethod(
            self.channel, SERVICE_PATH + "FetchJWTSVID", pb.JWTSVIDRequest, pb.JWTSVIDResponse
        )
        request = pb.JWTSVIDRequest(audience=audience, spiffe_id=spiffe_id)
        return await method(request, metadata=metadata, timeout=10)

    async def validate(
        self, token: str, audience: str, metadata: Any = HEADER
    ) -> pb.ValidateJWTSVIDResponse:
        method = UnaryUnaryMethod(
            self.channel,
            SERVICE_PATH + "ValidateJWTSVID",
            pb.ValidateJWTSVIDRequest,
            pb.ValidateJWTSVIDResponse,
        )
        request = pb.ValidateJWTSVIDRequest(audience=audience, svid=token)
        return await method(request, metadata=metadata, timeout=10)

    def bundles(self) -> UnaryStreamMethod[pb.JWTBundlesRequest, pb.JWTBundlesResponse]:
        return UnaryStreamMethod(
            self.channel,
            SERVICE_PATH + "FetchJWTBundles",
            pb.JWTBundlesRequest,
            pb.JWTBundlesResponse,
        )

    async def first_bundle(self, metadata: Any = HEADER) -> bytes:
        async with self.bundles().open(metadata=metadata, timeout=10) as stream:
            await stream.send_message(pb.JWTBundlesRequest(), end=True)
            reply = await stream.recv_message()
            assert reply is not None
            await stream.cancel()
        return reply.bundles[f"spiffe://{DOMAIN}"]


def config_in(base: Path) -> IdentityConfig:
    return IdentityConfig(
        state_dir=base,
        socket_path=base / "run" / "identity.sock",
        service_socket=base / "run" / "parsec.sock",
        trust_domain=DOMAIN,
        workload_api_socket=base / "run" / "workload.sock",
    )


@contextlib.asynccontextmanager
async def serving(base: Path, issuer: FakeIssuer | None = None) -> AsyncIterator[Api]:
    registry = Registry()
    issuer = issuer or FakeIssuer()
    revocations = Revocations(token_lifetime=300)
    server = WorkloadApiServer(config_in(base), registry, issuer, revocations)
    task = asyncio.create_task(server.serve())
    channel = Channel(path=os.fspath(server.path))
    try:
        yield Api(channel, registry, issuer, server, revocations)
    finally:
        channel.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.close()  # as the daemon does: a task cancelled before it ran closes nothing


def run(base: Path, scenario: Callable[[Api], Awaitable[None]]) -> None:
    async def main() -> None:
        async with serving(base) as api:
            await scenario(api)

    asyncio.run(main())


async def refused(call: Awaitable[Any]) -> Grpc:
    with pytest.raises(GRPCError) as caught:
        await call
    return caught.value.status


def test_generated_module_is_not_stale(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    script = PROTO_DIR.parents[3] / "scripts" / "gen-proto"
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run([str(script), str(tmp_path)], check=True, env=env)
    generated = tmp_path / "tessera" / "identity" / "workload_proto"
    names = ["workload_pb2.py", "workload_pb2.pyi"]
    _, mismatch, errors = filecmp.cmpfiles(generated, PROTO_DIR, names, shallow=False)
    assert not mismatch and not errors, f"stale modules, run scripts/gen-proto: {mismatch}"


def test_socket_is_private_and_removed_at_stop(short_tmp: Path) -> None:
    async def scenario(api: Api) -> None:
        mode = stat.S_IMODE(api.server.path.stat().st_mode)
        assert mode == 0o600

    run(short_tmp, scenario)
    assert not (short_tmp / "run" / "workload.sock").exists()


def test_calls_without_the_security_header_are_refused(short_tmp: Path) -> None:
    async def scenario(api: Api) -> None:
        api.prove_self()
        assert await refused(api.svid("parsec", metadata=None)) is Grpc.INVALID_ARGUMENT
        wrong = {SECURITY_HEADER: "false"}
        assert await refused(api.svid("parsec", metadata=wrong)) is Grpc.INVALID_ARGUMENT
        assert await refused(api.validate("x.y.z", "parsec", None)) is Grpc.INVALID_ARGUMENT
        assert await refused(api.first_bundle(metadata=None)) is Grpc.INVALID_ARGUMENT

    run(short_tmp, scenario)


def test_an_unproven_caller_gets_nothing(short_tmp: Path) -> None:
    async def scenario(api: Api) -> None:
        assert await refused(api.svid("parsec")) is Grpc.PERMISSION_DENIED
        assert await refused(api.first_bundle()) is Grpc.PERMISSION_DENIED
        assert await refused(api.validate("x.y.z", "parsec")) is Grpc.PERMISSION_DENIED

    run(short_tmp, scenario)


def test_a_proven_caller_gets_its_svid_and_the_bundle(short_tmp: Path) -> None:
    async def scenario(api: Api) -> None:
        api.prove_self()
        response = await api.svid("parsec")
        [svid] = response.svids
        assert svid.spiffe_id == APP_ID
        claims = jwt.decode(svid.svid, options={"verify_signature": False})
        assert claims["sub"] == APP_ID and claims["aud"] == "parsec"
        assert "." in claims["jti"]  # <grant>.<random>: revocable with its process
        assert (await api.svid("parsec", spiffe_id=APP_ID)).svids[0].spiffe_id == APP_ID

        document = await api.first_bundle()
        assert api.issuer.current is not None
        assert api.issuer.current.kid.encode() in document

        validated = await api.validate(svid.svid, "parsec")
        assert validated.spiffe_id == APP_ID
        assert validated.claims["sub"] == APP_ID and validated.claims["aud"] == "parsec"
        assert await refused(api.validate(svid.svid, "other")) is Grpc.INVALID_ARGUMENT
        assert await refused(api.validate("not-a-token", "parsec")) is Grpc.INVALID_ARGUMENT

    run(short_tmp, scenario)


def test_a_revoked_svid_does_not_validate(short_tmp: Path) -> None:
    # The service refuses a JWT-SVID whose process was withdrawn; validation here agrees.
    async def scenario(api: Api) -> None:
        api.prove_self()
        token = (await api.svid("parsec")).svids[0].svid
        assert (await api.validate(token, "parsec")).spiffe_id == APP_ID
        token_id = jwt.decode(token, options={"verify_signature": False})["jti"]
        api.revocations.revoke([grant_of(token_id)], api.issuer.current)
        assert await refused(api.validate(token, "parsec")) is Grpc.INVALID_ARGUMENT

    run(short_tmp, scenario)


def test_the_served_bundle_verifies_svids_in_the_service_and_in_py_spiffe(
    short_tmp: Path,
) -> None:
    from spiffe import JwtBundle, JwtSvid, TrustDomain

    from tessera.service.authenticators.jwt_svid import JwtSvidAuthenticator

    fetched: list[Any] = []

    async def scenario(api: Api) -> None:
        api.prove_self()
        fetched.append((await api.svid("parsec")).svids[0].svid)
        fetched.append(await api.first_bundle())

    run(short_tmp, scenario)
    token, document = fetched
    # The service's JWT-SVID authenticator, reading the bundle as a file.
    bundle_file = short_tmp / "bundle.jwks"
    bundle_file.write_bytes(document)
    service_side = JwtSvidAuthenticator(
        bundle_file, audience="parsec", leeway=5, trust_domain=DOMAIN
    )
    assert service_side.authenticate(token.encode(), None) == APP_ID
    # The reference client's own parser and verifier.
    bundle = JwtBundle.parse(TrustDomain(DOMAIN), document)
    assert str(JwtSvid.parse_and_validate(token, bundle, {"parsec"}).spiffe_id) == APP_ID


def test_bad_requests(short_tmp: Path) -> None:
    async def scenario(api: Api) -> None:
        api.prove_self()
        assert await refused(api.svid()) is Grpc.INVALID_ARGUMENT
        assert await refused(api.svid("")) is Grpc.INVALID_ARGUMENT
        assert await refused(api.svid("a", "b")) is Grpc.INVALID_ARGUMENT
        assert await refused(api.svid("a" * 600)) is Grpc.INVALID_ARGUMENT
        other = f"spiffe://{DOMAIN}/other"
        assert await refused(api.svid("parsec", spiffe_id=other)) is Grpc.PERMISSION_DENIED
        assert await refused(api.validate("", "parsec")) is Grpc.INVALID_ARGUMENT
        assert await asyncio.to_thread(fetch_x509_svid, api.server.path) == "UNIMPLEMENTED"

    run(short_tmp, scenario)


def fetch_x509_svid(path: Path) -> str:
    """FetchX509SVID as the reference client's gRPC stack (grpcio) calls it: its status."""
    import grpc  # type: ignore[import-untyped]  # (no stubs: only this test calls it)
    from spiffe._proto import workload_pb2, workload_pb2_grpc

    with grpc.insecure_channel(f"unix:{path}") as channel:
        stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)  # type: ignore[no-untyped-call]
        try:
            request = workload_pb2.X509SVIDRequest()
            list(stub.FetchX509SVID(request, metadata=[(SECURITY_HEADER, "true")], timeout=10))
        except grpc.RpcError as error:
            return str(error.code().name)
    return "OK"


def test_no_svid_before_the_service_trusts_the_provider(short_tmp: Path) -> None:
    async def scenario(api: Api) -> None:
        api.prove_self()
        api.issuer.current = None
        assert await refused(api.svid("parsec")) is Grpc.UNAVAILABLE
        assert await refused(api.validate("x.y.z", "parsec")) is Grpc.UNAVAILABLE

    run(short_tmp, scenario)


def test_the_bundle_stream_follows_rotations(short_tmp: Path) -> None:
    async def scenario(api: Api) -> None:
        api.prove_self()
        async with api.bundles().open(metadata=HEADER, timeout=10) as stream:
            await stream.send_message(pb.JWTBundlesRequest(), end=True)
            first = await stream.recv_message()
            api.issuer.rotate()
            second = await stream.recv_message()
            await stream.cancel()
        assert first is not None and second is not None
        assert api.issuer.current is not None
        assert api.issuer.current.kid.encode() in second.bundles[f"spiffe://{DOMAIN}"]
        assert first.bundles != second.bundles

    run(short_tmp, scenario)


class _Transport:
    """Just enough of an asyncio transport for PeerBook: a connected Unix socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None


def test_peer_book_reads_credentials_at_connect_and_caps_connections() -> None:
    book = PeerBook(max_connections=2, max_per_uid=1)
    pairs = [socket.socketpair() for _ in range(2)]
    try:
        first, second = (_Transport(a) for a, _ in pairs)
        assert book.admit(first)  # type: ignore[arg-type]
        assert not book.admit(second)  # type: ignore[arg-type]  # same uid: over its share
        book.release(second)  # type: ignore[arg-type]  # refused ones are never counted
        assert len(book) == 1
        book.release(first)  # type: ignore[arg-type]
        assert book.admit(second)  # type: ignore[arg-type]
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_a_caller_is_resolved_only_while_its_connecting_process_runs() -> None:
    registry = Registry()
    registry.define("app-1", ClientDefinition("app-1", "app"), APP_ID)
    me = incarnation_of(os.getpid())
    assert me is not None
    registry.prove("app-1", me, os.getuid())
    peer = PeerCredentials(os.getpid(), os.getuid(), os.getgid(), me.start_time)
    assert resolve_caller(registry, peer).spiffe_id == APP_ID
    for stranger in (
        None,
        PeerCredentials(os.getpid(), os.getuid(), os.getgid(), None),  # gone at connect
        PeerCredentials(os.getpid(), os.getuid(), os.getgid(), me.start_time + 1),  # pid reused
        PeerCredentials(os.getpid(), os.getuid() + 1, os.getgid(), me.start_time),  # other user
    ):
        with pytest.raises(StatusError) as caught:
            resolve_caller(registry, stranger)
        assert caught.value.status is Status.IDENTITY_CLIENT_NOT_PROVEN


def test_the_socket_is_configured_in_the_identity_section(tmp_path: Path) -> None:
    path = tmp_path / "identity.toml"
    path.write_text('[identity]\nworkload_api_socket = "/run/tessera/workload.sock"\n')
    assert load_identity_config(path).workload_api_socket == Path("/run/tessera/workload.sock")
    path.write_text("[identity]\n")
    assert load_identity_config(path).workload_api_socket is None
