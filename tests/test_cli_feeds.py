"""`feeds import` (OPML into the config file, comments kept, or --print), `feeds export` and `feeds discover`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_httpserver import HTTPServer

from monitor.config import load_config
from monitor.parse import parse_opml

from .test_reload import serve_feeds, write_config

OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>subscriptions</title></head><body>
  <outline text="Minerals">
    <outline type="rss" text="Mining Weekly" xmlUrl="https://mining.example.org/feed/"/>
    <outline type="rss" text="Rare Earth Digest" xmlUrl="https://ree.example.net/rss.xml"/>
  </outline>
  <outline type="rss" text="Already here" xmlUrl="{existing}"/>
</body></opml>
"""


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), *args], capture_output=True, text=True, timeout=60
    )


def test_import_keeps_comments_and_skips_known_feeds(tmp_path: Path, httpserver: HTTPServer) -> None:
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha",))
    existing = httpserver.url_for("/alpha.xml")
    opml = tmp_path / "subs.opml"
    opml.write_text(OPML.format(existing=existing), encoding="utf-8")
    before = config.read_text(encoding="utf-8")

    printed = cli(config, "feeds", "import", str(opml), "--print")
    assert printed.returncode == 0, printed.stderr
    assert "https://ree.example.net/rss.xml" in printed.stdout and "Minerals" in printed.stdout
    assert config.read_text(encoding="utf-8") == before  # --print changes nothing

    done = cli(config, "feeds", "import", str(opml))
    assert done.returncode == 0, done.stderr
    assert "added 2 of 3" in done.stdout
    after = config.read_text(encoding="utf-8")
    assert "# A comment that an OPML import must keep." in after
    feeds = {f.url: f for f in load_config(config).feed_specs()}
    assert set(feeds) == {existing, "https://mining.example.org/feed/", "https://ree.example.net/rss.xml"}
    assert feeds["https://mining.example.org/feed/"].name == "Mining Weekly"
    assert feeds["https://mining.example.org/feed/"].tags == ("Minerals",)
    again = cli(config, "feeds", "import", str(opml))
    assert "added 0 of 3" in again.stdout and config.read_text(encoding="utf-8") == after


def test_export_round_trips(tmp_path: Path, httpserver: HTTPServer) -> None:
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha", "beta"))
    out = cli(config, "feeds", "export")
    assert out.returncode == 0, out.stderr
    back = parse_opml(out.stdout.encode())
    assert [(f.url, f.name) for f in back] == [
        (httpserver.url_for("/alpha.xml"), "alpha"),
        (httpserver.url_for("/beta.xml"), "beta"),
    ]


def test_discover_lists_alternate_links(tmp_path: Path, httpserver: HTTPServer) -> None:
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha",))
    serve_feeds(httpserver, "alpha")
    page = (
        "<html><head><title>News</title>"
        '<link rel="alternate" type="application/rss+xml" href="/alpha.xml">'
        '<link rel="alternate" type="application/atom+xml" href="https://news.example.org/atom">'
        '<link rel="stylesheet" href="/style.css"></head><body>hi</body></html>'
    )
    httpserver.expect_request("/").respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/plain").respond_with_data(
        "<html><body>no feeds</body></html>", content_type="text/html"
    )
    out = cli(config, "feeds", "discover", httpserver.url_for("/"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [httpserver.url_for("/alpha.xml"), "https://news.example.org/atom"]
    direct = cli(config, "feeds", "discover", httpserver.url_for("/alpha.xml"))
    assert direct.stdout.split() == [httpserver.url_for("/alpha.xml")]
    none = cli(config, "feeds", "discover", httpserver.url_for("/plain"))
    assert none.returncode == 1 and "no feeds" in none.stderr
