"""One client connection: bytes in, frames through the dispatcher, responses out, in order.

Protocol-level I/O (no streams): `data_received` feeds the sans-I/O frame reader, fast requests
are answered inline, and requests whose provider may block go to the fair scheduler (a turn per
tenant on the worker pool) while reading from this connection pauses, so responses keep the
order of requests and a flooding client cannot grow our buffers. A slow request still waiting
when its client goes is dropped, not run.

A connection has no timer of its own: most live for one request, and arming and cancelling a
timer for each cost more than the request's framing. The listener sweeps its connections a few
times per shortest timeout (`check_deadline`); a deadline is acted on at most one sweep late.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from tessera.daemon.budget import AnswerBudget
from tessera.daemon.handler import Prepared, RequestHandler
from tessera.daemon.peer import peer_credentials
from tessera.daemon.scheduler import FairScheduler, QueueFullError
from tessera.trust.peer import PeerCredentials
from tessera.wire.framing import Event, Frame, FrameReader, FramingError, Limits
from tessera.wire.header import FLAG_KEEP_ALIVE
from tessera.wire.status import Status

if TYPE_CHECKING:
    import socket


log = logging.getLogger(__name__)

_DRAIN_GRACE = 0.05  # seconds an idle connection may still deliver a request at shutdown
# The next answer is produced only once the previous one has gone out entirely: a client that
# does not read holds at most one answer, which the answer budget accounts for.
WRITE_BUFFER_HIGH = 0


@dataclass(frozen=True, slots=True, eq=False)  # each one its own (a budget holder)
class Resumption:
    """Where the listener left a connection it began serving before it had a transport: the
    bytes it read, a slow request it admitted, or the end of an answer it could not write."""

    data: bytes = b""
    admitted: tuple[Prepared, Frame] | None = None
    unsent: bytes = b""


class Connection(asyncio.Protocol):
    """Serves the requests of one connected client."""

    __slots__ = (
        "_budget",
        "_busy",
        "_closing",
        "_dispatcher",
        "_draining",
        "_eof",
        "_first_byte_timeout",
        "_frame_started",
        "_idle_timeout",
        "_job",
        "_last_activity",
        "_loop",
        "_on_close",
        "_on_open",
        "_peer",
        "_peer_start_time",
        "_pending",
        "_reader",
        "_reading_paused",
        "_received_any",
        "_request_timeout",
        "_resumption",
        "_scheduler",
        "_stall_timer",
        "_transport",
        "_writing_paused",
    )

    def __init__(
        self,
        dispatcher: RequestHandler[Any],
        scheduler: FairScheduler,
        limits: Limits,
        *,
        request_timeout: float,
        idle_timeout: float,
        on_close: Callable[[Connection], None],
        first_byte_timeout: float | None = None,
        on_open: Callable[[Connection, PeerCredentials | None], bool] | None = None,
        budget: AnswerBudget | None = None,
        peer_start_time: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        resumption: Resumption | None = None,
    ) -> None:
        self._resumption = resumption  # acted on once reading has started (connection_made)
        self._budget = budget if budget is not None else AnswerBudget()
        # A connection that has sent nothing yet is closed after this: a silent one must not
        # hold a slot for the whole idle timeout.
        self._first_byte_timeout = (
            idle_timeout if first_byte_timeout is None else first_byte_timeout
        )
        self._on_open = on_open
        self._received_any = False
        self._peer_start_time = peer_start_time
        self._dispatcher = dispatcher
        self._scheduler = scheduler
        self._job: asyncio.Future[Any] | None = None  # the slow request waiting or running
        self._reader = FrameReader(limits)
        self._request_timeout = request_timeout
        self._idle_timeout = idle_timeout
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        self._peer: PeerCredentials | None = None
        self._pending: deque[Event] = deque()
        self._busy = False  # a blocking request is running on the executor
        self._closing = False
        self._eof = False
        self._draining = False
        self._reading_paused = False
        self._writing_paused = False
        self._stall_timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._frame_started = 0.0
        # Given by the listener: each get_running_loop() costs a getpid() system call.
        self._loop = loop or asyncio.get_running_loop()

    @property
    def in_flight(self) -> bool:
        """True while a request is received but not yet answered."""
        return self._busy or bool(self._pending)

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=0)
        sock = cast("socket.socket | None", transport.get_extra_info("socket"))
        self._peer = (
            peer_credentials(sock, start_time=self._peer_start_time) if sock is not None else None
        )
        self._last_activity = self._loop.time()
        if self._on_open is not None and not self._on_open(self, self._peer):
            self._closing = True
            self._transport.abort()  # refused: nothing was read, nothing is owed
        elif self._resumption is not None:
            # Not here: uvloop starts reading once this returns, whatever pause was asked
            # before. On the next turn, or before the first bytes or EOF if they come first.
            self._loop.call_soon(self._take_resumption)

    @property
    def resuming(self) -> bool:
        """True until the listener's `Resumption` is acted on (the connection was admitted
        when it was accepted: it is not refused again)."""
        return self._resumption is not None

    def _take_resumption(self) -> None:
        resumption, self._resumption = self._resumption, None
        if resumption is None:
            return
        try:
            if self._closing:
                pass  # closed first (a deadline, shutdown): nothing is owed any more
            elif resumption.unsent:
                self._send(resumption.unsent, keep=False)
            elif resumption.admitted is not None:
                self._received_any = True
                self._run_blocking(*resumption.admitted)
                self._update_reading()
            elif resumption.data:
                self._feed(resumption.data)
        except Exception:  # as a failing data_received would: the connection ends, not leaks
            log.exception("could not go on with a connection")
            self.abort()
        finally:
            # The bytes it held are this connection's now, or nobody's.
            self._budget.release(resumption)

    def data_received(self, data: bytes) -> None:
        if self._resumption is not None:
            self._take_resumption()  # what was read before comes first
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        if self._closing:
            return
        now = self._loop.time()
        self._last_activity = now
        self._received_any = True
        was_empty = self._reader.buffered == 0
        events = self._reader.feed(data)
        if self._reader.buffered and (was_empty or events):
            self._frame_started = now  # the partial frame now buffered began in this chunk
        self._pending.extend(events)
        self._pump()

    def eof_received(self) -> bool | None:
        if self._resumption is not None:
            self._take_resumption()
        self._eof = True
        error = self._reader.end_of_stream()
        if error is not None and not self._closing:
            self._pending.append(error)
        self._pump()
        return True  # keep the transport half-open so queued responses still go out

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._budget.forget(self)
        if self._resumption is not None:
            self._budget.release(self._resumption)
            self._resumption = None
        if self._job is not None:
            self._job.cancel()  # not yet started: never runs; running: its answer is dropped
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self._on_close(self)

    def pause_writing(self) -> None:
        # The client is not reading its answers: stop producing more until it does, and give
        # up on it if it stays stalled (answers must not pile up in memory).
        self._writing_paused = True
        self._update_reading()
        if self._stall_timer is None:
            self._stall_timer = self._loop.call_later(self._idle_timeout, self._stalled)

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._budget.release(self)  # the write buffer is empty again
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self._pump()

    def _stalled(self) -> None:
        self._stall_timer = None
        if self._writing_paused and self._transport is not None:
            log.info("closing a connection whose client stopped reading its answers")
            self._closing = True
            self._transport.abort()

    # serving

    def close(self) -> None:
        """Close after whatever is queued for writing has gone out."""
        if not self._closing and self._transport is not None:
            self._closing = True
            self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping whatever is queued (the connection cannot be served)."""
        if self._transport is not None:
            self._closing = True
            self._transport.abort()

    def drain(self) -> None:
        """Shutdown has begun: answer what is received or arriving, then close.

        Requests already received are answered. An idle connection gets a short grace so that
        a request its client sent just before the stop (still in the socket buffer) is read
        and answered too, rather than dropped.
        """
        self._draining = True
        self._update_reading()
        if not self.in_flight and self._reader.buffered == 0 and not self._closing:
            self._loop.call_later(_DRAIN_GRACE, self._close_if_quiet)

    def _close_if_quiet(self) -> None:
        if not self.in_flight and self._reader.buffered == 0:
            self.close()

    @property
    def _uid(self) -> int | None:
        return self._peer.uid if self._peer is not None else None

    def _pump(self) -> None:
        while self._pending and not self._busy and not self._closing and not self._writing_paused:
            if not self._budget.allows(self._uid):
                self._budget.wait(self, self._uid, self._pump)  # others' answers drain first
                break
            event = self._pending.popleft()
            if isinstance(event, FramingError):
                self._send(self._dispatcher.framing_error(event), keep=self._keeps(event))
                continue
            admitted = self._dispatcher.admit(event, self._peer)
            if isinstance(admitted, bytes):
                self._send(admitted, keep=self._keeps(event))
            elif admitted.blocking:
                self._run_blocking(admitted, event)
            else:
                self._send(self._dispatcher.execute(admitted), keep=self._keeps(event))
        if self._eof and not self.in_flight:
            self.close()  # the client sent all it will send and has every answer
        self._update_reading()

    def _tenant(self, admitted: Prepared) -> Hashable:
        # A request path may name the tenant (the service: the application); else the peer's uid.
        tenant: Hashable | None = getattr(admitted, "tenant", None)
        if tenant is not None:
            return tenant
        return ("uid", self._peer.uid if self._peer is not None else None)

    def _run_blocking(self, admitted: Prepared, frame: Frame) -> None:
        try:
            future = self._scheduler.submit(
                self._tenant(admitted), lambda: self._dispatcher.execute(admitted)
            )
        except QueueFullError:
            error = FramingError(Status.PSA_ERROR_INSUFFICIENT_MEMORY, frame.header)
            self._send(self._dispatcher.framing_error(error), keep=self._keeps(frame))
            return
        self._busy = True
        self._job = future

        def done(finished: asyncio.Future[bytes]) -> None:
            self._busy = False
            self._job = None
            if finished.cancelled():
                return  # the client has gone
            try:
                response = finished.result()
            except Exception:  # execute() answers every failure itself; this is a last resort
                log.exception("request worker failed")
                response = self._dispatcher.framing_error(
                    FramingError(Status.PSA_ERROR_GENERIC_ERROR, frame.header)
                )
            self._send(response, keep=self._keeps(frame))
            self._pump()

        future.add_done_callback(done)

    def _keeps(self, event: Event) -> bool:
        if isinstance(event, Frame):
            return bool(event.header.flags & FLAG_KEEP_ALIVE)
        return not event.fatal and bool(event.flags & FLAG_KEEP_ALIVE)

    def _send(self, response: bytes, *, keep: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            self._closing = True
            return
        self._transport.write(response)
        unread = self._transport.get_write_buffer_size()
        if unread:
            self._budget.hold(self, self._uid, unread)
        self._last_activity = self._loop.time()
        if not keep or (self._draining and not self._pending):
            # One request per connection unless the client asked otherwise: Parsec's clients
            # (the Go client reads until EOF) rely on the close.
            self._pending.clear()
            self.close()

    def _update_reading(self) -> None:
        if self._transport is None or self._closing:
            return
        should_pause = self._writing_paused or self._busy or len(self._pending) > 0
        if should_pause and not self._reading_paused:
            self._transport.pause_reading()
            self._reading_paused = True
        elif not should_pause and self._reading_paused:
            self._transport.resume_reading()
            self._reading_paused = False

    # timeouts: a started request must arrive whole within request_timeout; a connection that
    # has sent nothing is closed after first_byte_timeout, one with nothing under way after
    # idle_timeout. The request path only records times; the listener's sweep acts on them.

    def _deadline(self) -> float:
        if self._reader.buffered > 0:
            return self._frame_started + self._request_timeout
        if not self._received_any:
            return self._last_activity + self._first_byte_timeout
        return self._last_activity + self._idle_timeout

    def check_deadline(self, now: float) -> None:
        """Close the connection if its current deadline has passed (a request in flight has
        none: the clock starts again when it is answered)."""
        if self._closing or self.in_flight or now < self._deadline():
            return
        if self._reader.buffered > 0:
            # As Parsec on a read timeout: answer ConnectionError, then close.
            error = self._reader.end_of_stream()
            if error is not None:
                self._send(self._dispatcher.framing_error(error), keep=False)
        self.close()
