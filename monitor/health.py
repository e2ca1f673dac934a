"""The optional health and metrics listener: ``GET /healthz`` and ``GET /metrics`` (Prometheus text format).

Off unless ``health.listen`` is set; the config only accepts loopback addresses by default. It runs on the
daemon's own event loop (``asyncio.start_server``; aiohttp stays in fetch.py), so a wedged loop also stops
answering, which a prober sees as a failure. Counters come from poll results as they happen; gauges about
the database (outbox, stored matches, size) are read from the store when Prometheus scrapes.

The registry is an object owned by the daemon and handed in, never the library's global default registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from monitor.errors import MonitorError
from monitor.log import event

if TYPE_CHECKING:
    from monitor.store import Store
    from monitor.types import PollResult

log = logging.getLogger(__name__)

MAX_REQUEST = 8192  # bytes of request line and headers we read before answering 400
READ_TIMEOUT = 5.0  # seconds a client may take to send its request


class Metrics:
    """Counters fed by the daemon, plus gauges read from the store at scrape time."""

    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("news_monitor_polls", "Feed polls by outcome", ["feed", "status"], registry=r)
        self.errors = Counter("news_monitor_poll_errors", "Failed polls by error type", ["feed", "error"], registry=r)
        self.not_modified = Counter(
            "news_monitor_not_modified", "Polls answered 304 Not Modified", ["feed"], registry=r
        )
        self.entries = Counter("news_monitor_entries", "Entries seen in fetched feed documents", ["feed"], registry=r)
        self.articles = Counter("news_monitor_new_articles", "New entries stored as articles", ["feed"], registry=r)
        self.matched = Counter(
            "news_monitor_matched_articles", "New articles that matched a rule", ["feed"], registry=r
        )
        self.queued = Counter("news_monitor_alerts_queued", "Alerts written to the outbox", ["feed"], registry=r)
        self.poll_seconds = Counter(
            "news_monitor_poll_seconds", "Time spent polling (sum; divide by polls for the mean)", ["feed"], registry=r
        )
        self.poll_duration = Histogram(
            "news_monitor_poll_duration_seconds",
            "Duration of one poll of one feed",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80),
            registry=r,
        )
        self.delivery_runs = Counter("news_monitor_delivery_runs", "Outbox flushes", registry=r)
        self.delivery_seconds = Histogram(
            "news_monitor_delivery_duration_seconds",
            "Duration of one outbox flush",
            buckets=(0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
            registry=r,
        )
        if store is not None:
            r.register(_StoreCollector(store))

    def observe_poll(self, result: PollResult) -> None:
        feed = result.feed.name
        self.polls.labels(feed, result.status).inc()
        if result.error is not None:
            self.errors.labels(feed, type(result.error).__name__).inc()
        if result.status == "not_modified":
            self.not_modified.labels(feed).inc()
        self.entries.labels(feed).inc(result.entries)
        self.articles.labels(feed).inc(result.new)
        self.matched.labels(feed).inc(result.matched)
        self.queued.labels(feed).inc(result.alerts)
        self.poll_seconds.labels(feed).inc(result.duration)
        self.poll_duration.observe(result.duration)

    def observe_delivery(self, seconds: float) -> None:
        self.delivery_runs.inc()
        self.delivery_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    """Gauges computed from the database when scraped (same thread as the daemon: SQLite is not shared)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return []  # computed at collect time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        try:
            outbox = self.store.outbox_counts()
            matches = self.store.match_counts()
            articles = self.store.article_count()
            failing = self.store.failing_feeds()
        except MonitorError as e:
            event(log, "metrics_store_failed", logging.WARNING, error=str(e))
            return
        alerts = GaugeMetricFamily(
            "news_monitor_alerts", "Alerts in the outbox by target and status", labels=["target", "status"]
        )
        for target, states in sorted(outbox.items()):
            for status in ("pending", "retrying", "sent", "dead"):
                alerts.add_metric([target, status], states.get(status, 0))
        yield alerts
        stored = GaugeMetricFamily(
            "news_monitor_rule_matches", "Matches stored per rule (retention removes old ones)", labels=["rule"]
        )
        for rule, n in sorted(matches.items()):
            stored.add_metric([rule], n)
        yield stored
        yield GaugeMetricFamily("news_monitor_articles_stored", "Articles in the database", value=articles)
        yield GaugeMetricFamily("news_monitor_feeds_failing", "Feeds whose last poll failed", value=failing)
        yield GaugeMetricFamily("news_monitor_database_bytes", "Database file plus WAL", value=self.store.size_bytes())


HealthCheck = Callable[[], Awaitable[list[str]]]


class HealthServer:
    """A tiny HTTP/1.1 responder for two GET paths; every response closes the connection."""

    def __init__(self, host: str, port: int, metrics: Metrics, check: HealthCheck) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.check = check
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as e:
            raise MonitorError("cannot listen for health checks", subject=f"{self.host}:{self.port}") from e
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])  # port 0 picks a free one (tests)
        event(log, "health_listening", address=f"{self.host}:{self.port}")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                await self._reply(writer, 400, b"bad request\n")
                return
            if len(head) > MAX_REQUEST:
                await self._reply(writer, 400, b"bad request\n")
                return
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                await self._reply(writer, 405, b"method not allowed\n", head_only=False)
            elif path == "/healthz":
                problems = await self.check()
                body = ("ok\n" if not problems else "".join(f"{p}\n" for p in problems)).encode()
                await self._reply(writer, 503 if problems else 200, body, head_only=method == "HEAD")
            elif path == "/metrics":
                await self._reply(
                    writer, 200, self.metrics.render(), CONTENT_TYPE_PLAIN_0_0_4, head_only=method == "HEAD"
                )
            else:
                await self._reply(writer, 404, b"not found: try /healthz or /metrics\n")
        except (ConnectionError, OSError):
            pass  # the client went away; nothing to tell it
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout=2.0)

    @staticmethod
    async def _reply(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        *,
        head_only: bool = False,
    ) -> None:
        reason = {
            200: "OK",
            400: "Bad Request",
            404: "Not Found",
            405: "Method Not Allowed",
            503: "Service Unavailable",
        }
        writer.write(
            f"HTTP/1.1 {status} {reason[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        if not head_only:
            writer.write(body)
        await writer.drain()
