"""RSA key generation in helper processes: real helpers, real keys, helpers that die."""

from __future__ import annotations

import gc
import io
import logging
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.service.providers.software import rsa_keygen, rsa_keygen_child
from tessera.service.providers.software.rsa_keygen import RsaKeygenPool


def _bits_of(data: bytes) -> int:
    key = serialization.load_der_private_key(data, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.key_size


@pytest.fixture
def pool() -> Iterator[RsaKeygenPool]:
    generators = RsaKeygenPool(2)
    yield generators
    generators.close()


def test_helper_makes_a_valid_key_and_is_reused(pool: RsaKeygenPool) -> None:
    first = pool.generate(2048)
    second = pool.generate(2048)
    assert _bits_of(first) == 2048
    assert first != second
    assert pool.started == 1  # one caller at a time needs one helper


def test_concurrent_callers_share_at_most_the_limit(pool: RsaKeygenPool) -> None:
    results: list[int] = []

    def one() -> None:
        results.append(_bits_of(pool.generate(1024)))

    threads = [threading.Thread(target=one) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1024] * 5
    assert 1 <= pool.started <= 2


def test_a_killed_helper_is_replaced(pool: RsaKeygenPool, caplog: pytest.LogCaptureFixture) -> None:
    pool.generate(1024)
    (helper,) = pool._idle
    os.kill(helper._process.pid, signal.SIGKILL)
    helper._process.wait()
    with caplog.at_level(logging.WARNING):
        assert _bits_of(pool.generate(1024)) == 1024
    assert "replacing it" in caplog.text
    assert pool.started == 1


def test_close_stops_the_helpers_and_later_calls_run_here(pool: RsaKeygenPool) -> None:
    pool.generate(1024)
    (helper,) = pool._idle
    pool.close()
    assert helper._process.poll() is not None
    assert pool.started == 0
    assert _bits_of(pool.generate(1024)) == 1024
    assert pool.started == 0


def test_the_helper_refuses_sizes_it_does_not_hold() -> None:
    requests = io.BytesIO(struct.pack("<I", 1000) + struct.pack("<I", 1 << 30))
    answers = io.BytesIO()
    rsa_keygen_child.serve(requests, answers)
    assert answers.getvalue() == struct.pack("<I", 0) * 2


def test_a_refusal_falls_back_to_this_process(pool: RsaKeygenPool) -> None:
    # 1536 is not a size the helper generates; the pool's caller checked sizes already, so
    # a refusal means a broken helper: the key is still made, here.
    data = pool.generate(1536)
    assert _bits_of(data) == 1536


def test_a_pool_needs_a_process() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RsaKeygenPool(0)


def test_a_pool_dropped_without_close_stops_its_helpers() -> None:
    generators = RsaKeygenPool(1)
    generators.generate(1024)
    (helper,) = generators._idle
    process = helper._process
    del generators, helper
    gc.collect()
    assert process.poll() is not None


def test_helpers_end_when_the_service_is_killed() -> None:
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tessera.service.providers.software.rsa_keygen import RsaKeygenPool\n"
            "pool = RsaKeygenPool(1); pool.generate(1024)\n"
            "print(pool._idle[0]._process.pid, flush=True)\n"
            "import time; time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    helper_pid = int(owner.stdout.readline())
    owner.kill()
    owner.wait()
    owner.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(helper_pid):
        time.sleep(0.02)
    assert not _alive(helper_pid)


def _alive(pid: int) -> bool:
    # The helper is the killed process's orphan: reaped by init, or a zombie until then.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_stuck_helper_is_killed_and_the_key_still_made(
    pool: RsaKeygenPool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pool.generate(1024)
    (helper,) = pool._idle
    os.kill(helper._process.pid, signal.SIGSTOP)  # alive, silent
    monkeypatch.setattr(rsa_keygen, "ANSWER_TIMEOUT", 0.2)
    with caplog.at_level(logging.WARNING):
        assert _bits_of(pool.generate(1024)) == 1024
    assert "no answer within" in caplog.text
    assert helper._process.wait(timeout=5) == -signal.SIGKILL


def test_the_helper_generates_every_size_the_service_holds() -> None:
    # The helper imports nothing of Tessera, so it keeps its own list: the two must agree.
    from tessera.psa.key_types import RSA_BITS

    assert frozenset(RSA_BITS) == rsa_keygen_child._ALLOWED_BITS
