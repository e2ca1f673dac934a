"""poll_feed with real parts: a local feed server, the worker pool, SQLite, apprise to a webhook receiver."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config import Config, load_config
from monitor.fetch import Http
from monitor.isolate import Isolator
from monitor.pipeline import Context, backoff, build_context, next_interval, poll_feed
from monitor.store import Store
from monitor.types import FeedSpec, PollResult

from .receivers import Webhook

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><link>{base}/</link>
<ttl>{ttl}</ttl>
<item><title>Lithium output rises</title><link>{base}/a1</link><guid>a1</guid>
<description>Lithium producers raised output.</description></item>
</channel></rss>"""


@pytest.fixture
def isolator() -> Iterator[Isolator]:
    with Isolator() as iso:
        yield iso


def _config(tmp_path: Path, feed_url: str, hook: Webhook) -> Config:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"""
database: {tmp_path / "m.db"}
poll: {{interval: 10m, broken_after: 2, broken_notify: [ops]}}
targets: {{ops: "{hook.url()}", chat: "{hook.url("/chat")}"}}
feeds: [{{url: "{feed_url}", name: Wire, full_text: false}}]
rules: [{{name: lithium, query: lithium, notify: [chat]}}]
""",
        encoding="utf-8",
    )
    return load_config(path, env={})


async def _poll(config: Config, isolator: Isolator, now: datetime) -> PollResult:
    store = Store.open(config.database_path())
    http = Http(config.fetch, timeout=5, concurrency=4)
    try:
        ctx: Context = build_context(config, store, http, isolator, lambda: now)
        return await poll_feed(config.feed_specs()[0], ctx)
    finally:
        await http.close()
        store.close()


def test_broken_feed_notice_once_then_recovered_once(
    tmp_path: Path, httpserver: HTTPServer, webhook: Webhook, isolator: Isolator
) -> None:
    config = _config(tmp_path, httpserver.url_for("/feed.xml"), webhook)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    httpserver.expect_request("/feed.xml").respond_with_data("down", status=503)
    results = [asyncio.run(_poll(config, isolator, now + timedelta(hours=i))) for i in range(4)]
    assert [r.status for r in results] == ["error"] * 4
    notices = [r for r in webhook.requests if r.path == "/hook"]
    assert len(notices) == 1 and "Feed broken: Wire" in notices[0].json()["title"]

    httpserver.clear()
    httpserver.expect_request("/feed.xml").respond_with_data(
        RSS.format(base=httpserver.url_for("").rstrip("/"), ttl=120), content_type="application/rss+xml"
    )
    ok = asyncio.run(_poll(config, isolator, now + timedelta(hours=5)))
    assert ok.status == "ok" and ok.new == 1 and ok.alerts == 1
    assert ok.next_interval == timedelta(minutes=120)  # RSS ttl asks for more than our 10 minutes
    again = asyncio.run(_poll(config, isolator, now + timedelta(hours=6)))
    assert again.status == "unchanged"  # same body, no validators: not parsed again
    notices = [r for r in webhook.requests if r.path == "/hook"]
    assert [n.json()["title"] for n in notices] == ["Feed broken: Wire", "Feed recovered: Wire"]


def test_backoff_grows_and_is_capped() -> None:
    base = timedelta(minutes=10)
    delays = [backoff(base, n) for n in range(1, 12)]
    assert all(b >= a * 0.9 for a, b in itertools.pairwise(delays))
    assert max(delays) <= timedelta(hours=24)
    assert backoff(base, 0) == base
    assert backoff(base, 30, timedelta(hours=2)) <= timedelta(hours=2)


def test_next_interval_never_below_the_server_ask() -> None:
    feed = FeedSpec(url="https://x.example/rss", name="x", interval=timedelta(minutes=5))
    assert next_interval(feed) == timedelta(minutes=5)
    assert next_interval(feed, max_age=1800) == timedelta(minutes=30)
    assert next_interval(feed, ttl_minutes=1) == timedelta(minutes=5)
    assert next_interval(feed, max_age=10**9) == timedelta(hours=24)


def test_a_routine_feed_state_is_committed_soon_without_closing_the_store(
    tmp_path: Path, httpserver: HTTPServer, webhook: Webhook, isolator: Isolator
) -> None:
    config = _config(tmp_path, httpserver.url_for("/feed.xml"), webhook)
    body = RSS.format(base=httpserver.url_for("").rstrip("/"), ttl=1)
    httpserver.expect_request("/feed.xml").respond_with_data(body, content_type="application/rss+xml")
    now = datetime(2026, 11, 1, tzinfo=UTC)

    async def poll_then_read() -> datetime | None:
        store = Store.open(config.database_path())
        other = Store.open(config.database_path())
        http = Http(config.fetch, timeout=5, concurrency=4)
        try:
            ctx = build_context(config, store, http, isolator, lambda: now)
            result = await poll_feed(config.feed_specs()[0], ctx)
            assert result.status == "ok"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while other.get_feed_state(result.feed.url).last_polled is None and loop.time() < deadline:
                await asyncio.sleep(0.02)  # the flush runs on this loop, FEED_STATE_DELAY after the poll
            return other.get_feed_state(result.feed.url).last_polled
        finally:
            await http.close()
            other.close()
            store.close()

    assert asyncio.run(poll_then_read()) == now


def _item(base: str, guid: str, title: str, published: datetime | None) -> str:
    date = f"<pubDate>{format_datetime(published)}</pubDate>" if published else ""
    return (
        f"<item><title>{title}</title><link>{base}/{title.split()[0].lower()}</link><guid>{guid}</guid>{date}"
        f"<description>{title}: lithium producers raised output.</description></item>"
    )


def test_a_new_feed_archives_its_old_entries_and_matches_the_rest(
    tmp_path: Path, httpserver: HTTPServer, webhook: Webhook, isolator: Isolator
) -> None:
    config = _config(tmp_path, httpserver.url_for("/feed.xml"), webhook)
    assert config.poll.backlog == timedelta(days=1)
    base = httpserver.url_for("").rstrip("/")
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)

    def serve(*items: str) -> None:
        httpserver.clear()
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{"".join(items)}</channel></rss>'
        httpserver.expect_request("/feed.xml").respond_with_data(body, content_type="application/rss+xml")

    archive = _item(base, "g1", "Archive story", now - timedelta(days=3))
    serve(
        archive,
        _item(base, "g2", "Recent story", now - timedelta(hours=2)),
        _item(base, "g3", "Undated story", None),
    )
    first = asyncio.run(_poll(config, isolator, now))
    assert (first.status, first.new, first.alerts) == ("ok", 2, 2)  # the archive is recorded, not matched

    # Later polls: the archived item under a churned GUID is still known by its link; an item dated before
    # the backlog that appears now is news all the same (only a feed's first poll has an archive).
    serve(
        _item(base, "g1-churned", "Archive story", now - timedelta(days=3)),
        _item(base, "g4", "Late story", now - timedelta(days=5)),
    )
    second = asyncio.run(_poll(config, isolator, now + timedelta(hours=1)))
    assert (second.status, second.new, second.alerts) == ("ok", 1, 1)

    store = Store.open(config.database_path())
    try:
        titles = {r["title"] for r in store._query("SELECT title FROM articles")}
    finally:
        store.close()
    assert titles == {"Recent story", "Undated story", "Late story"}
