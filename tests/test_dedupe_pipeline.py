"""Issue 4 items 1, 6 and 7 through the real pipeline: local HTTP servers, the worker pool, SQLite, apprise.

* Two real snapshots of one feed (Golem.de, FZ.se), polled one after the other: only items new in the second
  snapshot alert; the second snapshot served again, or with churned GUIDs and tracking parameters on the same
  links, alerts for nothing.
* Three feeds carry the same story under different URLs, headlines and page furniture; one rule, two targets:
  ``news-monitor once`` sends exactly one alert per target (email through aiosmtpd, a webhook), and it says
  "+2 other sources".
"""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import pytest
from pytest_httpserver import HTTPServer

from monitor.config import Config, load_config
from monitor.dedupe import canonical_url
from monitor.fetch import Http
from monitor.isolate import Isolator
from monitor.pipeline import build_context, poll_feed
from monitor.store import Store
from monitor.types import PollResult

from .conftest import corpus_path
from .receivers import SmtpSink, Webhook

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
SNAPSHOTS = {
    "golem": ("spacecowboy__Feeder/golem-de.xml", "spacecowboy__Feeder/rss_golem_2.xml"),
    "fz": ("spacecowboy__Feeder/rss_fz.xml", "spacecowboy__Feeder/rss_fz_2022.xml"),
}


@pytest.fixture
def isolator() -> Iterator[Isolator]:
    with Isolator() as iso:
        yield iso


def _identities(body: bytes) -> list[tuple[str, str | None]]:
    """(GUID or link, canonical link) of each item, as the test's own independent reading of the feed."""
    parsed = feedparser.parse(body)
    return [
        (e.get("id") or e.get("link", ""), canonical_url(e["link"]) if e.get("link") else None) for e in parsed.entries
    ]


def _churn(body: bytes) -> bytes:
    """Every GUID changed, every link given a tracking parameter: the same items to a careful reader."""
    text = body.decode("latin-1")
    text = re.sub(r"(<guid[^>]*>)([^<]+)(</guid>)", r"\1churned-\2\3", text)
    text = re.sub(r"(<link>)(https?://[^<?]+)(</link>)", r"\1\2?utm_source=rss&amp;utm_medium=feed\3", text)
    return text.encode("latin-1")


async def _poll(config: Config, isolator: Isolator, now: datetime) -> tuple[PollResult, list[str]]:
    """One poll; returns its result and the titles of the alerts it wrote to the outbox."""
    store = Store.open(config.database_path())
    http = Http(config.fetch, timeout=5, concurrency=4)
    try:
        before = {a.id for a in store.due_alerts(now + timedelta(days=1), limit=10_000)}
        result = await poll_feed(config.feed_specs()[0], build_context(config, store, http, isolator, lambda: now))
        after = store.due_alerts(now + timedelta(days=1), limit=10_000)
        return result, [a.title for a in after if a.id not in before]
    finally:
        await http.close()
        store.close()


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_second_snapshot_alerts_only_for_its_new_items(
    name: str, tmp_path: Path, httpserver: HTTPServer, webhook: Webhook, isolator: Isolator
) -> None:
    old, new = (corpus_path("news_feeds", f).read_bytes() for f in SNAPSHOTS[name])
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(
        f"""
database: {tmp_path / "m.db"}
poll: {{backlog: 3650d}}  # the snapshots are from 2017: their items are the news here, not an archive
targets: {{chat: "{webhook.url()}"}}
feeds: [{{url: "{httpserver.url_for("/feed.xml")}", name: {name}, full_text: false}}]
rules: [{{name: everything, query: "feed:{name}", notify: [chat]}}]
""",
        encoding="utf-8",
    )
    config = load_config(config_path, env={})
    seen = _identities(old)
    new_items = [
        (key, url)
        for key, url in _identities(new)
        if key not in {k for k, _ in seen} and url not in {u for _, u in seen if u}
    ]

    def serve(body: bytes) -> None:
        httpserver.clear()
        httpserver.expect_request("/feed.xml").respond_with_data(body, content_type="application/rss+xml")

    serve(old)
    first, first_alerts = asyncio.run(_poll(config, isolator, NOW))
    assert first.status == "ok" and first.new == len(seen) and first_alerts

    serve(new)
    second, second_alerts = asyncio.run(_poll(config, isolator, NOW + timedelta(hours=1)))
    assert second.status == "ok"
    assert second.new == len(new_items)
    new_titles = {e.get("title", "") for e in feedparser.parse(new).entries}
    old_titles = {e.get("title", "") for e in feedparser.parse(old).entries}
    assert set(second_alerts) <= new_titles
    assert not set(second_alerts) & (old_titles - new_titles)
    # Each new item alerts unless it is a copy of a story already alerted (none are, in these snapshots).
    assert len(second_alerts) == second.alerts == len(new_items)

    again, again_alerts = asyncio.run(_poll(config, isolator, NOW + timedelta(hours=2)))
    assert again.status in ("ok", "unchanged") and again.new == 0 and again_alerts == []

    serve(_churn(new))
    churned, churned_alerts = asyncio.run(_poll(config, isolator, NOW + timedelta(hours=3)))
    assert churned.status == "ok" and churned.new == 0 and churned_alerts == []


