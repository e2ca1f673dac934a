"""SQLite storage through sqlite-utils: migrations, every SQL statement, and the outbox.

The database is the service's memory: feed validators and health, every article (matched or not), stories,
matches and the alerts owed (the outbox). An alert row is written in the same transaction as its match, so a
crash never loses one. Writers start with ``BEGIN IMMEDIATE``: a transaction that reads and then writes could
otherwise fail at once with "database is locked" despite the busy timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from monitor.dedupe import (
    MAX_PARAGRAPHS,
    DedupePolicy,
    Fingerprint,
    TextPrint,
    fingerprint,
    paragraph_key,
    paragraphs,
    same_story,
    signature_from_bytes,
)
from monitor.errors import StorageError
from monitor.log import event
from monitor.types import Alert, Article, Entry, FeedState, Match

if TYPE_CHECKING:
    from monitor.config import RetentionConfig

BUSY_TIMEOUT_MS = 30_000
# Store.checkpoint_in_background: a thread copies the WAL into the database this often; the writing connection
# still checkpoints itself past this many WAL pages (40 MB), should the thread fall behind or fail.
CHECKPOINT_INTERVAL = 1.0
CHECKPOINT_BACKSTOP_PAGES = 10_000

log = logging.getLogger(__name__)

migrations = Migrations("news-monitor")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("feeds").create(
        {
            "url": str,
            "name": str,
            "etag": str,
            "last_modified": str,
            "body_hash": str,
            "failures": int,
            "last_error": str,
            "last_polled": str,
            "last_success": str,
            "next_poll": str,
            "retry_after": str,
            "broken_notified": int,
        },
        pk="url",
        defaults={"failures": 0, "broken_notified": 0},
    )
    db.table("stories").create(
        {"id": int, "title": str, "first_article_id": int, "created": str, "updated": str, "sources": int},
        pk="id",
        defaults={"sources": 1},
    )
    db.table("articles").create(
        {
            "id": int,
            "url": str,
            "link": str,
            "feed_url": str,
            "title": str,
            "summary": str,
            "text": str,
            "language": str,
            "published": str,
            "fetched": str,
            "extracted": int,
            "extract_error": str,
            "story_id": int,
        },
        pk="id",
        not_null={"url", "feed_url", "fetched"},
        foreign_keys=[("feed_url", "feeds", "url"), ("story_id", "stories", "id")],
    )
    db.table("articles").create_index(["url"], unique=True)
    db.table("articles").create_index(["story_id"])
    db.table("articles").create_index(["fetched"])
    db.table("articles").enable_fts(["title", "text"], create_triggers=True, tokenize="unicode61 remove_diacritics 2")
    db.table("entries").create(
        {"feed_url": str, "key": str, "article_id": int, "first_seen": str},
        pk=("feed_url", "key"),
        foreign_keys=[("feed_url", "feeds", "url"), ("article_id", "articles", "id")],
    )
    db.table("matches").create(
        {
            "id": int,
            "rule": str,
            "story_id": int,
            "article_id": int,
            "created": str,
            "snippet": str,
            "highlights": str,
            "hits": str,
            "priority": str,
        },
        pk="id",
        not_null={"rule", "story_id", "article_id", "created"},
        foreign_keys=[("story_id", "stories", "id"), ("article_id", "articles", "id")],
    )
    db.table("matches").create_index(["rule", "story_id"], unique=True)
    db.table("matches").create_index(["created"])
    db.table("alerts").create(
        {
            "id": int,
            "match_id": int,
            "rule": str,
            "story_id": int,
            "target": str,
            "status": str,
            "attempts": int,
            "next_attempt": str,
            "last_error": str,
            "created": str,
            "last_attempt": str,
            "sent": str,
        },
        pk="id",
        not_null={"match_id", "rule", "story_id", "target", "status", "created"},
        defaults={"status": "pending", "attempts": 0},
        foreign_keys=[("match_id", "matches", "id"), ("story_id", "stories", "id")],
    )
    db.table("alerts").create_index(["rule", "story_id", "target"], unique=True)
    db.table("alerts").create_index(["status", "next_attempt"])


@migrations()
def m002_dedupe(db: sqlite_utils.Database) -> None:
    # Near-duplicates: each article's MinHash signature, its LSH bands as indexed integers (finding candidate
    # stories is an index lookup on (band, seen)), and per-feed paragraph keys that reveal page furniture.
    articles = db.table("articles")
    articles.add_column("content_hash", str)
    articles.add_column("words", int)
    articles.add_column("minhash", bytes)
    articles.create_index(["content_hash", "fetched"])
    db.execute(
        "CREATE TABLE article_bands (band INTEGER NOT NULL, seen TEXT NOT NULL,"
        " article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE)"
    )
    db.execute("CREATE INDEX idx_article_bands_band_seen ON article_bands (band, seen)")
    db.execute("CREATE INDEX idx_article_bands_article_id ON article_bands (article_id)")
    # A paragraph a feed has published under two or more stories is furniture, not news.
    db.execute(
        "CREATE TABLE furniture (key INTEGER PRIMARY KEY, story_id INTEGER NOT NULL,"
        " stories INTEGER NOT NULL DEFAULT 1)"
    )


_MAX_CANDIDATES = 200  # stories compared per article; the newest win if a band is very crowded


@migrations()
def m003_deliveries(db: sqlite_utils.Database) -> None:
    # One row per message sent (an alert, a summary, a digest): per-target rate limits count these.
    db.execute(
        "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, target TEXT NOT NULL, sent TEXT NOT NULL,"
        " alerts INTEGER NOT NULL DEFAULT 1)"
    )
    db.execute("CREATE INDEX idx_deliveries_target_sent ON deliveries (target, sent)")


@migrations()
def m004_cadence(db: sqlite_utils.Database) -> None:
    # Each feed's publishing rhythm for adaptive polling (monitor.cadence): decayed new entries and seconds.
    db.table("feeds").add_column("cadence_entries", float)
    db.table("feeds").add_column("cadence_seconds", float)


@migrations()
def m005_furniture_seen(db: sqlite_utils.Database) -> None:
    # When a paragraph was last seen: paragraphs seen under one story only are pruned with the article text.
    db.table("furniture").add_column("seen", str)


@migrations()
def m006_health_probe(db: sqlite_utils.Database) -> None:
    # One row that /healthz rewrites to prove the database takes writes (a schema change belongs here, not
    # in the probe). IF NOT EXISTS: databases from before this migration may have it from the probe already.
    db.execute("CREATE TABLE IF NOT EXISTS health_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT)")


# entries.key prefix for an archived entry's canonical link (a URL has no space, so no link key is a URL)
_LINK_KEY = "link "


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_FEED_COLUMNS = (
    "url",
    "name",
    "etag",
    "last_modified",
    "body_hash",
    "failures",
    "last_error",
    "last_polled",
    "last_success",
    "next_poll",
    "retry_after",
    "broken_notified",
    "cadence_entries",
    "cadence_seconds",
)
_SAVE_FEED = (
    f"INSERT INTO feeds ({', '.join(_FEED_COLUMNS)}) VALUES ({', '.join('?' * len(_FEED_COLUMNS))})"
    f" ON CONFLICT(url) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _FEED_COLUMNS[1:])}"
)


def _feed_state(r: Mapping[str, Any]) -> FeedState:
    return FeedState(
        url=r["url"],
        etag=r["etag"],
        last_modified=r["last_modified"],
        body_hash=r["body_hash"],
        failures=r["failures"] or 0,
        last_error=r["last_error"],
        last_polled=_dt(r["last_polled"]),
        last_success=_dt(r["last_success"]),
        next_poll=_dt(r["next_poll"]),
        retry_after=_dt(r["retry_after"]),
        broken_notified=bool(r["broken_notified"]),
        cadence_entries=r["cadence_entries"],
        cadence_seconds=r["cadence_seconds"],
    )


def _feed_row(state: FeedState, name: str) -> tuple[Any, ...]:
    """A feed state as ``_SAVE_FEED``'s parameters, in ``_FEED_COLUMNS`` order."""
    return (
        state.url,
        name,
        state.etag,
        state.last_modified,
        state.body_hash,
        state.failures,
        state.last_error,
        _iso(state.last_polled),
        _iso(state.last_success),
        _iso(state.next_poll),
        _iso(state.retry_after),
        int(state.broken_notified),
        state.cadence_entries,
        state.cadence_seconds,
    )


