"""The floor: the bare `cryptography` ECDSA P-256 signature, in one or more processes.

No service can sign faster than the library it signs with; the side-by-side benchmark reports
Tessera's rate as a share of this one, measured in the same run.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from benchmarks.load import DIGEST


def _sign_for(seconds: float, start_at: float, out: Connection) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()))
    while time.monotonic() < start_at:
        time.sleep(0.001)
    count = 0
    deadline = start_at + seconds
    while time.monotonic() < deadline:
        key.sign(DIGEST, algorithm)
        count += 1
    out.send(count)
    out.close()


def signing_rate(processes: int, seconds: float) -> float:
    """Signatures per second of `processes` processes signing side by side."""
    context = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.3
    receivers = []
    workers = []
    for _ in range(processes):
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(target=_sign_for, args=(seconds, start_at, send))
        worker.start()
        send.close()
        receivers.append(receive)
        workers.append(worker)
    total = sum(int(receive.recv()) for receive in receivers)
    for worker in workers:
        worker.join()
    return total / seconds
