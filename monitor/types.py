"""Frozen values that flow between the pipeline's stages.

Stages take these (or bytes/str) and return these; only the edges (fetch, store, notify, daemon) have side
effects. All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from monitor.errors import MonitorError

if TYPE_CHECKING:
    from monitor.dedupe import TextPrint


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed as configured (trusted input)."""

    url: str
    name: str
    interval: timedelta
    tags: tuple[str, ...] = ()
    full_text: bool = True


@dataclass(frozen=True, slots=True)
class FeedState:
    """What we remember about a feed between polls."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # sha256 of the last body we parsed: an unchanged body is not parsed again
    failures: int = 0  # consecutive failures; reset by a success
    last_error: str | None = None
    last_polled: datetime | None = None
    last_success: datetime | None = None
    next_poll: datetime | None = None
    retry_after: datetime | None = None  # the server asked us not to come back before this
    broken_notified: bool = False  # a "feed broken" notice went out and "recovered" is owed
    # publishing rhythm (monitor.cadence): decayed count of new entries and of seconds observed
    cadence_entries: float | None = None
    cadence_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A successful HTTP response (status 200), body already capped and decompressed."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    body: bytes
    headers: Mapping[str, str]
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server answered 304 (or equivalent): nothing new."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    max_age: float | None = None  # Cache-Control max-age, seconds


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a parsed feed. ``key`` is stable across polls: GUID, else canonical link, else a hash."""

    key: str
    feed_url: str
    title: str
    link: str | None
    summary: str  # plain text
    published: datetime | None = None
    author: str | None = None
    guid: str | None = None
    language: str | None = None
    canonical: str | None = None  # dedupe.canonical_url(link), computed with the parse (in a worker)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The result of parsing one feed document."""

    title: str | None
    link: str | None
    entries: tuple[Entry, ...]
    bozo: str | None = None  # the survivable problem feedparser reported, if any
    ttl_minutes: int | None = None  # RSS <ttl>
    language: str | None = None
    # dedupe.text_print of each entry's summary when asked for (parse_feed's feed_url); None for archive entries
    prints: tuple[TextPrint | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Article:
    """An entry with its full text. ``extracted`` is False when the page failed and the summary stands in."""

    url: str  # canonical URL (dedupe key)
    link: str  # the link as the feed gave it
    title: str
    text: str
    feed_url: str
    feed_name: str
    entry_key: str
    summary: str = ""
    published: datetime | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    extracted: bool = True
    extract_error: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One place where a rule's term matched."""

    term: str  # the query term or entity alias that matched
    field: str  # "title", "text", ...
    start: int  # character offsets into that field
    end: int
    entity: str | None = None  # the entity name when the term came from @entity


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that matched an article, with its explanation."""

    rule: str
    hits: tuple[Hit, ...]
    snippet: str  # plain text around the first hits
    highlights: tuple[tuple[int, int], ...] = ()  # (start, end) offsets into ``snippet`` to emphasise
    priority: str = "normal"


AlertStatus = Literal["pending", "retrying", "sent", "dead", "held"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One row of the outbox: a (rule, story, target) that is owed a message."""

    id: int
    rule: str
    target: str
    story_id: int
    article_id: int
    title: str
    url: str
    feed_name: str
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()
    extracted: bool = True
    published: datetime | None = None
    created: datetime | None = None
    status: AlertStatus = "pending"
    attempts: int = 0
    next_attempt: datetime | None = None
    last_error: str | None = None
    sources: int = 1  # how many articles (outlets) carry the story
    priority: str = "normal"


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll of one feed did. A broken feed is a value here, never an exception."""

    feed: FeedSpec
    status: Literal["ok", "not_modified", "unchanged", "error"]
    entries: int = 0
    new: int = 0
    matched: int = 0
    alerts: int = 0
    error: MonitorError | None = None
    duration: float = 0.0
    next_interval: timedelta | None = None
    notes: tuple[str, ...] = field(default=())
