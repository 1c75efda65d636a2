"""A tenant for the chaos test: works in a loop and reports every failure it sees.

`python -m tests.integration.chaos_app RESULTS_FILE [--async]` signs and verifies with a
durable key, creates keys (generated and imported), uses them, destroys the oldest, until the
file RESULTS_FILE.stop appears; then it compares the keys it believes it has with what the
service lists and exits. After every step it rewrites RESULTS_FILE (JSON): operations done,
every failure (one line each), its keys, and at the end the keys lost (believed, not listed)
and the keys left over (listed, not believed). It uses the client library with its defaults,
as a well-behaved application would: any error that reaches it is a failure.

SIGTERM (the orchestrator stopping its applications) ends it after the current operation; a
tenant started again resumes from RESULTS_FILE, and first settles the creation or destruction
it was stopped in (if any) by listing its keys: that one was its own doing, not the library's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

import tessera

T = TypeVar("T")
KEEP = 3  # created keys kept at once: the oldest beyond these is destroyed
PAUSE = 0.05  # between rounds: several tenants share the machine with the daemons


class Tenant:
    """The loop's state, persisted after every step (a restarted tenant would be a failure)."""

    def __init__(self, results: Path) -> None:
        self.results = results
        previous = _read(results)
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "starts": previous.get("starts", 0) + 1,
            "done": previous.get("done", 0),
            "failures": previous.get("failures", []),
            "keys": previous.get("keys", []),
            "round": previous.get("round", 0),
            "slowest": previous.get("slowest", 0.0),  # seconds, the longest operation
            "pending": previous.get("pending"),  # [verb, key] of a creation or destruction
        }
        self.terminated = False
        signal.signal(signal.SIGTERM, self._terminate)

    def _terminate(self, signum: int, frame: object) -> None:
        self.terminated = True

    def record(self, **changes: Any) -> None:
        self.state.update(changes, at=time.time())
        temporary = self.results.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state))
        os.replace(temporary, self.results)

    def failed(self, what: str, error: tessera.TesseraError) -> None:
        line = f"{time.strftime('%H:%M:%S')} {what}: {type(error).__name__}: {error}"
        self.state["failures"].append(line)
        self.record()

    @property
    def stopping(self) -> bool:
        return self.terminated or self.results.with_suffix(".stop").exists()


class TerminatedError(Exception):
    """SIGTERM arrived: no further operation is started."""


class AnyKey(Protocol):
    """What the workload uses of a key: `tessera.AsyncKey`, or a blocking `Key` in `Blocking`."""

    @property
    def name(self) -> str: ...

    async def sign(self, data: bytes) -> bytes: ...

    async def verify(self, signature: bytes, data: bytes) -> None: ...

    async def public_key(self) -> object: ...

    async def destroy(self) -> None: ...


class AnyClient(Protocol):
    """What the workload uses of a client: `tessera.AsyncClient`, or `Blocking`."""

    async def key(self, name: str) -> AnyKey: ...

    async def generate_key(self, name: str) -> AnyKey: ...

    async def import_key(self, name: str, key: ec.EllipticCurvePrivateKey) -> AnyKey: ...

    async def keys(self) -> Sequence[AnyKey]: ...


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


async def work(tenant: Tenant, client: AnyClient) -> None:
    """The workload; a blocking client runs it through `Blocking` (same code, same steps)."""
    await _settle_pending(tenant, client)
    durable = await step(tenant, "durable key", _durable(client))
    while not tenant.stopping:
        n = tenant.state["round"]
        message = f"round {n}".encode()
        if durable is not None:
            await step(tenant, "sign and verify", _sign_verify(durable, message))
        name = f"k{tenant.state['starts']}-{n}"  # a run stopped mid-round does not reuse it
        tenant.record(pending=["create", name])
        if n % 4 == 3:
            made = await step(tenant, f"import {name}", _import(client, name))
        else:
            made = await step(tenant, f"generate {name}", client.generate_key(name))
        if made is not None:
            tenant.state["keys"].append(name)
        tenant.record(pending=None)
        if made is not None:
            await step(tenant, f"use {name}", _sign_verify(made, message))
        if len(tenant.state["keys"]) > KEEP:
            oldest = tenant.state["keys"][0]
            tenant.record(pending=["destroy", oldest])
            if await step(tenant, f"destroy {oldest}", _destroy(client, oldest)):
                tenant.state["keys"].pop(0)
            tenant.record(pending=None)
        tenant.record(round=n + 1)
        await asyncio.sleep(PAUSE)
    if tenant.terminated:
        return
    listed = await step(tenant, "list keys", client.keys())
    if listed is not None:
        names = {k.name for k in listed} - {"durable"}
        believed = set(tenant.state["keys"])
        tenant.record(lost=sorted(believed - names), left_over=sorted(names - believed))


