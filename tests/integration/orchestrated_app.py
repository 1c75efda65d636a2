"""An application for the orchestrator tests: it answers JSON commands on a Unix socket.

Run as `python -m tests.integration.orchestrated_app DIR [--label LABEL] [--socket PATH]`. It
listens on `DIR/<client id>.sock` (the orchestrator sets TESSERA_CLIENT_ID; `/` becomes `-`),
or on PATH, and uses the client library the way any application does (authentication chosen by
the library: identity-provider tokens when the orchestrator started it). A test sends one JSON
object per line and reads one back: `{"ok": true, ...}`, or `{"ok": false, "error": <the
client-library exception's class name>}`, so the test sees exactly what the application saw.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tessera
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import fetch_token_pb2
from tests.support import call

Request = dict[str, Any]
Answer = dict[str, Any]


class Workload:
    """Sign and verify in a loop (as tests/integration/workload.py), counting failures."""

    def __init__(self, client: tessera.Client, key_name: str) -> None:
        self.client = client
        self.key_name = key_name
        self.done = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            key = self.client.generate_key(self.key_name)
        except tessera.AlreadyExistsError:
            key = self.client.key(self.key_name)
        except tessera.TesseraError as error:
            self.failures.append(f"{type(error).__name__}: {error}")
            return
        while not self.stop.is_set():
            message = f"message {self.done}".encode()
            try:
                key.verify(key.sign(message), message)
                self.done += 1
            except tessera.TesseraError as error:
                self.failures.append(f"{type(error).__name__}: {error}")

    def report(self) -> Answer:
        return {"done": self.done, "failures": list(self.failures)}


class App:
    """The commands the application answers."""

    def __init__(self, directory: Path, label: str) -> None:
        self.directory = directory
        self.label = label
        self.client = tessera.Client(timeout=30)
        self.workload: Workload | None = None
        self.commands: dict[str, Callable[[Request], Answer]] = {
            "whoami": self.whoami,
            "fetch": lambda _: self.fetch(),
            "generate": lambda r: {"public_key": self.public(self.client.generate_key(r["name"]))},
            "sign": self.sign,
            "list": self.list_keys,
            "export": lambda r: {"data": self.client.key(r["name"]).export().hex()},
            # by name and provider, without looking the key up first
            "export_raw": lambda r: {
                "data": self.client.operations.psa_export_key(
                    r["name"], provider=r["provider"]
                ).hex()
            },
            "export_public_raw": lambda r: {
                "data": self.client.operations.psa_export_public_key(
                    r["name"], provider=r["provider"]
                ).hex()
            },
            "destroy_raw": self.destroy_raw,
            "workload_start": self.workload_start,
            "workload_progress": lambda _: self.running_workload().report(),
            "workload_stop": self.workload_stop,
            "spawn_helper": lambda _: self.spawn_helper(),
            "exit": self.exit,
        }

    def execute(self, request: Request) -> Answer:
        try:
            return {"ok": True} | self.commands[request["op"]](request)
        except tessera.TesseraError as error:
            return {"ok": False, "error": type(error).__name__, "message": str(error)}

    def fetch(self) -> Answer:
        """A raw FetchToken from the identity provider, as this process."""
        endpoint = os.environ.get("TESSERA_IDENTITY_ENDPOINT", "")
        response = call(
            Path(endpoint.removeprefix("unix:")), Opcode.FETCH_TOKEN, fetch_token_pb2.Operation()
        )
        answer: Answer = {"status": response.header.status, "spiffe_id": "", "token": ""}
        if response.header.status == 0:
            result = fetch_token_pb2.Result.FromString(response.body)
            answer.update(spiffe_id=result.spiffe_id, token=result.token)
        return answer

    def whoami(self, _: Request) -> Answer:
        return {
            "pid": os.getpid(),
            "label": self.label,
            "client_id": os.environ.get("TESSERA_CLIENT_ID", ""),
            "auth": type(self.client.operations.auth).__name__,
            "spiffe_id": self.fetch()["spiffe_id"],
        }

    def list_keys(self, _: Request) -> Answer:
        owned = self.client.keys()
        return {"keys": sorted([key.name, key.provider] for key in owned)}

    def public(self, key: tessera.Key) -> str:
        """The key's public part (PSA export format), hex."""
        return self.client.operations.psa_export_public_key(key.name, provider=key.provider).hex()

    def sign(self, request: Request) -> Answer:
        key = self.client.key(request["name"])
        message = f"signed by {os.getpid()}".encode()
        key.verify(key.sign(message), message)
        return {"public_key": self.public(key)}

    def destroy_raw(self, request: Request) -> Answer:
        self.client.operations.psa_destroy_key(request["name"], provider=request["provider"])
        return {}

    def workload_start(self, request: Request) -> Answer:
        self.workload = Workload(self.client, request.get("name") or "workload")
        self.workload.thread.start()
        return {}

    def running_workload(self) -> Workload:
        if self.workload is None:
            raise tessera.UsageError("no workload was started")
        return self.workload

    def workload_stop(self, _: Request) -> Answer:
        workload = self.running_workload()
        workload.stop.set()
        workload.thread.join()
        return workload.report()

    def spawn_helper(self) -> Answer:
        """A child process of this application that may outlive it (it answers on its own
        socket)."""
        socket_path = self.directory / f"helper-{os.getpid()}.sock"
        helper = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.orchestrated_app",
                str(self.directory),
                "--label",
                "helper",
                "--socket",
                str(socket_path),
            ]
        )
        return {"pid": helper.pid, "socket": str(socket_path)}

    def exit(self, request: Request) -> Answer:
        """Exit with the given code, just after answering."""
        threading.Timer(0.05, os._exit, (int(request.get("code", 0)),)).start()
        return {}


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, app: App) -> None:
        self.app = app
        super().__init__(str(path), _Handler)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        for line in self.rfile:
            answer = self.server.app.execute(json.loads(line))
            self.wfile.write(json.dumps(answer).encode() + b"\n")
            self.wfile.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--label", default="app")
    parser.add_argument("--socket", type=Path)
    args = parser.parse_args()
    client_id = os.environ.get("TESSERA_CLIENT_ID", "outsider").replace("/", "-")
    socket_path: Path = args.socket or args.directory / f"{client_id}.sock"
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    with _Server(socket_path, App(args.directory, args.label)) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