@dataclass(frozen=True, slots=True)
class Recorded:
    """What ``record_article`` wrote."""

    article_id: int
    story_id: int
    new_article: bool  # False: the canonical URL was known; nothing else was written
    new_story: bool
    matched_rules: tuple[str, ...]  # rules newly matched for this story
    alerts: int  # alert rows created


@dataclass(frozen=True, slots=True)
class StoredArticle:
    id: int
    story_id: int
    article: Article
    matched_rules: frozenset[str]  # rules that already matched its story


class Store:
    """One SQLite database. Not shared between processes' schedulers; safe for one writer thread."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._deferred: dict[str, tuple[FeedState, str]] = {}  # url → (state, name) for defer_feed_state
        # Every feed's committed state, read in one SELECT (a SELECT per poll was ~30 µs of a ~140 µs 304) and
        # kept while no other connection commits (PRAGMA data_version); this connection's writes update it.
        self._states: dict[str, FeedState] | None = None
        self._states_version = -1
        self._checkpointer: _Checkpointer | None = None

    @classmethod
    def open(cls, path: Path) -> Store:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: we open transactions ourselves (BEGIN IMMEDIATE) so writes are atomic.
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            db = sqlite_utils.Database(conn)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable across kill -9
            conn.execute("PRAGMA foreign_keys = ON")
            migrations.apply(db)
        except (sqlite3.Error, OSError) as e:
            raise StorageError("cannot open database", subject=str(path)) from e
        return cls(db, path)

    def close(self) -> None:
        try:
            self.flush_feed_states()
        finally:
            if self._checkpointer is not None:
                self._checkpointer.stop()  # first: the last connection to close folds the WAL in and removes it
            self.db.conn.close()

    def checkpoint_in_background(self, interval: float = CHECKPOINT_INTERVAL) -> None:
        """Copy the WAL into the database from a thread with its own connection, not in the commit that
        crosses SQLite's 1,000-page threshold: that commit then also copied the pages and synced the file
        (milliseconds, seconds on a slow disk) on the daemon's event loop. The daemon calls this once."""
        if self._checkpointer is not None:
            return
        self.db.conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_BACKSTOP_PAGES}")
        self._checkpointer = _Checkpointer(self.path, interval)
        self._checkpointer.start()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.db.conn
        if conn.in_transaction:
            # inside batch(): a savepoint, so this write still rolls back alone; the batch commits once
            with self._savepoint(conn):
                yield conn
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StorageError("cannot start a transaction", subject=str(self.path)) from e
        try:
            yield conn
        except sqlite3.Error as e:
            conn.execute("ROLLBACK")
            raise StorageError("write failed", subject=str(self.path)) from e
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            conn.execute("ROLLBACK")
            raise StorageError("cannot commit", subject=str(self.path)) from e

    @contextmanager
    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[None]:
        try:
            conn.execute("SAVEPOINT write")
        except sqlite3.Error as e:
            raise StorageError("cannot start a savepoint", subject=str(self.path)) from e
        try:
            yield
        except BaseException as e:
            conn.execute("ROLLBACK TO write")
            conn.execute("RELEASE write")
            if isinstance(e, sqlite3.Error):
                raise StorageError("write failed", subject=str(self.path)) from e
            raise
        conn.execute("RELEASE write")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many writes, one transaction: one commit (one WAL sync, one FTS flush) for a poll's articles instead
        of one per article, which was most of a first poll's time. Writes inside are savepoints. Never hold a
        batch across an ``await``: another coroutine's writes on this connection would join it."""
        with self.transaction():
            yield

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        try:
            cursor = self.db.conn.execute(sql, params)
            columns = [c[0] for c in cursor.description or ()]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        except sqlite3.Error as e:
            raise StorageError("query failed", subject=str(self.path)) from e

    # -- feeds ---------------------------------------------------------------------------------------------

    def get_feed_state(self, url: str) -> FeedState:
        deferred = self._deferred.get(url)
        if deferred is not None:
            return deferred[0]
        return self._committed_states().get(url) or FeedState(url=url)

    def _committed_states(self) -> dict[str, FeedState]:
        try:
            version = self.db.conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as e:
            raise StorageError("query failed", subject=str(self.path)) from e
        if self._states is None or version != self._states_version:
            self._states = {r["url"]: _feed_state(r) for r in self._query("SELECT * FROM feeds")}
            self._states_version = version
        return self._states

    def _remember(self, states: Sequence[FeedState], nested: bool) -> None:
        """After a committed write of ``states``; inside an outer transaction that may still roll back, the
        cache is dropped instead (the next read reloads it)."""
        if self._states is None:
            return
        if nested:
            self._states = None
            return
        for state in states:
            self._states[state.url] = state

    def save_feed_state(self, state: FeedState, *, name: str) -> None:
        """Written now, in its own transaction (a deferred older state of the feed is dropped)."""
        self._deferred.pop(state.url, None)
        nested = self.db.conn.in_transaction
        with self.transaction() as conn:
            conn.execute(_SAVE_FEED, _feed_row(state, name))
        self._remember([state], nested)

    def defer_feed_state(self, state: FeedState, *, name: str) -> bool:
        """Queue a routine feed state (a poll's bookkeeping: validators, times, cadence) for
        ``flush_feed_states``, which writes all queued states in one transaction: one commit for hundreds of
        304s instead of one each. This store's reads see it at once. True when the queue was empty: the caller
        arranges a flush. A crash before the flush loses only this bookkeeping, which the next poll re-derives
        (at worst the feed is fetched once more); not for state whose loss could repeat a notice (failures,
        broken_notified) or mark a body as processed before its articles are stored."""
        first = not self._deferred
        self._deferred[state.url] = (state, name)
        return first

    def flush_feed_states(self) -> int:
        """Write the deferred feed states in one transaction; returns how many."""
        if not self._deferred:
            return 0
        states = [state for state, _ in self._deferred.values()]
        rows = [_feed_row(state, name) for state, name in self._deferred.values()]
        self._deferred.clear()
        nested = self.db.conn.in_transaction
        with self.transaction() as conn:
            conn.executemany(_SAVE_FEED, rows)
        self._remember(states, nested)
        return len(rows)

    def failing_feeds(self) -> int:
        self.flush_feed_states()
        return int(self._query("SELECT count(*) AS n FROM feeds WHERE failures > 0")[0]["n"])

    def feed_rows(self) -> list[dict[str, Any]]:
        """Feed health for ``status``: validators are left out."""
        self.flush_feed_states()
        return self._query(
            "SELECT f.url, f.name, f.failures, f.last_error, f.last_polled, f.last_success, f.next_poll,"
            " (SELECT count(*) FROM articles a WHERE a.feed_url = f.url) AS articles FROM feeds f ORDER BY f.name"
        )

    # -- entries and articles ------------------------------------------------------------------------------

    def unseen_entries(self, feed_url: str, entries: Sequence[Entry], urls: Sequence[str | None]) -> list[Entry]:
        """Entries not seen before: neither their key in this feed nor their canonical URL anywhere.

        ``urls`` are the entries' canonical links (None where an entry has no link), in the same order."""
        if not entries:
            return []
        # an archived entry (remember_entries) is also known by its link, under _LINK_KEY
        keys = [e.key for e in entries] + [_LINK_KEY + u for u in urls if u]
        seen_keys = {
            r["key"]
            for r in self._query(
                f"SELECT key FROM entries WHERE feed_url = ? AND key IN ({', '.join('?' * len(keys))})",
                (feed_url, *keys),
            )
        }
        known = [u for u in urls if u]
        seen_urls = (
            {
                r["url"]
                for r in self._query(f"SELECT url FROM articles WHERE url IN ({', '.join('?' * len(known))})", known)
            }
            if known
            else set()
        )
        out: list[Entry] = []
        batch: set[str] = set()
        for entry, url in zip(entries, urls, strict=True):
            # A feed that re-serves an item, repeats a GUID, or churns GUIDs on the same link is not new.
            if (
                entry.key in seen_keys
                or entry.key in batch
                or (url and (url in seen_urls or url in batch or _LINK_KEY + url in seen_keys))
            ):
                continue
            batch.add(entry.key)
            if url:
                batch.add(url)
            out.append(entry)
        return out

    def remember_entries(
        self, feed_url: str, feed_name: str, entries: Sequence[Entry], urls: Sequence[str | None], now: datetime
    ) -> None:
        """Mark entries as seen without storing them as articles (a new feed's archive). Later polls of this
        feed skip them, by key or by canonical link (``urls``, in the same order) when the feed churns its
        GUIDs; another feed's copy of the same story is still news, since none of them alerted."""
        if not entries:
            return
        stamp = _iso(now)
        keys = [e.key for e in entries] + [_LINK_KEY + u for u in urls if u]
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO feeds (url, name) VALUES (?, ?) ON CONFLICT(url) DO NOTHING", (feed_url, feed_name)
            )
            conn.executemany(
                "INSERT OR IGNORE INTO entries (feed_url, key, article_id, first_seen) VALUES (?, ?, NULL, ?)",
                [(feed_url, key, stamp) for key in keys],
            )

    def record_article(
        self,
        article: Article,
        matches: Sequence[Match],
        targets: Mapping[str, Sequence[str]],
        now: datetime,
        dedupe: DedupePolicy | None = None,
        prints: TextPrint | None = None,
    ) -> Recorded:
        """Store an article, its story, its new matches and their alerts in one transaction.

        The article joins a story seen within ``dedupe.window`` when it carries the same text (exact content
        hash, or near-duplicate by MinHash); then only rules new to that story alert. ``prints``:
        ``text_print(article.feed_url, article.text)`` when the worker that extracted the text computed it."""
        policy = dedupe or DedupePolicy()
        stamp = _iso(now)
        with self.transaction() as conn:
            existing = conn.execute("SELECT id, story_id FROM articles WHERE url = ?", (article.url,)).fetchone()
            conn.execute(
                "INSERT INTO feeds (url, name) VALUES (?, ?) ON CONFLICT(url) DO NOTHING",
                (article.feed_url, article.feed_name),
            )
            if existing is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO entries (feed_url, key, article_id, first_seen) VALUES (?, ?, ?, ?)",
                    (article.feed_url, article.entry_key, existing[0], stamp),
                )
                return Recorded(existing[0], existing[1], False, False, (), 0)
            fp, keys, bands = self._fingerprint(conn, article, prints)
            found = self._find_story(conn, fp, bands, _iso(now - policy.window), policy)
            if found is None:
                story_id = conn.execute(
                    "INSERT INTO stories (title, created, updated, sources) VALUES (?, ?, ?, 1)",
                    (article.title, stamp, stamp),
                ).lastrowid
                assert story_id is not None
            else:
                story_id = found
            article_id = conn.execute(
                "INSERT INTO articles (url, link, feed_url, title, summary, text, language, published, fetched,"
                " extracted, extract_error, story_id, content_hash, words, minhash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    article.url,
                    article.link,
                    article.feed_url,
                    article.title,
                    article.summary,
                    article.text,
                    article.language,
                    _iso(article.published),
                    stamp,
                    int(article.extracted),
                    article.extract_error,
                    story_id,
                    fp.content_hash,
                    fp.words,
                    fp.signature_bytes(),
                ),
            ).lastrowid
            assert article_id is not None
            if found is None:
                conn.execute("UPDATE stories SET first_article_id = ? WHERE id = ?", (article_id, story_id))
            else:  # sources: the outlets (feeds) that carry the story
                conn.execute(
                    "UPDATE stories SET updated = ?, sources = (SELECT count(DISTINCT feed_url) FROM articles"
                    " WHERE story_id = ?) WHERE id = ?",
                    (stamp, story_id, story_id),
                )
            conn.executemany(
                "INSERT INTO article_bands (band, seen, article_id) VALUES (?, ?, ?)",
                [(band, stamp, article_id) for band in bands],
            )
            conn.executemany(
                "INSERT INTO furniture (key, story_id, seen) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " stories = stories + (story_id != excluded.story_id), story_id = excluded.story_id,"
                " seen = excluded.seen",
                [(key, story_id, stamp) for key in keys],
            )
            conn.execute(
                "INSERT OR IGNORE INTO entries (feed_url, key, article_id, first_seen) VALUES (?, ?, ?, ?)",
                (article.feed_url, article.entry_key, article_id, stamp),
            )
            matched, alerts = self._record_matches(conn, story_id, article_id, matches, targets, stamp)
            return Recorded(article_id, story_id, True, found is None, matched, alerts)

    @staticmethod
    def _fingerprint(
        conn: sqlite3.Connection, article: Article, prints: TextPrint | None
    ) -> tuple[Fingerprint, list[int], Sequence[int]]:
        """The article's fingerprint without its feed's known furniture, its paragraph keys and its bands."""
        text = article.text or article.summary
        if prints is None:
            keyed = {paragraph_key(article.feed_url, p): p for p in paragraphs(text)[:MAX_PARAGRAPHS]}
            keys = list(keyed)
        else:
            keys = list(dict.fromkeys(prints.keys))
        found: list[int] = []
        if keys:
            rows = conn.execute(
                f"SELECT key FROM furniture WHERE stories >= 2 AND key IN ({', '.join('?' * len(keys))})", keys
            )
            found = [key for (key,) in rows]
        if prints is not None and not found:
            return prints.fingerprint(article.title), keys, prints.bands
        if prints is not None:  # furniture: the paragraphs behind the keys (the worker sent keys, not text)
            keyed = dict(zip(prints.keys, paragraphs(text), strict=False))
        fp = fingerprint(article.title, text, {keyed[key] for key in found})
        return fp, keys, fp.bands()

    @staticmethod
    def _find_story(
        conn: sqlite3.Connection, fp: Fingerprint, bands: Sequence[int], since: str | None, policy: DedupePolicy
    ) -> int | None:
        """The story seen since ``since`` whose article best contains this text (or is contained in it)."""
        if fp.words >= policy.min_words:
            row = conn.execute(
                "SELECT story_id FROM articles WHERE content_hash = ? AND fetched >= ? ORDER BY id DESC LIMIT 1",
                (fp.content_hash, since),
            ).fetchone()
            if row is not None:
                return int(row[0])
        if not bands:
            return None
        candidates = conn.execute(
            "SELECT id, story_id, minhash, words, title FROM articles WHERE id IN (SELECT DISTINCT article_id"
            f" FROM article_bands WHERE band IN ({', '.join('?' * len(bands))}) AND seen >= ?"
            " ORDER BY article_id DESC LIMIT ?)",
            (*bands, since, _MAX_CANDIDATES),
        ).fetchall()
        best: tuple[float, int] | None = None
        for _, story_id, blob, words, title in candidates:
            if blob is None:
                continue
            score = same_story(fp, signature_from_bytes(blob), words or 0, title or "", policy)
            if score is not None and (best is None or score > best[0]):
                best = (score, int(story_id))
        return best[1] if best else None

    def _record_matches(
        self,
        conn: sqlite3.Connection,
        story_id: int,
        article_id: int,
        matches: Sequence[Match],
        targets: Mapping[str, Sequence[str]],
        stamp: str | None,
    ) -> tuple[tuple[str, ...], int]:
        matched: list[str] = []
        alerts = 0
        for match in matches:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO matches (rule, story_id, article_id, created, snippet, highlights, hits,"
                " priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    match.rule,
                    story_id,
                    article_id,
                    stamp,
                    match.snippet,
                    json.dumps(match.highlights),
                    json.dumps([[h.term, h.field, h.start, h.end, h.entity] for h in match.hits]),
                    match.priority,
                ),
            )
            if cursor.rowcount == 0:
                continue  # this rule already matched this story: one alert per (rule, story, target)
            matched.append(match.rule)
            for target in targets.get(match.rule, ()):
                alerts += conn.execute(
                    "INSERT OR IGNORE INTO alerts (match_id, rule, story_id, target, status, attempts, created,"
                    " next_attempt) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)",
                    (cursor.lastrowid, match.rule, story_id, target, stamp, stamp),
                ).rowcount
        return tuple(matched), alerts

    def articles_since(self, since: datetime) -> Iterator[StoredArticle]:
        """Stored articles fetched since ``since``, oldest first (for replay)."""
        rows = self._query(
            "SELECT a.*, f.name AS feed_name, (SELECT group_concat(m.rule, char(31)) FROM matches m"
            " WHERE m.story_id = a.story_id) AS rules FROM articles a JOIN feeds f ON f.url = a.feed_url"
            " WHERE a.fetched >= ? ORDER BY a.id",
            (_iso(since),),
        )
        for row in rows:
            yield StoredArticle(
                row["id"],
                row["story_id"],
                Article(
                    url=row["url"],
                    link=row["link"] or row["url"],
                    title=row["title"] or "",
                    text=row["text"] or "",
                    feed_url=row["feed_url"],
                    feed_name=row["feed_name"] or row["feed_url"],
                    entry_key="",
                    summary=row["summary"] or "",
                    published=_dt(row["published"]),
                    language=row["language"],
                    extracted=bool(row["extracted"]),
                    extract_error=row["extract_error"],
                ),
                frozenset(row["rules"].split("\x1f")) if row["rules"] else frozenset(),
            )

    def record_matches(
        self,
        article_id: int,
        story_id: int,
        matches: Sequence[Match],
        targets: Mapping[str, Sequence[str]],
        now: datetime,
    ) -> tuple[tuple[str, ...], int]:
        """Matches found later (replay --send) for a stored article: alerts only for rules new to its story."""
        with self.transaction() as conn:
            return self._record_matches(conn, story_id, article_id, matches, targets, _iso(now))

    # -- the outbox ----------------------------------------------------------------------------------------

    _ALERT_SELECT = (
        "SELECT al.*, m.snippet, m.highlights, m.priority, m.article_id, a.title, a.link, a.url, a.published,"
        " a.extracted, f.name AS feed_name, s.sources FROM alerts al"
        " JOIN matches m ON m.id = al.match_id JOIN articles a ON a.id = m.article_id"
        " JOIN feeds f ON f.url = a.feed_url JOIN stories s ON s.id = al.story_id"
    )

    def due_alerts(self, now: datetime, limit: int = 100) -> list[Alert]:
        rows = self._query(
            self._ALERT_SELECT + " WHERE al.status IN ('pending', 'retrying')"
            " AND (al.next_attempt IS NULL OR al.next_attempt <= ?) ORDER BY al.id LIMIT ?",
            (_iso(now), limit),
        )
        return [self._alert(r) for r in rows]

    @staticmethod
    def _alert(r: dict[str, Any]) -> Alert:
        return Alert(
            id=r["id"],
            rule=r["rule"],
            target=r["target"],
            story_id=r["story_id"],
            article_id=r["article_id"],
            title=r["title"] or "",
            url=r["link"] or r["url"],
            feed_name=r["feed_name"] or "",
            snippet=r["snippet"] or "",
            highlights=tuple((int(a), int(b)) for a, b in json.loads(r["highlights"] or "[]")),
            extracted=bool(r["extracted"]),
            published=_dt(r["published"]),
            created=_dt(r["created"]),
            status=r["status"],
            attempts=r["attempts"] or 0,
            next_attempt=_dt(r["next_attempt"]),
            last_error=r["last_error"],
            sources=r["sources"] or 1,
            priority=r["priority"] or "normal",
        )

    def mark_sent(self, alert_id: int, now: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE alerts SET status = 'sent', sent = ?, last_attempt = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ?",
                (_iso(now), _iso(now), alert_id),
            )

    def mark_failed(self, alert_id: int, error: str, next_attempt: datetime | None, now: datetime) -> None:
        """Record a failed attempt; ``next_attempt`` None means give up (dead). ``error`` must be masked."""
        status = "retrying" if next_attempt is not None else "dead"
        with self.transaction() as conn:
            conn.execute(
                "UPDATE alerts SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt = ?,"
                " last_attempt = ? WHERE id = ?",
                (status, error, _iso(next_attempt), _iso(now), alert_id),
            )

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """target → status → count."""
        out: dict[str, dict[str, int]] = {}
        for row in self._query("SELECT target, status, count(*) AS n FROM alerts GROUP BY target, status"):
            out.setdefault(row["target"], {})[row["status"]] = row["n"]
        return out

    # -- delivery bookkeeping (deliver.py) -----------------------------------------------------------------

    def mark_sent_many(self, alert_ids: Sequence[int], target: str, now: datetime) -> None:
        """Alerts that went out in one message; the message counts once against the target's rate limit."""
        stamp = _iso(now)
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE alerts SET status = 'sent', sent = ?, last_attempt = ?, attempts = attempts + 1,"
                " last_error = NULL, next_attempt = NULL WHERE id = ?",
                [(stamp, stamp, i) for i in alert_ids],
            )
            conn.execute(
                "INSERT INTO deliveries (target, sent, alerts) VALUES (?, ?, ?)", (target, stamp, len(alert_ids))
            )

    def messages_since(self, target: str, since: datetime) -> int:
        rows = self._query("SELECT count(*) AS n FROM deliveries WHERE target = ? AND sent >= ?", (target, _iso(since)))
        return int(rows[0]["n"])

    def hold(self, alert_ids: Sequence[int], until: datetime | None) -> None:
        """Hold alerts: until a time (quiet hours: a catch-up message then) or, with None, for a digest."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE alerts SET status = 'held', next_attempt = ? WHERE id = ?",
                [(_iso(until), i) for i in alert_ids],
            )

    def defer_target(self, target: str, until: datetime) -> int:
        """Nothing goes to ``target`` before ``until`` (its Retry-After, its rate limit): survives restarts."""
        with self.transaction() as conn:
            return conn.execute(
                "UPDATE alerts SET next_attempt = ? WHERE target = ? AND status IN ('pending', 'retrying')"
                " AND (next_attempt IS NULL OR next_attempt < ?)",
                (_iso(until), target, _iso(until)),
            ).rowcount

    def held_due(self, now: datetime, limit: int = 1000) -> list[Alert]:
        """Alerts held for quiet hours whose window has ended."""
        rows = self._query(
            self._ALERT_SELECT + " WHERE al.status = 'held' AND al.next_attempt IS NOT NULL"
            " AND al.next_attempt <= ? ORDER BY al.id LIMIT ?",
            (_iso(now), limit),
        )
        return [self._alert(r) for r in rows]

    def digest_alerts(self, target: str, rules: Sequence[str] | None = None) -> list[Alert]:
        """Alerts held for ``target``'s next digest (optionally only these rules'), oldest first."""
        sql = self._ALERT_SELECT + " WHERE al.status = 'held' AND al.next_attempt IS NULL AND al.target = ?"
        params: list[Any] = [target]
        if rules is not None:
            sql += f" AND al.rule IN ({', '.join('?' * len(rules))})"
            params.extend(rules)
        return [self._alert(r) for r in self._query(sql + " ORDER BY al.id", params)]

    def outbox_errors(self) -> dict[str, str]:
        """target → the last error of its most recently failed alert (retrying or dead)."""
        rows = self._query(
            "SELECT target, last_error FROM alerts WHERE id IN (SELECT max(id) FROM alerts"
            " WHERE status IN ('retrying', 'dead') AND last_error IS NOT NULL GROUP BY target)"
        )
        return {r["target"]: r["last_error"] for r in rows}

    # -- operations: health probe, status, search, retention (issue 7) -------------------------------------

    def probe_write(self, now: datetime) -> None:
        """One real committed write, for /healthz: a full disk or a read-only file fails here."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO health_probe (id, at) VALUES (1, ?)", (_iso(now),))

    def size_bytes(self) -> int:
        """The database file plus its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += Path(str(self.path) + suffix).stat().st_size
        return total

    def feed_status(self, now: datetime) -> list[dict[str, Any]]:
        """Per feed: health columns and the items stored in the last 7 days."""
        self.flush_feed_states()
        return self._query(
            "SELECT f.url, f.name, f.failures, f.last_error, f.last_polled, f.last_success, f.next_poll,"
            " (SELECT count(*) FROM articles a WHERE a.feed_url = f.url AND a.fetched >= ?) AS items_7d"
            " FROM feeds f ORDER BY f.name",
            (_iso(now - timedelta(days=7)),),
        )

    def rule_status(self, now: datetime) -> dict[str, tuple[int, int]]:
        """rule → (matches in the last 24 h, in the last 7 days)."""
        rows = self._query(
            "SELECT rule, sum(created >= ?) AS day, count(*) AS week FROM matches WHERE created >= ? GROUP BY rule",
            (_iso(now - timedelta(days=1)), _iso(now - timedelta(days=7))),
        )
        return {r["rule"]: (int(r["day"] or 0), int(r["week"])) for r in rows}

    def match_counts(self) -> dict[str, int]:
        """rule → stored matches (for /metrics; falls when retention deletes old ones)."""
        return {r["rule"]: r["n"] for r in self._query("SELECT rule, count(*) AS n FROM matches GROUP BY rule")}

    def article_count(self) -> int:
        return int(self._query("SELECT count(*) AS n FROM articles")[0]["n"])

    def recent_matches(self, since: datetime, rule: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Matches created since ``since``, newest first, with their article."""
        where, params = "m.created >= ?", [_iso(since)]
        if rule is not None:
            where += " AND m.rule = ?"
            params.append(rule)
        return self._query(
            "SELECT m.id, m.rule, m.created, m.snippet, m.story_id, a.title, coalesce(a.link, a.url) AS url,"
            " f.name AS feed FROM matches m JOIN articles a ON a.id = m.article_id"
            f" LEFT JOIN feeds f ON f.url = a.feed_url WHERE {where} ORDER BY m.created DESC, m.id DESC LIMIT ?",
            (*params, limit),
        )

    def search(self, query: str, limit: int = 20, mark: tuple[str, str] = ("[", "]")) -> list[dict[str, Any]]:
        """Full-text search (FTS5) over article titles and text, best first, with a snippet.

        The query is FTS5 syntax (words, "phrases", OR, NOT, prefix*); text that is not valid FTS5 syntax is
        searched as plain words instead of failing. ``mark`` wraps the matched words in the snippet."""
        sql = (
            "SELECT a.id, a.title, coalesce(a.link, a.url) AS url, a.fetched, f.name AS feed,"
            " snippet(articles_fts, -1, ?, ?, '…', 16) AS snippet FROM articles_fts"
            " JOIN articles a ON a.id = articles_fts.rowid LEFT JOIN feeds f ON f.url = a.feed_url"
            " WHERE articles_fts MATCH ? ORDER BY articles_fts.rank LIMIT ?"
        )
        try:
            cursor = self.db.conn.execute(sql, (*mark, query, limit))
        except sqlite3.OperationalError:
            terms = [w for w in re.findall(r"\w+", query) if w not in ("AND", "OR", "NOT", "NEAR")]
            words = " ".join(f'"{w}"' for w in terms)
            if not words:
                return []
            return self._query(sql, (*mark, words, limit))
        columns = [c[0] for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def prune(self, now: datetime, retention: RetentionConfig) -> Pruned:
        """Apply retention; see ``Pruned`` for what goes when. Never touches alerts still owed.

        Article rows outlive their text: an old item that a feed serves again must still be known (its entry
        key and canonical URL) or it would alert a second time. The rows go, with their entries, only once
        they are older than both the article and the match retention and nothing references them."""
        text_cutoff = _iso(now - retention.articles)
        match_cutoff = _iso(now - retention.matches)
        alert_cutoff = _iso(now - retention.alerts)
        row_cutoff = _iso(now - max(retention.articles, retention.matches))
        with self.transaction() as conn:
            alerts = conn.execute(
                "DELETE FROM alerts WHERE status IN ('sent', 'dead') AND created < ?", (alert_cutoff,)
            ).rowcount
            matches = conn.execute(
                "DELETE FROM matches WHERE created < ? AND id NOT IN (SELECT match_id FROM alerts)", (match_cutoff,)
            ).rowcount
            # The near-duplicate signature goes with the text: stories older than this no longer gain copies.
            texts = conn.execute(
                "UPDATE articles SET text = NULL, summary = NULL, minhash = NULL WHERE fetched < ?"
                " AND (text IS NOT NULL OR summary IS NOT NULL OR minhash IS NOT NULL)",
                (text_cutoff,),
            ).rowcount
            conn.execute("DELETE FROM article_bands WHERE seen < ?", (text_cutoff,))
            conn.execute("DELETE FROM furniture WHERE stories < 2 AND seen < ?", (text_cutoff,))
            # Rate-limit bookkeeping: windows are far shorter than alert retention.
            conn.execute("DELETE FROM deliveries WHERE sent < ?", (alert_cutoff,))
            held = "SELECT article_id FROM matches"
            conn.execute(
                f"DELETE FROM entries WHERE article_id IN (SELECT id FROM articles WHERE fetched < ?"
                f" AND id NOT IN ({held}))",
                (row_cutoff,),
            )
            conn.execute("DELETE FROM entries WHERE article_id IS NULL AND first_seen < ?", (row_cutoff,))
            articles = conn.execute(
                f"DELETE FROM articles WHERE fetched < ? AND id NOT IN ({held})", (row_cutoff,)
            ).rowcount
            conn.execute(
                "DELETE FROM stories WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.story_id = stories.id)"
                " AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.story_id = stories.id)"
            )
        self._compact()
        return Pruned(texts=texts, articles=articles, matches=matches, alerts=alerts)

    def _compact(self) -> None:
        """Give freed pages back to the file system: incremental vacuum once auto_vacuum is on (switching
        it on needs one full VACUUM, done the first time), then merge FTS segments and truncate the WAL."""
        conn = self.db.conn
        try:
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("VACUUM")
            conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('optimize')")
            conn.execute("PRAGMA incremental_vacuum").fetchall()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as e:
            raise StorageError("cannot compact the database", subject=str(self.path)) from e


class _Checkpointer(threading.Thread):
    """PASSIVE checkpoints every ``interval`` seconds: they wait for no reader or writer, and the GIL is free
    while SQLite copies pages and syncs the file."""

    def __init__(self, path: Path, interval: float) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self.path = path
        self.interval = interval
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as e:
            event(log, "checkpoint_failed", logging.WARNING, db=str(self.path), error=str(e))
            return
        failing = False
        try:
            while not self._stopping.wait(self.interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:  # the writer's backstop checkpoints meanwhile; say so once
                    if not failing:
                        event(log, "checkpoint_failed", logging.WARNING, db=str(self.path), error=str(e))
                    failing = True
                else:
                    failing = False
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(5)  # a checkpoint in progress finishes on its own; the daemon does not wait longer


@dataclass(frozen=True, slots=True)
class Pruned:
    """What ``Store.prune`` removed."""

    texts: int  # articles whose text and summary were dropped (the row stays for dedupe)
    articles: int  # article rows deleted with their entries
    matches: int
    alerts: int  # sent or dead alerts; pending and retrying ones are never deleted
