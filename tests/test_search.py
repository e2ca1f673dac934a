"""Search and recent matches: SQLite FTS5 through Store.search and the `search` / `matches` commands."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.store import Store

from .test_retention import FEED, article, match


def test_search_ranks_and_snippets(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "monitor.db")
    try:
        now = datetime.now(UTC)
        store.record_article(article(1), [], {}, now)
        special = article(2)
        store.record_article(
            type(special)(**{**{f: getattr(special, f) for f in special.__slots__}, "text": "Dysprosium prices rose."}),
            [],
            {},
            now,
        )
        hits = store.search("dysprosium")
        assert [h["url"] for h in hits] == ["http://127.0.0.1/a/2"]
        assert "[Dysprosium]" in hits[0]["snippet"]
        assert store.search('"prices rose"')[0]["title"] == "Story number 2"
        assert store.search("prices AND (")[0]["url"].endswith("/2")  # bad FTS syntax: searched as words
        assert store.search("nothing-like-this") == []
        assert store.search("   ") == []
    finally:
        store.close()


def test_search_and_matches_commands(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: {db}\ntargets: {{me: 'json://127.0.0.1:9/x'}}\n"
        f"feeds: [{{url: '{FEED}', name: Local}}]\n"
        "rules:\n  - {name: r, query: tokyo, notify: [me]}\n  - {name: q, query: cocoa, notify: [me]}\n",
        encoding="utf-8",
    )
    store = Store.open(db)
    now = datetime.now(UTC)
    store.record_article(article(1), [match("r")], {"r": ["me"]}, now - timedelta(hours=2))
    store.record_article(article(2), [match("q")], {"q": ["me"]}, now - timedelta(days=3))
    store.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = cli("search", "cocoa0")  # a word only article 1 has
    assert out.returncode == 0, out.stderr
    assert "Story number 1" in out.stdout and "http://127.0.0.1/a/1" in out.stdout
    assert "1 hits" in out.stderr and "Story number 2" not in out.stdout
    day = cli("matches")
    assert day.returncode == 0, day.stderr
    assert day.stdout.count("\n") == 1 and " r " in day.stdout and "Story number 1" in day.stdout
    week = cli("matches", "--since", "7d", "--rule", "q")
    assert week.stdout.count("\n") == 1 and "Story number 2" in week.stdout
    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "Local" in status.stdout and "database:" in status.stdout
    assert "pending" in status.stdout
