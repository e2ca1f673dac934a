"""Retention: Store.prune drops old article text, matches and alerts (never ones still owed), keeps what dedupe
needs, and keeps the database file bounded over a long run of inserts and prunes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import RetentionConfig
from monitor.store import Store
from monitor.types import Article, Entry, Hit, Match

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FEED = "http://127.0.0.1/feed.xml"
WORDS = [
    "tokyo",
    "washington",
    "neodymium",
    "magnet",
    "supply",
    "agreement",
    "summit",
    "cocoa",
    "harvest",
    "port",
    "shipment",
]


def article(n: int, words: int = 300) -> Article:
    text = " ".join(WORDS[(n * 7 + i) % len(WORDS)] + str(i % 50) for i in range(words))
    return Article(
        url=f"http://127.0.0.1/a/{n}",
        link=f"http://127.0.0.1/a/{n}",
        title=f"Story number {n}",
        text=text,
        feed_url=FEED,
        feed_name="Local",
        entry_key=f"guid-{n}",
        summary=text[:200],
    )


def match(rule: str) -> Match:
    return Match(rule=rule, hits=(Hit("tokyo", "text", 0, 5),), snippet="tokyo and washington")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "monitor.db")
    yield s
    s.close()


def test_prune_keeps_rows_for_dedupe_and_never_owed_alerts(store: Store) -> None:
    retention = RetentionConfig(articles=timedelta(days=10), matches=timedelta(days=30), alerts=timedelta(days=30))
    old = store.record_article(article(1), [match("r")], {"r": ["chat", "mail"]}, T0)
    store.record_article(article(2), [], {}, T0)
    sent, owed = store.due_alerts(T0)
    store.mark_sent(sent.id, T0)

    later = T0 + timedelta(days=11)
    pruned = store.prune(later, retention)
    assert pruned.texts == 2 and pruned.articles == 0 and pruned.alerts == 0
    assert store.search("neodymium") == []  # the text is gone from the FTS index too
    # A feed serving the old item again: its key and URL are still known, so it is not new (no second alert).
    again = Entry(key="guid-1", feed_url=FEED, title="Story number 1", link="http://127.0.0.1/a/1", summary="")
    assert store.unseen_entries(FEED, [again], ["http://127.0.0.1/a/1"]) == []

    much_later = T0 + timedelta(days=400)
    pruned = store.prune(much_later, retention)
    assert pruned.alerts == 1  # the sent one; the pending one stays, and with it its match and article
    assert store.outbox_counts() == {owed.target: {"pending": 1}}
    assert pruned.articles == 1  # article 2: no match refers to it
    assert [a.id for a in store.due_alerts(much_later)] == [owed.id]
    assert store.match_counts() == {"r": 1}
    assert old.article_id in {a.id for a in store.articles_since(T0 - timedelta(days=1))}


def test_database_size_stays_bounded_over_many_rounds(store: Store) -> None:
    """Forty simulated days, 25 articles a day (every fifth matched and alerted): once the retention window
    has filled (12 days here), the file stops growing."""
    retention = RetentionConfig(articles=timedelta(days=4), matches=timedelta(days=12), alerts=timedelta(days=12))
    sizes: list[int] = []
    n = 0
    for day in range(40):
        now = T0 + timedelta(days=day)
        for _ in range(25):
            n += 1
            store.record_article(article(n), [match("r")] if n % 5 == 0 else [], {"r": ["chat"]}, now)
        for alert in store.due_alerts(now, limit=1000):
            store.mark_sent(alert.id, now)
        store.prune(now, retention)
        sizes.append(store.size_bytes())
    warm, end = sizes[19], sizes[-1]
    assert end <= warm * 1.15, (warm, end, sizes)
    assert store.article_count() <= 13 * 25


def test_prune_command(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    config = tmp_path / "monitor.yaml"
    config.write_text(f"database: {db}\n", encoding="utf-8")
    store = Store.open(db)
    store.record_article(article(1), [], {}, datetime.now(UTC) - timedelta(days=3))
    store.close()
    run = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "prune", "--older-than", "2d"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "dropped the text of 1 articles, deleted 1 articles" in run.stdout
    store = Store.open(db)
    assert store.article_count() == 0
    store.close()


def test_prune_forgets_old_rate_limit_bookkeeping(store: Store) -> None:
    store.mark_sent_many([], "chat", T0)
    store.mark_sent_many([], "chat", T0 + timedelta(days=400))
    now = T0 + timedelta(days=401)
    assert store.messages_since("chat", T0 - timedelta(days=1)) == 2
    store.prune(now, RetentionConfig())
    assert store.messages_since("chat", T0 - timedelta(days=1)) == 1


def test_an_archived_entry_is_known_until_the_row_retention_then_forgotten(store: Store) -> None:
    retention = RetentionConfig(articles=timedelta(days=10), matches=timedelta(days=30), alerts=timedelta(days=30))
    archived = Entry(key="guid-a", feed_url=FEED, title="Old", link="http://127.0.0.1/old", summary="")
    churned = Entry(key="guid-b", feed_url=FEED, title="Old", link="http://127.0.0.1/old", summary="")
    store.remember_entries(FEED, "Local", [archived], ["http://127.0.0.1/old"], T0)
    assert store.unseen_entries(FEED, [archived, churned], ["http://127.0.0.1/old"] * 2) == []
    # another feed's copy is news: nothing about the archived entry ever alerted
    other = "http://127.0.0.1/other.xml"
    assert store.unseen_entries(other, [archived], ["http://127.0.0.1/old"]) == [archived]

    store.prune(T0 + timedelta(days=29), retention)
    assert store.unseen_entries(FEED, [archived], ["http://127.0.0.1/old"]) == []
    store.prune(T0 + timedelta(days=31), retention)
    assert store.unseen_entries(FEED, [archived], ["http://127.0.0.1/old"]) == [archived]
