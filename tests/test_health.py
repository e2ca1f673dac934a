"""The health and metrics listener on a real loopback socket, with a real SQLite store behind it."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from monitor.config import HealthConfig
from monitor.errors import FetchError, StorageError
from monitor.health import HealthServer, Metrics
from monitor.store import Store
from monitor.types import FeedSpec, PollResult

from .test_reload import Running, serve_feeds, write_config
from .test_retention import article, match

NOW = datetime(2026, 3, 1, tzinfo=UTC)
FEED = FeedSpec(url="http://127.0.0.1/feed.xml", name="Local", interval=timedelta(minutes=10))


async def get(port: int, path: str) -> tuple[int, str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    ctype = next((h.split(":", 1)[1].strip() for h in head.split("\r\n") if h.lower().startswith("content-type")), "")
    return status, ctype, body


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "monitor.db")
    yield s
    s.close()


def test_metrics_and_healthz(store: Store) -> None:
    store.record_article(article(1), [match("apec")], {"apec": ["me", "chat"]}, NOW)
    [first, _] = store.due_alerts(NOW)
    store.mark_failed(first.id, "boom", None, NOW)
    metrics = Metrics(store)
    metrics.observe_poll(PollResult(FEED, "ok", entries=5, new=2, matched=1, alerts=2, duration=0.3))
    metrics.observe_poll(PollResult(FEED, "not_modified", duration=0.1))
    metrics.observe_poll(PollResult(FEED, "error", error=FetchError("timed out", url=FEED.url), duration=2.0))
    problems: list[str] = []

    async def check() -> list[str]:
        return list(problems)

    async def scenario() -> None:
        server = HealthServer("127.0.0.1", 0, metrics, check)
        await server.start()
        try:
            status, ctype, body = await get(server.port, "/metrics")
            assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
            got = samples(body)
            assert got[("news_monitor_polls_total", (("feed", "Local"), ("status", "ok")))] == 1
            assert got[("news_monitor_not_modified_total", (("feed", "Local"),))] == 1
            assert got[("news_monitor_poll_errors_total", (("error", "FetchError"), ("feed", "Local")))] == 1
            assert got[("news_monitor_entries_total", (("feed", "Local"),))] == 5
            assert got[("news_monitor_new_articles_total", (("feed", "Local"),))] == 2
            assert got[("news_monitor_rule_matches", (("rule", "apec"),))] == 1
            assert got[("news_monitor_alerts", (("status", "dead"), ("target", first.target)))] == 1
            assert got[("news_monitor_alerts", (("status", "pending"), ("target", first.target)))] == 0
            assert got[("news_monitor_poll_duration_seconds_count", ())] == 3
            assert got[("news_monitor_database_bytes", ())] > 0
            assert (await get(server.port, "/healthz"))[:1] == (200,)
            problems.append("scheduler: job feed:x overdue by 600s")
            status, _, body = await get(server.port, "/healthz")
            assert status == 503 and "overdue" in body
            assert (await get(server.port, "/nope"))[0] == 404
        finally:
            await server.close()

    asyncio.run(scenario())


def test_registry_is_per_object() -> None:
    a, b = Metrics(), Metrics()
    a.observe_poll(PollResult(FEED, "ok", entries=1))
    assert "news_monitor_polls_total" in a.render().decode()
    assert 'feed="Local"' not in b.render().decode()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files")
def test_probe_write_fails_on_a_read_only_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "monitor.db")
    store.probe_write(NOW)
    store.close()
    for f in tmp_path.iterdir():
        f.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        # Either opening (WAL needs its -shm file) or the probe's write fails; both are StorageError.
        with pytest.raises(StorageError):
            Store.open(tmp_path / "monitor.db").probe_write(NOW)
    finally:
        tmp_path.chmod(0o755)


def test_listen_config() -> None:
    assert HealthConfig().address() is None
    assert HealthConfig(listen="9464").address() == ("127.0.0.1", 9464)
    assert HealthConfig(listen=":9464").address() == ("127.0.0.1", 9464)
    assert HealthConfig(listen="[::1]:9464").address() == ("::1", 9464)
    with pytest.raises(ValueError):
        HealthConfig(listen="localhost:99999")


def test_daemon_serves_metrics_and_healthz(tmp_path: Path, httpserver: HTTPServer) -> None:
    serve_feeds(httpserver, "alpha")
    with socket.socket() as probe:  # a free port for the listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha",), query="cocoa", extra=f'health: {{listen: "127.0.0.1:{port}"}}\n')
    daemon = Running(config)
    try:
        daemon.wait_for(rf"health_listening address=127.0.0.1:{port}")
        daemon.wait_for(r"feed_polled feed=alpha status=ok")
        status, _, body = asyncio.run(get(port, "/metrics"))
        assert status == 200
        got = samples(body)
        assert got[("news_monitor_polls_total", (("feed", "alpha"), ("status", "ok")))] == 1
        assert got[("news_monitor_new_articles_total", (("feed", "alpha"),))] == 1
        assert got[("news_monitor_rule_matches", (("rule", "watch"),))] == 1
        assert asyncio.run(get(port, "/healthz"))[:1] == (200,)
        assert daemon.stop() == 0, daemon.log()
    finally:
        daemon.kill()
