"""Opt-in metrics and health for every daemon: Prometheus text format over HTTP/1.0, served
from the daemon's own event loop on a Unix socket and/or a port on 127.0.0.1.

Counting happens at one boundary, the front end's request handler (`InstrumentedHandler`), by
reading opcode, status and provider back from the response header every daemon writes: the
request paths stay unaware of metrics, and an idle feature costs nothing (no wrapper when off).
Everything else (connections, keys, rotations, tokens, restarts) is read when scraped, from
plain counts the daemon keeps anyway. Labels never name keys, applications or users.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tessera._version import __version__
from tessera.daemon.handler import RequestHandler
from tessera.daemon.metrics_config import MetricsConfig
from tessera.daemon.socket_file import bind_socket, unlink_socket
from tessera.trust.peer import PeerCredentials
from tessera.wire.contracts import OPERATIONS
from tessera.wire.framing import Frame, FramingError
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status

if TYPE_CHECKING:
    from tessera.trust.trusted_side import TrustedSide

log = logging.getLogger(__name__)

# Where provider, opcode and status sit in a 1.0 response header (wire/header.py): every
# response this process writes is one, so the offsets are fixed.
_PROVIDER_AT = 10
_OPCODE_STATUS = struct.Struct("<IH")
_OPCODE_AT = 28
_KNOWN_OPCODES = frozenset(int(op) for op in Opcode)
_UNKNOWN = -1  # any opcode we do not serve: one series, whatever a client sends
# Sub-millisecond core operations up to multi-second RSA-4096 generation.
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
            0.5, 1.0, 2.5, 5.0, 10.0, 30.0)  # fmt: skip
_PUBLISH_INTERVAL = 1.0  # seconds between a worker's copies of its readings
# How a gauge of several processes adds up (Gauge.multiprocess_mode): connections open sum over
# the live workers; a reading every worker takes from one shared source (the key store) is the
# same in each, so its largest is the value.
SharedAs = Literal["livesum", "livemax"]
_READ_TIMEOUT = 5.0  # seconds a scraper has to send its request line and headers
_MAX_HEADER_LINES = 64


def _parsec_name(name: str) -> str:
    return name.title().replace("_", "")  # PSA_ERROR_NOT_SUPPORTED -> PsaErrorNotSupported


def _opcode_label(value: int) -> str:
    # PsaSignHash, as Parsec names it (the registry's name for the operation).
    return "unknown" if value == _UNKNOWN else OPERATIONS[Opcode(value)].name


def _status_label(value: int) -> str:
    try:
        return _parsec_name(Status(value).name)
    except ValueError:
        return str(value)


Reading = Callable[[], float | Mapping[str, float]]


class _Readings(Collector):
    """Values read at scrape time from callables: gauges and counters the daemon keeps."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, str, bool, str, Reading]] = []
        self._shared_as: dict[str, SharedAs] = {}
        self._published: dict[str, tuple[Counter | Gauge, dict[str, float]]] = {}

    def add(
        self,
        name: str,
        doc: str,
        read: Reading,
        *,
        counter: bool,
        label: str,
        shared_as: SharedAs = "livesum",
    ) -> None:
        self._entries.append((name, doc, counter, label, read))
        self._shared_as[name] = shared_as

    def _read(self, name: str, read: Reading) -> float | Mapping[str, float] | None:
        try:
            return read()
        except Exception:  # a failing source must not fail the whole scrape
            log.exception("metric %s could not be read", name)
            return None

    def publish(self) -> None:
        """Copy every reading into prometheus_client's multi-process files (a worker's part:
        its master serves the sums). Counters advance by what they grew since the last copy;
        gauges count while their process lives, the key count is the latest any wrote."""
        for name, doc, counter, label, read in self._entries:
            value = self._read(name, read)
            if value is None:
                continue
            values = dict(value) if isinstance(value, Mapping) else {"": value}
            if name not in self._published:
                labels = [label] if label else []
                metric: Counter | Gauge = (
                    Counter(name, doc, labels, registry=None)
                    if counter
                    else Gauge(
                        name, doc, labels, registry=None, multiprocess_mode=self._shared_as[name]
                    )
                )
                self._published[name] = (metric, {})
            metric, last = self._published[name]
            for key, item in values.items():
                child = metric.labels(key) if label else metric
                if isinstance(child, Counter):
                    child.inc(max(0.0, item - last.get(key, 0.0)))
                else:
                    child.set(item)
                last[key] = item

    def collect(self) -> Iterator[Metric]:
        for name, doc, counter, label, read in self._entries:
            value = self._read(name, read)
            if value is None:
                continue
            family: CounterMetricFamily | GaugeMetricFamily
            if counter:
                family = CounterMetricFamily(name, doc, labels=[label] if label else None)
            else:
                family = GaugeMetricFamily(name, doc, labels=[label] if label else None)
            if isinstance(value, Mapping):
                for key, item in sorted(value.items()):
                    family.add_metric([key], item)
            else:
                family.add_metric([], value)
            yield family


