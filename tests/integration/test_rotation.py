"""Intermediates rotate every second while an application works: it never notices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tessera.wire.status import Status
from tests.integration.identity_support import Orchestrating, trust_status, wait_for
from tests.support import start_identity, start_service, stop_service

REPO = Path(__file__).resolve().parents[2]


def test_rotation_every_second_is_invisible_to_the_application() -> None:
    base = Path(tempfile.mkdtemp(prefix="ts-rot-", dir="/tmp"))
    service = start_service(base / "svc", "--auth", "jwt")
    identity = start_identity(
        base / "idp", service.socket_path, "--rotation-period", "1", "--heartbeat", "0.2"
    )
    try:
        orchestrator = Orchestrating(identity.socket_path)
        assert all(r.header.status == Status.SUCCESS for r in orchestrator.share())
        assert orchestrator.add("worker-1", "worker").header.status == Status.SUCCESS
        wait_for(lambda: trust_status(service.socket_path).intermediate_kid != "")
        env = dict(
            os.environ,
            PARSEC_SERVICE_ENDPOINT=f"unix:{service.socket_path}",
            TESSERA_IDENTITY_ENDPOINT=f"unix:{identity.socket_path}",
            PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.workload", "5"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        # The worker waits (inside the library) until it is proven.
        assert orchestrator.prove("worker-1", worker.pid).header.status == Status.SUCCESS
        seen: set[str] = set()
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                seen.add(trust_status(service.socket_path).intermediate_kid)
                time.sleep(0.1)

        watcher = threading.Thread(target=watch)
        watcher.start()
        output, _ = worker.communicate(timeout=60)
        stop.set()
        watcher.join()
        result = json.loads(output)
        assert result["auth"] == "TokenAuth"
        assert result["failures"] == []
        assert result["done"] > 20
        assert len(seen) >= 3, "the intermediate should have rotated several times"
    finally:
        stop_service(identity)
        stop_service(service)
