"""Live reload under load: SIGHUP while clients sign in a loop and generate RSA keys.

Each step rewrites the configuration file and sends SIGHUP; clients must see no failure, each
change must take effect, and a broken file must be refused with one log line.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tessera.client.specs import ECDSA_P256, rsa_oaep
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    list_authenticators_pb2,
    list_providers_pb2,
    psa_algorithm_pb2,
    psa_hash_compute_pb2,
    psa_sign_hash_pb2,
)
from tessera.wire.status import Status
from tests.support import (
    RunningService,
    direct,
    generate_key_request,
    read_response,
    request_bytes,
    start_service,
    stop_service,
)

CLIENTS = 6
SOFTWARE = '[[provider]]\nprovider_type = "software"\nprovider_id = 1\nname = "software"\n'
SECOND = '[[provider]]\nprovider_type = "software"\nprovider_id = 4\nname = "software-2"\n'


def config_text(
    auth: str = '"direct"', admins: str = "", core: str = "", providers: str = SOFTWARE
) -> str:
    return (
        f"[core_settings]\n{core}\n"
        "[listener]\ndrain_timeout = 60000\n"
        f"[authenticator]\nauth_types = [{auth}]\nadmins = [{admins}]\n"
        f"{providers}"
    )


class Workload:
    """Clients signing in a loop (keep-alive and one-shot connections) and RSA generations,
    which run on the worker pool and so are in flight when a reload lands."""

    def __init__(self, service: RunningService) -> None:
        self.service = service
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.done = 0
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._signer, args=(i,)) for i in range(CLIENTS)
        ] + [threading.Thread(target=self._generator)]

    def __enter__(self) -> Workload:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _count(self, status: int, what: str) -> None:
        with self.lock:
            if status == Status.SUCCESS:
                self.done += 1
            else:
                self.failures.append(f"{what}: {Status(status).name}")

    def _guard(self, what: str, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as error:  # a dropped connection is a failure too
            with self.lock:
                self.failures.append(f"{what}: {error!r}")

    def _signer(self, index: int) -> None:
        app = direct(f"signer-{index}")
        alg = ECDSA_P256.algorithm.asymmetric_signature
        op = psa_sign_hash_pb2.Operation(key_name="k", alg=alg, hash=hashlib.sha256(b"m").digest())
        one_shot = request_bytes(Opcode.PSA_SIGN_HASH, op, provider=1, **app)
        kept = request_bytes(Opcode.PSA_SIGN_HASH, op, provider=1, keep_alive=True, **app)

        def run() -> None:
            self.service.generate_key("k", ECDSA_P256.attributes(), app)
            with self.service.connect() as sock:
                while not self.stop.is_set():
                    sock.sendall(kept)  # one connection across every reload
                    self._count(read_response(sock, timeout=30).header.status, "keep-alive")
                    self._count(self.service.call(one_shot, timeout=30).header.status, "one-shot")

        self._guard(f"signer {index}", run)

    def _generator(self) -> None:
        def run() -> None:
            number = 0
            while not self.stop.is_set():
                request = generate_key_request(
                    f"rsa-{number}", rsa_oaep(2048).attributes(), direct("generator")
                )
                self._count(self.service.call(request, timeout=60).header.status, "generate")
                number += 1

        self._guard("generator", run)


def reload(
    service: RunningService, config: Path, text: str, marker: str, *, times: int = 1
) -> None:
    """Write the configuration, send SIGHUP and wait for the log line `marker` to appear
    `times` more than before (a line each worker process writes: once per worker)."""
    before = service.log().count(marker) + times - 1
    config.write_text(text)
    service.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while service.log().count(marker) <= before:
        assert time.monotonic() < deadline, service.log()
        assert service.alive(), service.log()
        time.sleep(0.02)


def authenticators(service: RunningService) -> list[int]:
    response = service.call(request_bytes(Opcode.LIST_AUTHENTICATORS))
    return [a.id for a in list_authenticators_pb2.Result.FromString(response.body).authenticators]


def providers(service: RunningService) -> list[int]:
    response = service.call(request_bytes(Opcode.LIST_PROVIDERS))
    return [p.id for p in list_providers_pb2.Result.FromString(response.body).providers]


def hash_status(service: RunningService, size: int) -> int:
    op = psa_hash_compute_pb2.Operation(alg=psa_algorithm_pb2.Algorithm.SHA_256, input=b"x" * size)
    return service.call(request_bytes(Opcode.PSA_HASH_COMPUTE, op, provider=1)).header.status


def test_reload_under_load(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    config.write_text(config_text())
    service = start_service(short_tmp, config=config)
    reloaded = "configuration reloaded:"
    try:
        with Workload(service) as load:
            time.sleep(0.5)
            progress = [load.done]

            workers = max(1, len(service.workers()))

            def step(text: str, marker: str = reloaded) -> None:
                reload(service, config, text, marker, times=workers if marker == reloaded else 1)
                time.sleep(0.3)  # let the load run on the new request path too
                progress.append(load.done)

            # 1. an authenticator
            assert authenticators(service) == [AuthType.DIRECT]
            step(config_text(auth='"direct", "unix-peer"'))
            assert authenticators(service) == [AuthType.DIRECT, AuthType.UNIX_PEER_CREDENTIALS]

            # 2. an administrator
            listing = request_bytes(Opcode.LIST_CLIENTS, **direct("boss"))
            assert service.call(listing).header.status == Status.ADMIN_OPERATION
            admins = '{ name = "boss", auth = "direct" }'
            step(config_text(auth='"direct", "unix-peer"', admins=admins))
            assert service.call(listing).header.status == Status.SUCCESS

            # 3. a limit: the largest request body
            assert hash_status(service, 8192) == Status.SUCCESS
            limited = "body_len_limit = 4096"
            step(config_text(auth='"direct", "unix-peer"', admins=admins, core=limited))
            assert hash_status(service, 8192) == Status.BODY_SIZE_EXCEEDS_LIMIT
            assert hash_status(service, 1024) == Status.SUCCESS

            # 4. a second software provider (same key store and KEK), then its removal
            both = SOFTWARE + SECOND
            step(config_text(auth='"direct", "unix-peer"', admins=admins, providers=both))
            assert providers(service) == [1, 4, 0]
            created = service.call(
                generate_key_request("on-4", ECDSA_P256.attributes(), direct("x"), provider=4)
            )
            assert created.header.status == Status.SUCCESS
            step(config_text(auth='"direct", "unix-peer"', admins=admins))
            assert providers(service) == [1, 0]

            # 5. a broken file: refused in one line, everything stays as it was
            step(config_text(auth='"telepathy"'), marker="configuration reload refused")
            assert authenticators(service) == [AuthType.DIRECT, AuthType.UNIX_PEER_CREDENTIALS]
            assert service.call(listing).header.status == Status.SUCCESS

            # 6. a setting that needs a restart: reported, kept
            audit = "[audit]\nenabled = false\n"
            step(config_text(auth='"direct", "unix-peer"', admins=admins) + audit)
        assert load.failures == []
        # The load kept going through every reload.
        assert all(b > a for a, b in itertools.pairwise(progress)), progress
        log = service.log()
        refused = [line for line in log.splitlines() if "reload refused" in line]
        assert len(refused) == 1 and "unknown authenticator 'telepathy'" in refused[0], refused
        assert "removed providers closed: 4" in log
        assert "kept until a restart: audit" in log
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(os.fspath(service.socket_path))
    finally:
        code = stop_service(service)
    assert code == 0, service.log()