class DaemonMetrics:
    """One daemon's metrics: its own registry (never the global one), endpoint and health.

    A daemon of several processes (the service's workers) counts in each worker and serves
    from its master: a worker made with `publish=True` has no endpoint and copies what it
    reads at scrape time into prometheus_client's multi-process files every second (its
    counters and histograms are kept in them already: the master sets PROMETHEUS_MULTIPROC_DIR
    for its workers); the master's, made with `collect_from` that directory, serves their sums.
    """

    def __init__(
        self,
        daemon: str,
        config: MetricsConfig,
        *,
        publish: bool = False,
        collect_from: Path | None = None,
    ) -> None:
        self.daemon = daemon
        self.config = config
        self.registry = CollectorRegistry()
        self._publish = publish
        self._publisher: asyncio.Task[None] | None = None
        # A master: bring the workers' files up to date before each scrape is answered.
        self.before_scrape: Callable[[], Awaitable[None]] | None = None
        if collect_from is not None:
            MultiProcessCollector(self.registry, path=os.fspath(collect_from))  # type: ignore[no-untyped-call]
        # A master's registry holds the workers' counts, so its own stay out of it.
        counting = None if collect_from is not None else self.registry
        self.requests = Counter(
            "tessera_requests",
            "Requests answered, by opcode, response status and provider id",
            ["opcode", "status", "provider"],
            registry=counting,
        )
        self.duration = Histogram(
            "tessera_request_duration_seconds",
            "Time to run an admitted request (after authentication), by opcode",
            ["opcode"],
            buckets=_BUCKETS,
            registry=counting,
        )
        self.admission = Histogram(
            "tessera_admission_duration_seconds",
            "Time to authenticate, route and decode a request",
            buckets=_BUCKETS,
            registry=counting,
        )
        # process_start_time_seconds among them: a restart shows as its change.
        ProcessCollector(registry=self.registry)
        if not publish:  # a worker's would reach its master's answer beside the master's own
            info = Gauge(
                "tessera_build_info", "Which daemon and version", ["daemon", "version"],
                registry=self.registry,
            )  # fmt: skip
            info.labels(daemon, __version__).set(1)
        self._readings = _Readings()
        self.registry.register(self._readings)
        self._checks: dict[str, Callable[[], bool]] = {}
        self._started = time.monotonic()
        self.stopping = False
        self._servers: list[asyncio.Server] = []
        self._inode = 0

    def gauge(
        self,
        name: str,
        doc: str,
        read: Reading,
        *,
        label: str = "",
        shared_as: SharedAs = "livesum",
    ) -> None:
        """A gauge read when scraped (a mapping gives one series per `label` value);
        `shared_as` says how the values of several workers add up."""
        self._readings.add(name, doc, read, counter=False, label=label, shared_as=shared_as)

    def counter(self, name: str, doc: str, read: Reading, *, label: str = "") -> None:
        """A counter read when scraped (`name` without `_total`)."""
        self._readings.add(name, doc, read, counter=True, label=label)

    def check(self, name: str, healthy: Callable[[], bool]) -> None:
        """A condition the health answer reports; any false one makes it degraded (503)."""
        self._checks[name] = healthy

    def instrument(self, handler: RequestHandler[Any]) -> RequestHandler[Any]:
        """The daemon's handler, counting and timing every answer."""
        return InstrumentedHandler(handler, self)

    def health(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and body of the health answer."""
        checks = {}
        for name, healthy in self._checks.items():
            try:
                checks[name] = bool(healthy())
            except Exception:
                checks[name] = False
        if self.stopping:
            state = "stopping"
        elif all(checks.values()):
            state = "serving"
        else:
            state = "degraded"
        body = {
            "status": state,
            "daemon": self.daemon,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_seconds": round(time.monotonic() - self._started, 3),
            "checks": checks,
        }
        return (200 if state == "serving" else 503), body

    async def start(self) -> None:
        """Listen on the configured socket and/or port (a worker: start publishing)."""
        if self._publish:
            self._publisher = asyncio.create_task(self._publish_every(_PUBLISH_INTERVAL))
            return
        if self.config.socket is not None:
            sock = bind_socket(self.config.socket, None)
            self._inode = self.config.socket.lstat().st_ino
            self._servers.append(await asyncio.start_unix_server(self._serve, sock=sock))
            log.info("metrics on %s", self.config.socket)
        if self.config.port is not None:
            server = await asyncio.start_server(
                self._serve, host="127.0.0.1", port=self.config.port
            )
            self._servers.append(server)
            log.info("metrics on 127.0.0.1:%d", self.config.port)

    async def close(self) -> None:
        """Stop listening and remove the socket file (a worker: publish a last time)."""
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._readings.publish()
        for server in self._servers:
            server.close()
        if self.config.socket is not None and self._inode:
            unlink_socket(self.config.socket, self._inode)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()

    def publish(self) -> None:
        """A worker: copy the readings into the shared files now (its master is scraped)."""
        self._readings.publish()

    async def _publish_every(self, seconds: float) -> None:
        while True:
            self._readings.publish()
            await asyncio.sleep(seconds)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                method, path = await _read_request(reader)
            status, content_type, body = await self._answer(method, path)
            head = (
                f"HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a scraper that goes or speaks nonsense gets nothing
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET or HEAD\n"
        path = path.split("?", 1)[0]
        if path == "/metrics":
            if self.before_scrape is not None:
                await self.before_scrape()
            # Off the loop: a reading may wait for the key store's lock.
            body = await asyncio.to_thread(generate_latest, self.registry)
            return "200 OK", CONTENT_TYPE_LATEST, body
        if path in ("/health", "/healthz"):
            code, document = self.health()
            reason = "OK" if code == 200 else "Service Unavailable"
            payload = (json.dumps(document) + "\n").encode()
            return f"{code} {reason}", "application/json", payload
        return "404 Not Found", "text/plain", b"/metrics or /health\n"


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    parts = (await reader.readline()).decode("latin-1").split()
    if len(parts) < 2:
        raise ValueError("not an HTTP request")
    for _ in range(_MAX_HEADER_LINES):  # headers are read and ignored
        if (await reader.readline()).strip() == b"":
            return parts[0], parts[1]
    raise ValueError("too many header lines")


def watch_trusted_side(metrics: DaemonMetrics, side: TrustedSide, peer: str) -> None:
    """Rotations and peer restarts of a trusted side, and whether its peer trusts it."""
    metrics.counter(
        "tessera_trust_rotations", "Intermediates shared and signed with", lambda: side.rotations
    )
    metrics.counter(
        "tessera_peer_restarts",
        f"Times the {peer} came back without our root (it restarted) and was re-shared",
        lambda: side.peer_restarts,
    )
    metrics.check("trusted", lambda: side.current is not None)


class InstrumentedHandler:
    """Wraps a daemon's request handler; counts each answer by what its header says.

    The per-request cost is two clock reads, one header unpack, one dict lookup for the label
    children (made once per opcode/status/provider), a counter increment and a histogram
    observation.
    """

    def __init__(self, inner: RequestHandler[Any], metrics: DaemonMetrics) -> None:
        self._inner = inner
        self._requests = metrics.requests
        self._duration = metrics.duration
        self._admission = metrics.admission
        self._children: dict[tuple[int, int, int], tuple[Any, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # anything else the daemon's handler offers

    def framing_error(self, error: FramingError) -> bytes:
        response = self._inner.framing_error(error)
        self._count(response, None)
        return response

    def admit(self, frame: Frame, peer: PeerCredentials | None) -> Any:
        started = time.perf_counter()
        admitted = self._inner.admit(frame, peer)
        self._admission.observe(time.perf_counter() - started)
        if isinstance(admitted, bytes):
            self._count(admitted, None)
        return admitted

    def execute(self, request: Any) -> bytes:
        started = time.perf_counter()
        response = self._inner.execute(request)
        self._count(response, time.perf_counter() - started)
        return response

    def _count(self, response: bytes, elapsed: float | None) -> None:
        if len(response) < _OPCODE_AT + _OPCODE_STATUS.size:
            return
        opcode, status = _OPCODE_STATUS.unpack_from(response, _OPCODE_AT)
        if opcode not in _KNOWN_OPCODES:
            opcode = _UNKNOWN
        key = (opcode, status, response[_PROVIDER_AT])
        children = self._children.get(key)
        if children is None:  # once per combination; a race only repeats an idempotent lookup
            label = _opcode_label(opcode)
            children = (
                self._requests.labels(label, _status_label(status), str(key[2])),
                self._duration.labels(label),
            )
            self._children[key] = children
        children[0].inc()
        if elapsed is not None:
            children[1].observe(elapsed)
