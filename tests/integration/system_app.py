"""An application for the whole-system tests: works continuously and records every outcome.

`python -m tests.integration.system_app RESULTS_FILE` signs and verifies with its key until
killed, and after every operation rewrites RESULTS_FILE with its totals and failures, so the
test can read progress while it kills components around it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import tessera


def record(path: Path, state: dict[str, object]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, path)


def main() -> int:
    results = Path(sys.argv[1])
    state: dict[str, object] = {"pid": os.getpid(), "done": 0, "failures": [], "keys": []}
    failures: list[str] = []
    with tessera.Client(timeout=60) as client:
        try:
            key = client.key("durable")
        except tessera.DoesNotExistError:
            key = client.generate_key("durable")
        done = 0
        while True:
            message = f"operation {done}".encode()
            try:
                key.verify(key.sign(message), message)
                done += 1
                state["keys"] = sorted(k.name for k in client.keys())  # noqa: SIM118
            except tessera.TesseraError as error:
                failures.append(f"{type(error).__name__}: {error}")
            state.update(done=done, failures=failures, at=time.time())
            record(results, state)
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
