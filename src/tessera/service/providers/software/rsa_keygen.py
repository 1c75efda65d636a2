"""RSA key generation in helper processes, so that it does not stall the event loop.

`cryptography`'s RSA key generation holds the GIL for stretches of 10-16 ms; run in the
service's process, one tenant generating RSA keys raises every other tenant's latency (Parsec's
threat U-0; benchmarks/fairness.py measures it). Here a pool of helper processes
(rsa_keygen_child.py, at a lower CPU priority) computes the key's PSA encoding and hands it back
over a pipe: key material stays in process memory, never on disk. The calling worker thread waits
on the pipe without holding the GIL.

Helpers start on first use and are replaced when one dies; a pool that cannot start a helper
generates in-process rather than fail the request.
"""

from __future__ import annotations

import contextlib
import logging
import select
import struct
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import IO

from tessera.service.providers.software.rsa_keygen_child import generate_rsa

log = logging.getLogger(__name__)

_CHILD = Path(__file__).with_name("rsa_keygen_child.py")
_SIZE = struct.Struct("<I")
# A PKCS#1 DER RSA-4096 private key is about 2.4 KB; anything far larger is a broken helper.
_MAX_ANSWER = 16 * 1024
# RSA-4096 takes seconds; a helper silent for this long is stuck, and is replaced.
ANSWER_TIMEOUT = 120.0


class HelperFailedError(Exception):
    """A helper process died or answered nonsense; it is discarded."""


class _Helper:
    """One helper process and its pipes, used by one thread at a time."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own script, no shell
            [sys.executable, "-I", str(_CHILD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )

    @property
    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        assert self._process.stdin is not None and self._process.stdout is not None
        return self._process.stdin, self._process.stdout

    def generate(self, bits: int) -> bytes:
        requests, answers = self._pipes
        try:
            requests.write(_SIZE.pack(bits))
            requests.flush()
            # The child writes its whole answer at once: once readable, the reads do not block.
            readable, _, _ = select.select([answers], [], [], ANSWER_TIMEOUT)
            if not readable:
                self._process.kill()  # stuck, not dead: its key would come too late anyway
                raise HelperFailedError(f"no answer within {ANSWER_TIMEOUT:.0f} s")
            head = answers.read(_SIZE.size)
            if len(head) < _SIZE.size:
                raise HelperFailedError("the helper exited")
            (length,) = _SIZE.unpack(head)
            if not 0 < length <= _MAX_ANSWER:
                raise HelperFailedError(f"the helper answered {length} bytes")
            data = answers.read(length)
        except OSError as error:
            raise HelperFailedError(str(error)) from error
        if len(data) != length:
            raise HelperFailedError("the helper exited mid-answer")
        return data

    def close(self) -> None:
        requests, answers = self._pipes
        for pipe in (requests, answers):
            with contextlib.suppress(OSError):
                pipe.close()
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            # Mid-generation (seconds for RSA-4096): nothing it makes can be collected now.
            self._process.kill()
            self._process.wait()


class RsaKeygenPool:
    """At most `processes` helpers; each request takes an idle one or starts one."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("an RSA key generation pool needs at least one process")
        self._limit = processes
        self._ready = threading.Condition()
        self._idle: list[_Helper] = []
        self._started = 0
        self._closed = False
        self._warned = False
        # A pool dropped without close() (a provider in a test, say) still stops its helpers.
        weakref.finalize(self, _stop_all, self._idle)

    def generate(self, bits: int) -> bytes:
        """The PSA encoding (PKCS#1 DER) of a fresh RSA key pair of `bits` bits."""
        # One retry: a helper may have been killed while idle; a second failure is not chance.
        for _ in range(2):
            helper = self._take()
            if helper is None:
                break
            try:
                data = helper.generate(bits)
            except HelperFailedError as failure:
                log.warning("RSA key generation helper failed (%s); replacing it", failure)
                self._discard(helper)
                continue
            self._give_back(helper)
            return data
        return generate_rsa(bits)

    def close(self) -> None:
        """Stop the idle helpers now and busy ones when handed back; later calls run here."""
        with self._ready:
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            self._ready.notify_all()
        for helper in idle:
            self._discard(helper)

    @property
    def started(self) -> int:
        """Helpers alive now, idle or busy."""
        with self._ready:
            return self._started

    def _take(self) -> _Helper | None:
        with self._ready:
            while True:
                if self._closed:
                    return None
                if self._idle:
                    return self._idle.pop()
                if self._started < self._limit:
                    self._started += 1
                    break
                self._ready.wait()  # every helper is busy
        try:
            return _Helper()
        except OSError as error:
            with self._ready:
                self._started -= 1
                self._ready.notify()
                warned, self._warned = self._warned, True
            if not warned:
                log.warning("cannot start an RSA key generation helper (%s): in-process", error)
            return None

    def _give_back(self, helper: _Helper) -> None:
        with self._ready:
            if not self._closed:
                self._idle.append(helper)
                self._ready.notify()
                return
        self._discard(helper)

    def _discard(self, helper: _Helper) -> None:
        helper.close()
        with self._ready:
            self._started -= 1
            self._ready.notify()


def _stop_all(helpers: list[_Helper]) -> None:
    for helper in helpers:
        helper.close()
    helpers.clear()
