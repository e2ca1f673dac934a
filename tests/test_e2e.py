"""End to end with real parts: a feed and article pages on a local HTTP server, apprise delivering to a real
SMTP server (aiosmtpd) and a real webhook receiver, news-monitor run as a subprocess (`once`, then `run`)."""

from __future__ import annotations

import html
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from .conftest import corpus_path
from .receivers import SmtpSink, Webhook

SEED_TITLE = "Japan and U.S. to Sign Landmark Deal on Rare Earth Cooperation Amid China Tensions"

CONFIG = """\
database: {db}
poll: {{interval: 1h, jitter: 0s, timeout: 10s}}
fetch: {{allow_networks: [127.0.0.0/8]}}
targets:
  team-chat: {chat}
  me: {mail}
feeds:
  - {{url: "{feed}", name: Local Wire, tags: [japan]}}
entities:
  APEC: {{aliases: ["Asia-Pacific Economic Cooperation", "APEC summit"]}}
  rare earths:
    aliases: ["rare earth*", "rare-earth*", "REE", neodymium, dysprosium, "critical minerals"]
rules:
  - name: rare-earth-deals
    query: '@"rare earths" AND (Japan OR Tokyo OR "United States" OR Washington) AND (deal OR agreement OR pact)'
    notify: [team-chat]
  - name: apec
    query: '@APEC AND (summit OR leaders OR trade)'
    notify: [me]
"""


def _reuters_stories(count: int) -> list[dict[str, Any]]:
    """Unrelated wire stories: long enough to be articles, about neither rare earths nor APEC nor Japan."""
    path = corpus_path("reuters21578", "reuters21578.jsonl")
    picked = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            story = json.loads(line)
            body = story["body"]
            text = (story["title"] + " " + body).lower()
            if (
                story["topics"] == ["cocoa"]
                and len(body) > 1200
                and not any(w in text for w in ("rare", "apec", "japan", "earth", "deal", "pact", "agreement"))
            ):
                picked.append(story)
                if len(picked) == count:
                    break
    assert len(picked) == count
    return picked


def _page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{html.escape(title)}</title></head><body><nav><a href='/'>Home</a></nav>"
        f"<article><h1>{html.escape(title)}</h1>{body}</article><footer>© Local Wire</footer></body></html>"
    )


def _rss(base: str, items: list[tuple[str, str, str]]) -> str:
    # an hour ago: news, not the archive a new feed's first poll records unmatched (poll.backlog)
    stamp = format_datetime(datetime.now(UTC) - timedelta(hours=1))
    out = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>',
        f"<title>Local Wire</title><link>{base}/</link><description>test</description>",
    ]
    for slug, title, summary in items:
        out.append(
            f"<item><title>{html.escape(title)}</title><link>{base}/{slug}.html</link>"
            f"<guid isPermaLink='false'>{slug}</guid><pubDate>{stamp}</pubDate>"
            f"<description>{html.escape(summary)}</description></item>"
        )
    out.append("</channel></rss>")
    return "".join(out)


@pytest.fixture
def news_site(httpserver: HTTPServer) -> HTTPServer:
    seed = corpus_path("seed", "page.html").read_bytes()
    base = httpserver.url_for("").rstrip("/")
    items = [("seed", SEED_TITLE, "Japan and the U.S. are finalizing a rare earths agreement.")]
    httpserver.expect_request("/seed.html").respond_with_data(seed, content_type="text/html; charset=utf-8")
    for i, story in enumerate(_reuters_stories(3)):
        paragraphs = [p.strip() for p in story["body"].split("\n    ") if p.strip()]
        slug = f"cocoa-{i}"
        items.append((slug, story["title"].title(), paragraphs[0][:200]))
        httpserver.expect_request(f"/{slug}.html").respond_with_data(
            _page(story["title"].title(), paragraphs), content_type="text/html; charset=utf-8"
        )
    httpserver.expect_request("/feed.xml").respond_with_data(_rss(base, items), content_type="application/rss+xml")
    return httpserver


def _write_config(tmp_path: Path, site: HTTPServer, hook: Webhook, sink: SmtpSink) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        CONFIG.format(db=tmp_path / "monitor.db", chat=hook.url(), mail=sink.url(), feed=site.url_for("/feed.xml")),
        encoding="utf-8",
    )
    return path


def _cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_once_sends_exactly_the_seed_alerts_and_nothing_twice(
    tmp_path: Path, news_site: HTTPServer, webhook: Webhook, smtp_sink: SmtpSink
) -> None:
    config = _write_config(tmp_path, news_site, webhook, smtp_sink)
    first = _cli(config, "once")
    assert first.returncode == 0, first.stderr
    # `once` delivers before it exits, so what the receivers hold now is all it sent.
    posts = webhook.requests
    mails = smtp_sink.messages
    assert len(posts) == 1, [p.body for p in posts]
    assert len(mails) == 1, [m.subject for m in mails]
    chat = posts[0].json()
    assert SEED_TITLE in chat["title"] + chat["message"]
    assert "rare-earth-deals" in chat["message"]
    assert SEED_TITLE in mails[0].subject + mails[0].body()
    assert "apec" in mails[0].body()
    for reuters in ("cocoa-0", "cocoa-1", "cocoa-2"):
        assert reuters not in json.dumps(chat) and reuters not in mails[0].body()

    second = _cli(config, "once")
    assert second.returncode == 0, second.stderr
    assert len(webhook.requests) == 1
    assert len(smtp_sink.messages) == 1


def test_run_delivers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, news_site: HTTPServer, webhook: Webhook, smtp_sink: SmtpSink
) -> None:
    config = _write_config(tmp_path, news_site, webhook, smtp_sink)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        webhook.wait_for(1, timeout=60)
        smtp_sink.wait_for(1, timeout=30)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "daemon_stopped" in output
    assert "Traceback" not in output
    assert len(webhook.requests) == 1