async def _settle_pending(tenant: Tenant, client: AnyClient) -> None:
    """A previous run stopped (SIGTERM, then SIGKILL) inside a creation or destruction: what
    the service lists decides whether it took effect."""
    if not tenant.state["pending"]:
        return
    _, name = tenant.state["pending"]
    listed = await step(tenant, "list keys", client.keys())
    if listed is None:
        return
    keys: list[str] = tenant.state["keys"]
    if name in {k.name for k in listed} and name not in keys:
        keys.append(name)
    elif name not in {k.name for k in listed} and name in keys:
        keys.remove(name)
    tenant.record(pending=None)


async def step(tenant: Tenant, what: str, operation: Coroutine[Any, Any, T]) -> T | None:
    """Run one operation; count it, or record its failure (and go on)."""
    if tenant.terminated:
        operation.close()
        raise TerminatedError
    started = time.monotonic()
    try:
        result = await operation
    except tessera.TesseraError as error:
        tenant.failed(what, error)
        return None
    tenant.state["done"] += 1
    tenant.state["slowest"] = max(tenant.state["slowest"], time.monotonic() - started)
    return result


async def _durable(client: AnyClient) -> AnyKey:
    try:
        return await client.key("durable")
    except tessera.DoesNotExistError:
        return await client.generate_key("durable")


async def _sign_verify(key: AnyKey, message: bytes) -> None:
    await key.verify(await key.sign(message), message)


async def _import(client: AnyClient, name: str) -> AnyKey:
    private = ec.generate_private_key(ec.SECP256R1())
    key = await client.import_key(name, private)
    if await key.public_key() != private.public_key():
        raise tessera.ProtocolError(f"imported key {name!r} has another public key")
    return key


async def _destroy(client: AnyClient, name: str) -> bool:
    await (await client.key(name)).destroy()
    return True


class BlockingKey:
    """A blocking `tessera.Key` as an `AnyKey`."""

    def __init__(self, key: tessera.Key) -> None:
        self._key = key

    @property
    def name(self) -> str:
        return self._key.name

    async def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    async def verify(self, signature: bytes, data: bytes) -> None:
        self._key.verify(signature, data)

    async def public_key(self) -> object:
        return self._key.public_key()

    async def destroy(self) -> None:
        self._key.destroy()


class Blocking:
    """`tessera.Client` as an `AnyClient`: every call blocks (nothing else runs on this event
    loop), so the blocking client is what is exercised."""

    def __init__(self, client: tessera.Client) -> None:
        self._client = client

    async def key(self, name: str) -> AnyKey:
        return BlockingKey(self._client.key(name))

    async def generate_key(self, name: str) -> AnyKey:
        return BlockingKey(self._client.generate_key(name))

    async def import_key(self, name: str, key: ec.EllipticCurvePrivateKey) -> AnyKey:
        return BlockingKey(self._client.import_key(name, key))

    async def keys(self) -> Sequence[AnyKey]:
        return [BlockingKey(k) for k in self._client.keys()]  # noqa: SIM118


async def main_async(results: Path, use_async: bool) -> None:
    tenant = Tenant(results)
    tenant.record()
    try:
        if use_async:
            async with tessera.AsyncClient() as client:
                await work(tenant, client)
        else:
            with tessera.Client() as blocking:
                await work(tenant, Blocking(blocking))
    except TerminatedError:
        pass
    tenant.record()


def main() -> int:
    results = Path(sys.argv[1])
    asyncio.run(main_async(results, "--async" in sys.argv[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
