"""Hostile input at the level of a whole cycle (issue 6 item 1): one feed that stalls the parser, one that is
down, and one page that stalls the extractor must not cost the other feeds their alerts, and an article whose
page failed is still matched on the feed's own summary and alerted, never dropped."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_httpserver import HTTPServer

from .hostile.fixtures import author_redos, huge_table
from .receivers import SmtpSink, Webhook
from .test_e2e import _cli

CONFIG = """\
database: {db}
poll: {{interval: 1h, jitter: 0s, timeout: 10s}}
fetch: {{allow_networks: [127.0.0.0/8], parse_budget: 1s, extract_budget: 1s}}
targets:
  chat: {chat}
feeds:
  - {{url: "{base}/redos.xml", name: ReDoS}}
  - {{url: "{base}/down.xml", name: Down}}
  - {{url: "{base}/good.xml", name: Good}}
rules:
  - name: lithium
    query: lithium
    notify: [chat]
"""

GOOD = """<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title><link>{base}/</link>
<item><title>Lithium prices climb</title><link>{base}/fine.html</link><guid>fine</guid>
<description>Battery makers bid up lithium.</description></item>
<item><title>Miners race for new deposits</title><link>{base}/table.html</link><guid>table</guid>
<description>Lithium explorers in Nevada report a find.</description></item>
</channel></rss>"""

PAGE = (
    "<html><body><article><h1>Lithium prices climb</h1>"
    + "<p>Battery makers bid up lithium carbonate as electric vehicle demand grows again this quarter.</p>" * 6
    + "</article></body></html>"
)


def test_a_stalled_parser_a_dead_feed_and_a_stalled_page_cost_nothing_else(
    tmp_path: Path, httpserver: HTTPServer, webhook: Webhook, smtp_sink: SmtpSink
) -> None:
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/redos.xml").respond_with_data(author_redos(), content_type="application/rss+xml")
    httpserver.expect_request("/down.xml").respond_with_data("maintenance", status=503)
    httpserver.expect_request("/good.xml").respond_with_data(GOOD.format(base=base), content_type="application/rss+xml")
    httpserver.expect_request("/fine.html").respond_with_data(PAGE, content_type="text/html")
    httpserver.expect_request("/table.html").respond_with_data(huge_table(), content_type="text/html")
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "m.db", chat=webhook.url(), base=base), encoding="utf-8")

    started = time.monotonic()
    run = _cli(config, "--log-level", "INFO", "once")
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr  # per-feed failures are reported, not fatal
    assert "Traceback" not in run.stderr
    log = run.stderr
    assert "feed_polled feed=ReDoS status=error" in log and "budget" in log
    assert "feed_polled feed=Down status=error" in log and "503" in log
    assert "feed_polled feed=Good status=ok entries=2 new=2 matched=2 alerts=2" in log
    assert "extract_fallback" in log
    posts = [p.json() for p in webhook.requests]
    titles = sorted(p["title"] for p in posts)
    assert len(posts) == 2 and any("Lithium prices climb" in t for t in titles)
    degraded = next(p for p in posts if "Miners race" in p["title"])
    assert "feed summary" in degraded["message"]  # the alert says the page could not be read
    assert elapsed < 60  # budgets of 1 s each; a stall would take minutes
