"""The engine API client against a small HTTP server on a Unix socket (framing and limits)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tessera.containers.engine import ContainerInfo, Engine, EngineError

Handler = Callable[[str, asyncio.StreamWriter], Awaitable[None]]
ID = "c" * 64
INSPECT = {
    "Id": ID,
    "Name": "/web-1",
    "Image": "sha256:" + "d" * 64,
    "Config": {"Image": "localhost/web:1", "Labels": {"app": "web"}},
    "State": {"Running": True, "Pid": 4242},
}


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


async def serve(path: Path, handler: Handler) -> asyncio.Server:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readline()).decode()
        while (await reader.readline()).strip():
            pass
        await handler(request.split()[1], writer)
        await writer.drain()
        writer.close()

    return await asyncio.start_unix_server(on_connection, path)


def run(short_tmp: Path, handler: Handler, use: Callable[[Engine], Awaitable[object]]) -> object:
    async def main() -> object:
        path = short_tmp / "api.sock"
        async with await serve(path, handler):
            return await use(Engine(path))

    return asyncio.run(main())


def test_inspect_and_list_chunked_or_by_length(short_tmp: Path) -> None:
    async def handler(target: str, writer: asyncio.StreamWriter) -> None:
        body = json.dumps(INSPECT if target.endswith(f"{ID}/json") else [{"Id": ID}]).encode()
        if target.startswith("/containers/json"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(chunked(body[:10], body[10:]))

    async def use(engine: Engine) -> object:
        return await engine.running(), await engine.inspect(ID)

    assert run(short_tmp, handler, use) == (
        [ID],
        ContainerInfo(
            ID, "web-1", "localhost/web:1", "sha256:" + "d" * 64, {"app": "web"}, True, 4242
        ),
    )


def test_unknown_container_is_none_and_errors_are_one_line(short_tmp: Path) -> None:
    async def handler(target: str, writer: asyncio.StreamWriter) -> None:
        status = b"404 Not Found" if "containers/" in target else b"500 Oops"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")

    async def use(engine: Engine) -> object:
        assert await engine.inspect(ID) is None
        with pytest.raises(EngineError, match="HTTP 500"):
            await engine.subscribe()
        return None

    run(short_tmp, handler, use)


def test_events_split_anywhere_are_decoded_one_by_one(short_tmp: Path) -> None:
    events = b'{"Action":"start","Actor":{"ID":"1"}}\n{"Action":"die",' + b'"Actor":{"ID":"2"}}\n'

    async def handler(_: str, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunked(events[:7], events[7:50], events[50:]))

    async def use(engine: Engine) -> object:
        stream = await engine.subscribe()
        seen = [await stream.next(), await stream.next()]
        with pytest.raises(EngineError, match="closed"):
            await stream.next()
        stream.close()
        return seen

    seen = run(short_tmp, handler, use)
    assert [e["Action"] for e in seen] == ["start", "die"]  # type: ignore[attr-defined]


def test_oversized_and_malformed_answers_are_refused(short_tmp: Path) -> None:
    async def handler(target: str, writer: asyncio.StreamWriter) -> None:
        if "containers/json" in target:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnope")

    async def use(engine: Engine) -> object:
        with pytest.raises(EngineError, match="too large"):
            await engine.running()
        with pytest.raises(EngineError, match="not JSON"):
            await engine.inspect(ID)
        return None

    run(short_tmp, handler, use)


def test_no_engine_is_a_one_line_error(short_tmp: Path) -> None:
    with pytest.raises(EngineError, match="no engine at"):
        asyncio.run(Engine(short_tmp / "absent.sock").running())
