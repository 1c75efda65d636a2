"""Accepting connections on the listening socket, in batches, from an event loop's reader.

The listener accepts itself (rather than through the loop's server) so that it can read a new
connection's first bytes before the loop gives it a transport: most of Parsec's clients open a
connection per request and have sent it by the time it is accepted, and such a request is
answered there and then (listener.py). A transport, a protocol object and the registration of
the descriptor with the loop are made only for connections that need them.

Running out of descriptors (EMFILE and friends) leaves the pending connection in the backlog,
and the listening socket stays readable: accepting pauses for a moment instead of spinning.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable

from tessera.daemon.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)

# Connections accepted per wake-up: enough to empty the backlog of a busy service in a few
# turns, few enough that connections already open get their turn in between.
ACCEPTS_PER_TURN = 16
# How long accepting pauses when the process (or the system) has no descriptor or memory left.
RESOURCE_PAUSE = 0.1
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Acceptor:
    """Hands each connection accepted on `listening` to `on_accept`, as a blocking socket
    object of its own (reads and writes on it pass MSG_DONTWAIT)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listening: socket.socket,
        on_accept: Callable[[_socket.socket], None],
    ) -> None:
        self._loop = loop
        self._listening = listening
        self._on_accept = on_accept
        self._fd = listening.fileno()
        self._errors = RateLimitedLog(log)
        self._resume: asyncio.TimerHandle | None = None
        self._open = True
        listening.setblocking(False)
        loop.add_reader(self._fd, self._accept_some)

    def _accept_some(self) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                fd, _address = self._listening._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # the backlog is empty, or the client gave up before we got to it
            except OSError as error:
                if error.errno in _OUT_OF_RESOURCES:
                    self._errors.warning("accepting paused: %s", error.strerror)
                    self._pause()
                else:
                    self._errors.warning("could not accept a connection: %s", error)
                return
            try:
                connection = _socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fd)
            except OSError:
                with contextlib.suppress(OSError):
                    _socket.close(fd)
                continue
            try:
                self._on_accept(connection)
            except Exception:  # one connection's failure must not stop the service accepting
                log.exception("could not serve a new connection")
                connection.close()

    def _pause(self) -> None:
        self._loop.remove_reader(self._fd)
        self._resume = self._loop.call_later(RESOURCE_PAUSE, self._unpause)

    def _unpause(self) -> None:
        self._resume = None
        if self._open:
            self._loop.add_reader(self._fd, self._accept_some)

    def close(self) -> None:
        """Stop accepting and close the listening socket (its file stays: the listener's)."""
        if not self._open:
            return
        self._open = False
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        else:
            self._loop.remove_reader(self._fd)
        self._listening.close()
