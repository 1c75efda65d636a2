"""A client application for tests: signs and verifies in a loop with the client library.

Run as `python -m tests.integration.workload SECONDS [KEY]`; it authenticates however the
client library chooses (identity-provider tokens when the orchestrator started it) and prints
one JSON line: how many operations succeeded, and every failure.
"""

from __future__ import annotations

import json
import sys
import time

import tessera


def main() -> int:
    seconds = float(sys.argv[1])
    key_name = sys.argv[2] if len(sys.argv) > 2 else "workload"
    done = 0
    failures: list[str] = []
    identity = ""
    with tessera.Client(timeout=30) as client:
        try:
            key = client.generate_key(key_name)
        except tessera.AlreadyExistsError:
            key = client.key(key_name)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = f"message {done}".encode()
            try:
                key.verify(key.sign(message), message)
                done += 1
            except tessera.TesseraError as error:
                failures.append(f"{type(error).__name__}: {error}")
        auth = client.operations.auth
        identity = type(auth).__name__
    print(json.dumps({"done": done, "failures": failures, "auth": identity}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