STORY = [
    "Japan and the United States signed a rare earths agreement in Tokyo on Tuesday, pledging joint "
    "stockpiles and new refining capacity as both governments try to loosen China's grip on critical "
    "minerals used in magnets, electric vehicles and fighter jets.",
    "Under the pact, the two countries will coordinate purchases of neodymium and dysprosium, share "
    "geological survey data and co-finance mines in third countries, trade ministers Akira Sato and "
    "Linda Park told a joint news conference.",
    "China processes about 90 percent of the world's rare earths and tightened export licences for "
    "seven heavy elements in April, sending prices for some magnet metals to their highest in a decade.",
    "Industry groups in both countries welcomed the deal but said new refineries would take at least five "
    "years to build, and that prices would have to stay high for private investors to commit capital.",
    "The agreement follows similar accords Washington signed this year with Australia and Canada, and Tokyo "
    "said it would seek talks with India and the European Union before the end of the year.",
]
OUTLETS = [
    ("wire", "Japan, US sign rare earths pact to counter China", ["Reporting by Tokyo bureau; editing by desk"]),
    (
        "daily",
        "Tokyo and Washington seal critical minerals deal",
        ["Sign up for our Asia morning briefing newsletter.", "Advertisement"],
    ),
    ("biz", "Rare earth accord: what it means for magnet makers", ["Copyright 2026 Biz Times. All rights reserved."]),
]


def _page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{html.escape(title)}</title></head><body><nav><a href='/'>Home</a> "
        f"<a href='/markets'>Markets</a></nav><article><h1>{html.escape(title)}</h1>{body}</article>"
        "<footer>About us · Contact · Privacy</footer></body></html>"
    )


def _rss(outlet: str, base: str, items: list[tuple[str, str, str]]) -> str:
    stamp = format_datetime(datetime.now(UTC) - timedelta(hours=2))  # news, not a new feed's archive
    entries = "".join(
        f"<item><title>{html.escape(t)}</title><link>{base}{path}</link><guid>{outlet}-{i}</guid>"
        f"<pubDate>{stamp}</pubDate><description>{html.escape(s)}</description></item>"
        for i, (path, t, s) in enumerate(items)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{outlet}</title>'
        f"<link>{base}/{outlet}/</link><description>{outlet}</description>{entries}</channel></rss>"
    )


def test_three_outlets_one_story_one_alert_per_target_naming_the_other_sources(
    tmp_path: Path, httpserver: HTTPServer, webhook: Webhook, smtp_sink: SmtpSink
) -> None:
    base = httpserver.url_for("").rstrip("/")
    feeds = []
    for n, (outlet, title, furniture) in enumerate(OUTLETS):
        # Each outlet trims or edits the wire copy a little and wraps it in its own furniture.
        paragraphs = [p.replace("Tuesday", "Tue.") if n == 1 else p for p in STORY[: len(STORY) - (n == 2)]]
        path = f"/{outlet}/2026/11/24/story-{n}.html"
        httpserver.expect_request(path).respond_with_data(
            _page(title, [furniture[0], *paragraphs, *furniture[1:]]), content_type="text/html; charset=utf-8"
        )
        httpserver.expect_request(f"/{outlet}/feed.xml").respond_with_data(
            _rss(outlet, base, [(path, title, paragraphs[0][:160])]), content_type="application/rss+xml"
        )
        feeds.append(f'  - {{url: "{base}/{outlet}/feed.xml", name: {outlet}}}')
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""\
database: {tmp_path / "monitor.db"}
fetch: {{allow_networks: [127.0.0.0/8]}}
targets:
  chat: {webhook.url()}
  mail: {smtp_sink.url()}
feeds:
{chr(10).join(feeds)}
rules:
  - name: rare-earth-deals
    query: '"rare earths" AND (Japan OR Tokyo) AND (deal OR agreement OR pact)'
    notify: [chat, mail]
""",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # `once` delivers before it exits: what the receivers hold now is everything it sent.
    posts, mails = webhook.requests, smtp_sink.messages
    assert len(posts) == 1, [p.body for p in posts]
    assert len(mails) == 1, [m.subject for m in mails]
    chat = posts[0].json()
    assert "+2 other sources" in chat["title"] + chat["message"]
    assert "+2 other sources" in mails[0].body()
    assert any(title in chat["title"] + chat["message"] for _, title, _ in OUTLETS)

    store = Store.open(tmp_path / "monitor.db")
    try:
        stories = [row["story_id"] for row in store.db["articles"].rows]
    finally:
        store.close()
    assert len(stories) == 3 and len(set(stories)) == 1
