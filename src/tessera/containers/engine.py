"""The container engine's Docker-compatible REST API, over its Unix socket.

podman (`podman system service`) and dockerd both serve it, so one client follows either: the
container list, a container's inspection, and the event stream. Plain HTTP/1.1 on a Unix socket,
one connection per request (`Connection: close`); bodies by Content-Length, chunked, or to the
end. Sizes are capped: the engine is trusted, but a broken one must not exhaust memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

MAX_BODY = 8 << 20
MAX_EVENT_BUFFER = 1 << 20
LINE_LIMIT = 64 << 10
TIMEOUT = 10.0  # seconds for one request (not the event stream)
EVENT_FILTER = quote(json.dumps({"type": ["container"]}))


class EngineError(RuntimeError):
    """The engine cannot be reached, or answered something unusable."""


@dataclass(frozen=True)
class ContainerInfo:
    """What the engine says about one container (the engine is trusted; its workload is not)."""

    id: str
    name: str
    image: str  # the name it was started from, as the engine reports it
    digest: str  # the image's content digest (`sha256:...`), never its tag
    labels: dict[str, str] = field(default_factory=dict)
    running: bool = False
    pid: int = 0  # its first process, in the engine's (the host's) pid namespace

    @classmethod
    def from_inspect(cls, document: Any) -> ContainerInfo:
        """From `GET /containers/{id}/json`; EngineError if it is not such a document."""
        try:
            config = document.get("Config") or {}
            state = document.get("State") or {}
            labels = config.get("Labels") or {}
            info = cls(
                id=str(document["Id"]),
                name=str(document.get("Name", "")).lstrip("/"),
                image=str(config.get("Image") or ""),
                digest=str(document.get("Image") or ""),
                labels={str(k): str(v) for k, v in labels.items()},
                running=bool(state.get("Running")),
                pid=int(state.get("Pid") or 0),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            raise EngineError("the engine's container inspection is malformed") from None
        return info


class Engine:
    """A client of one engine's API socket."""

    def __init__(self, socket_path: Path, api_version: str | None = None) -> None:
        self.socket_path = socket_path
        # Unversioned paths get the engine's own version: podman and every dockerd (whose
        # oldest accepted version rises over time) serve them; the fields used are stable.
        self._prefix = f"/{api_version}" if api_version else ""

    async def running(self) -> list[str]:
        """The ids of the running containers."""
        listed = await self._get_json("/containers/json")
        if not isinstance(listed, list):
            raise EngineError("the engine's container list is malformed")
        return [str(entry["Id"]) for entry in listed if isinstance(entry, dict) and "Id" in entry]

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        """One container; None if the engine does not know it (any more)."""
        try:
            document = await self._get_json(f"/containers/{quote(container_id, safe='')}/json")
        except _NotFoundError:
            return None
        return ContainerInfo.from_inspect(document)

    async def subscribe(self) -> EventStream:
        """The engine's container events from now on (the request is answered before this
        returns, so nothing that happens after it is missed)."""
        reader, writer, headers = await self._request(f"/events?filters={EVENT_FILTER}")
        return EventStream(_body(reader, headers, limit=None), writer)

    async def _get_json(self, path: str) -> Any:
        try:
            async with asyncio.timeout(TIMEOUT):
                reader, writer, headers = await self._request(path)
                try:
                    body = b"".join([chunk async for chunk in _body(reader, headers)])
                finally:
                    writer.close()
        except TimeoutError:
            raise EngineError(f"the engine did not answer {path} in time") from None
        try:
            return json.loads(body)
        except ValueError:
            raise EngineError(f"the engine's answer to {path} is not JSON") from None

    async def _request(
        self, path: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]]:
        try:
            reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=LINE_LIMIT)
        except OSError as error:
            raise EngineError(f"no engine at {self.socket_path}: {error.strerror}") from None
        try:
            writer.write(
                f"GET {self._prefix}{path} HTTP/1.1\r\nHost: engine\r\nUser-Agent: tessera\r\n"
                "Accept: application/json\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status, headers = await _head(reader)
        except OSError as error:
            writer.close()
            raise EngineError(f"the engine connection broke: {error}") from None
        except BaseException:
            writer.close()
            raise
        if status != 200:
            writer.close()
            if status == 404:
                raise _NotFoundError(path)
            raise EngineError(f"the engine answered {path} with HTTP {status}")
        return reader, writer, headers


class EventStream:
    """Decoded events, one JSON object at a time."""

    def __init__(self, chunks: AsyncIterator[bytes], writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._chunks = chunks
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    async def next(self) -> dict[str, Any]:
        """The next event; EngineError when the stream ends (the engine went away)."""
        while True:
            text = self._buffer.lstrip()
            self._buffer = text
            if text:
                try:
                    event, end = self._decoder.raw_decode(text)
                except ValueError:
                    pass  # incomplete: read more
                else:
                    self._buffer = text[end:]
                    if isinstance(event, dict):
                        return event
                    continue
            if len(self._buffer) > MAX_EVENT_BUFFER:
                raise EngineError("the engine sent an oversized event")
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                raise EngineError("the engine closed its event stream") from None
            self._buffer += chunk.decode(errors="replace")

    def close(self) -> None:
        """Stop following."""
        with contextlib.suppress(Exception):
            self._writer.close()


class _NotFoundError(EngineError):
    pass


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):
        raise EngineError("the engine sent an oversized line") from None
    except OSError as error:
        raise EngineError(f"the engine connection broke: {error}") from None
    if not line:
        raise EngineError("the engine closed the connection")
    return line


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The status code and headers (names lower-cased)."""
    parts = (await _line(reader)).decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise EngineError("the engine does not speak HTTP/1.1 on that socket")
    headers: dict[str, str] = {}
    for _ in range(200):
        line = (await _line(reader)).decode("latin-1").strip()
        if not line:
            return int(parts[1]), headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raise EngineError("the engine sent too many headers")


async def _body(
    reader: asyncio.StreamReader, headers: dict[str, str], limit: int | None = MAX_BODY
) -> AsyncIterator[bytes]:
    """The body's bytes as they come: chunked, by Content-Length, or to the end."""
    total = 0
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = _chunks(reader)
        elif "content-length" in headers:
            parts = _exactly(reader, int(headers["content-length"]))
        else:
            parts = _to_end(reader)
        async for part in parts:
            total += len(part)
            if limit is not None and total > limit:
                raise EngineError("the engine's answer is too large")
            yield part
    except asyncio.IncompleteReadError:
        raise EngineError("the engine closed the connection mid-answer") from None
    except ValueError:
        raise EngineError("the engine sent a malformed chunk size or length") from None
    except OSError as error:
        raise EngineError(f"the engine connection broke: {error}") from None


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while size := int((await _line(reader)).split(b";", 1)[0].strip(), 16):
        if size > MAX_BODY:
            raise EngineError("the engine sent an oversized chunk")
        chunk = await reader.readexactly(size + 2)  # the data and its CRLF
        yield chunk[:-2]


async def _exactly(reader: asyncio.StreamReader, length: int) -> AsyncIterator[bytes]:
    if not 0 <= length <= MAX_BODY:
        raise EngineError("the engine's answer is too large")
    yield await reader.readexactly(length)


async def _to_end(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await reader.read(65536):
        yield chunk
