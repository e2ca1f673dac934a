"""The store on real SQLite files: migrations, dedupe of entries, one alert per (rule, story, target), outbox."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StorageError
from monitor.store import Store
from monitor.types import Article, Entry, FeedState, Hit, Match

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FEED = "https://wire.example/rss"


def article(n: int, **kw: object) -> Article:
    base: dict[str, object] = {
        "url": f"https://wire.example/a/{n}",
        "link": f"https://wire.example/a/{n}?utm_source=rss",
        "title": f"Story {n}",
        "text": f"Body of story {n}",
        "feed_url": FEED,
        "feed_name": "Wire",
        "entry_key": f"guid-{n}",
    }
    base.update(kw)
    return Article(**base)  # type: ignore[arg-type]


def match(rule: str) -> Match:
    return Match(rule=rule, hits=(Hit("story", "title", 0, 5),), snippet="Story", highlights=((0, 5),))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "state" / "monitor.db")
    yield s  # type: ignore[misc]
    s.close()


def test_open_is_idempotent_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Store.open(path).close()
    store = Store.open(path)  # migrations already applied: nothing to do, no error
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"feeds", "articles", "entries", "stories", "matches", "alerts"} <= set(store.db.table_names())
    store.close()


def test_alert_per_rule_story_target_and_never_twice(store: Store) -> None:
    targets = {"minerals": ["chat", "mail"], "apec": ["mail"]}
    first = store.record_article(article(1), [match("minerals"), match("apec")], targets, NOW)
    assert first.new_article and first.alerts == 3
    again = store.record_article(article(1), [match("minerals"), match("apec")], targets, NOW)
    assert not again.new_article and again.alerts == 0
    due = store.due_alerts(NOW)
    assert sorted((a.rule, a.target) for a in due) == [("apec", "mail"), ("minerals", "chat"), ("minerals", "mail")]
    assert all(a.url.endswith("utm_source=rss") for a in due)  # the link as the feed gave it


def test_unseen_entries_by_key_and_by_canonical_url(store: Store) -> None:
    store.record_article(article(1), [], {}, NOW)

    def entry(key: str, link: str) -> Entry:
        return Entry(key=key, feed_url=FEED, title="t", link=link, summary="")

    entries = [
        entry("guid-1", "https://wire.example/a/1"),  # served again
        entry("guid-1-churned", "https://wire.example/a/1"),  # new GUID, same link
        entry("guid-2", "https://wire.example/a/2"),  # new
        entry("guid-2", "https://wire.example/a/2"),  # duplicate within the same document
    ]
    fresh = store.unseen_entries(FEED, entries, [e.link for e in entries])
    assert [e.key for e in fresh] == ["guid-2"]


def test_outbox_states(store: Store) -> None:
    store.record_article(article(1), [match("r")], {"r": ["chat", "mail"]}, NOW)
    chat, mail = sorted(store.due_alerts(NOW), key=lambda a: a.target)
    store.mark_sent(chat.id, NOW)
    store.mark_failed(mail.id, "HTTP 500", NOW + timedelta(minutes=1), NOW)
    assert store.due_alerts(NOW) == []  # mail waits for its next attempt
    retry = store.due_alerts(NOW + timedelta(minutes=1))
    assert [(a.target, a.status, a.attempts, a.last_error) for a in retry] == [("mail", "retrying", 1, "HTTP 500")]
    store.mark_failed(mail.id, "HTTP 404", None, NOW)
    assert store.outbox_counts() == {"chat": {"sent": 1}, "mail": {"dead": 1}}


def test_record_is_atomic(store: Store) -> None:
    """A failure inside the transaction leaves neither the article nor its alerts behind."""
    bad = Match(rule="r", hits=(), snippet="x", highlights=((0, 1),))
    store.db.conn.execute("CREATE TRIGGER boom BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(StorageError, match="write failed"):
        store.record_article(article(9), [bad], {"r": ["chat"]}, NOW)
    assert store.db.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
    assert store.db.conn.execute("SELECT count(*) FROM matches").fetchone()[0] == 0


def test_feed_state_round_trip(store: Store) -> None:
    state = FeedState(
        url=FEED,
        etag='"abc"',
        last_modified="Wed, 21 Oct 2026 07:28:00 GMT",
        failures=2,
        last_error="fetch failed: 503",
        last_polled=NOW,
        next_poll=NOW + timedelta(minutes=20),
    )
    store.save_feed_state(state, name="Wire")
    assert store.get_feed_state(FEED) == state
    assert store.failing_feeds() == 1


def test_deferred_feed_states_are_read_at_once_and_written_together(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = Store.open(path)
    first = FeedState(url=FEED, etag='"v1"', last_polled=NOW, next_poll=NOW + timedelta(minutes=10))
    other_url = "https://other.example/rss"
    assert store.defer_feed_state(first, name="Wire") is True  # the queue was empty: the caller flushes
    assert store.defer_feed_state(FeedState(url=other_url, etag='"o"'), name="Other") is False
    assert store.get_feed_state(FEED) == first
    other = Store.open(path)
    try:
        assert other.get_feed_state(FEED) == FeedState(url=FEED)  # not committed yet
        assert store.flush_feed_states() == 2
        assert other.get_feed_state(FEED) == first
        assert other.get_feed_state(other_url).etag == '"o"'
        assert store.flush_feed_states() == 0
        # a state written now supersedes a deferred one: a later flush does not bring the old one back
        store.defer_feed_state(replace(first, etag='"v2"'), name="Wire")
        store.save_feed_state(replace(first, failures=1, last_error="HTTP 503"), name="Wire")
        assert store.flush_feed_states() == 0
        assert other.get_feed_state(FEED).failures == 1
        # closing writes what is still deferred
        store.defer_feed_state(replace(first, etag='"v3"'), name="Wire")
        store.close()
        assert other.get_feed_state(FEED).etag == '"v3"'
    finally:
        other.close()


def test_batch_commits_once_and_a_failed_write_inside_rolls_back_alone(store: Store, tmp_path: Path) -> None:
    with store.batch():
        store.record_article(article(1), [match("minerals")], {"minerals": ["chat"]}, NOW)
        with pytest.raises(StorageError), store.transaction() as conn:
            conn.execute("INSERT INTO stories (title, created) VALUES ('x', ?)", (NOW.isoformat(),))
            conn.execute("INSERT INTO no_such_table VALUES (1)")
        other = Store.open(tmp_path / "state" / "monitor.db")
        try:  # nothing is visible to another connection before the batch commits
            assert other.db.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
        finally:
            other.close()
        store.record_article(article(2), [], {}, NOW)
    assert store.db.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
    assert store.db.conn.execute("SELECT count(*) FROM stories WHERE title = 'x'").fetchone()[0] == 0
    assert len(store.due_alerts(NOW)) == 1


def test_a_failed_batch_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.batch():
        store.record_article(article(1), [match("minerals")], {"minerals": ["chat"]}, NOW)
        raise RuntimeError("crash mid-poll")
    assert store.db.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
    assert store.due_alerts(NOW) == []


def test_a_feed_state_written_in_a_failed_batch_is_not_read_back(store: Store) -> None:
    kept = FeedState(url=FEED, etag='"v1"', last_polled=NOW)
    store.save_feed_state(kept, name="Wire")
    assert store.get_feed_state(FEED) == kept  # now held in memory
    with pytest.raises(RuntimeError), store.batch():
        store.save_feed_state(replace(kept, etag='"v2"', failures=3), name="Wire")
        raise RuntimeError("crash mid-poll")
    assert store.get_feed_state(FEED) == kept


def test_a_background_checkpoint_folds_the_wal_into_the_database(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = Store.open(path)
    store.checkpoint_in_background(interval=0.05)
    assert store.db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000  # the writer's backstop only
    before = path.stat().st_size
    with store.batch():  # about 2 MB of pages: below the backstop, so only the thread copies them
        for n in range(400):
            store.record_article(article(n, text=f"story {n} " + "word " * 1000), [], {}, NOW)
    deadline = time.monotonic() + 10
    while path.stat().st_size < before + 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= before + 1_000_000
    thread = store._checkpointer
    store.close()
    assert thread is not None and not thread.is_alive()
    assert not (tmp_path / "m.db-wal").exists()  # the writer closed last and removed the WAL
