"""What the service's master and its worker processes say to each other.

The master writes orders to a worker's stdin: `Start` once (the configuration, the worker's
index, the listening socket's descriptor number), then `Reload` whenever the configuration was
read again. Each order is a 4-byte length and a pickle: the pipe joins a process to the child it
started, no one else holds either end, and a configuration is a tree of plain dataclasses that
pickle keeps exactly. The end of the pipe tells the worker that its master has gone.
The worker answers on its stdout with one line: `ready`, or `error <one-line reason>`; and
`published` after each `Publish` (its metrics copied for the master to serve).
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from dataclasses import dataclass
from typing import BinaryIO

from tessera.service.config import ServiceConfig

__all__ = ["READY", "Publish", "Reload", "Start", "encode", "read_first", "read_order"]

READY = "ready"
ERROR = "error"
PUBLISHED = "published"
_LENGTH = struct.Struct("<I")
MAX_ORDER = 16 << 20  # a configuration is a few KiB; anything near this is a broken pipe


@dataclass(frozen=True)
class Start:
    """The first order: serve `config` on the inherited descriptor `fd`, as worker `index`."""

    config: ServiceConfig
    index: int
    fd: int


@dataclass(frozen=True)
class Reload:
    """Take up a configuration read again (SIGHUP)."""

    config: ServiceConfig


@dataclass(frozen=True)
class Publish:
    """Copy the metrics read at scrape time into the shared files now, then say PUBLISHED
    (the master is answering a scrape)."""


Order = Start | Reload | Publish


def encode(order: Order) -> bytes:
    """One order as written to the pipe."""
    body = pickle.dumps(order, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


def _decode(body: bytes) -> Order:
    order = pickle.loads(body)  # noqa: S301 - from our own parent over a private pipe
    if not isinstance(order, Start | Reload | Publish):
        raise ValueError(f"not an order: {type(order).__name__}")
    return order


def _checked(prefix: bytes) -> int:
    length: int = _LENGTH.unpack(prefix)[0]
    if length > MAX_ORDER:
        raise ValueError(f"an order of {length} bytes")
    return length


def read_first(stream: BinaryIO) -> Start:
    """The Start order, read blocking (before the worker's event loop runs)."""
    prefix = _read_exactly(stream, _LENGTH.size)
    length = _checked(prefix)
    order = _decode(_read_exactly(stream, length))
    if not isinstance(order, Start):
        raise ValueError("the first order is not Start")
    return order


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("the master closed the pipe")
        data += chunk
    return data


async def read_order(reader: asyncio.StreamReader) -> Order | None:
    """The next order; None once the master has gone (end of the pipe)."""
    try:
        prefix = await reader.readexactly(_LENGTH.size)
        length = _checked(prefix)
        return _decode(await reader.readexactly(length))
    except asyncio.IncompleteReadError:
        return None
