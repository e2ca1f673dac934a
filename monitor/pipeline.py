"""One poll of one feed, start to finish: fetch → parse → new? → extract → match → store (+ outbox).

``poll_feed`` is what ``news-monitor once``, the daemon and the tests all run. It knows no scheduler and no
argv; everything it touches comes in through ``Context``. A broken feed is a ``PollResult`` carrying the
error, never an exception; anything that is not a ``MonitorError`` is a bug and is logged as one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from monitor.cadence import Cadence, adaptive_interval, after_poll, server_ask
from monitor.config import Config
from monitor.dedupe import DedupePolicy, TextPrint
from monitor.errors import FetchError, MonitorError, StorageError
from monitor.extract import extract_article
from monitor.fetch import Http, parse_max_age
from monitor.isolate import Isolator
from monitor.log import event, mask_secrets
from monitor.match import Document, RuleSet, compile_config_rules
from monitor.notify import Notifier
from monitor.parse import parse_feed
from monitor.store import Store
from monitor.types import Article, Entry, FeedSpec, FeedState, Match, NotModified, PollResult

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=24)
ARTICLE_CONCURRENCY = 8  # pages fetched at once for one feed
# A routine feed state (a success after a success) is written with the others that finish within this many
# seconds, one transaction for all (Store.defer_feed_state): a crash loses at most this much bookkeeping.
FEED_STATE_DELAY = 0.25


@dataclass(frozen=True)
class Context:
    """Everything a poll needs. Built once per process (and again on config reload)."""

    config: Config
    http: Http
    store: Store
    notifier: Notifier
    isolator: Isolator
    rules: RuleSet
    now: Callable[[], datetime]
    targets_by_rule: Mapping[str, Sequence[str]] = field(default_factory=dict)
    feeds: Mapping[str, FeedSpec] = field(default_factory=dict)  # by URL: the daemon looks one up per poll


def targets_by_rule(config: Config) -> dict[str, list[str]]:
    return {rule.name: list(rule.notify) for rule in config.rules}


async def poll_feed(feed: FeedSpec, ctx: Context) -> PollResult:
    """Poll one feed; store what is new; write the alerts it owes into the outbox."""
    started = time.monotonic()
    now = ctx.now()
    state = ctx.store.get_feed_state(feed.url)
    try:
        result = await _poll(feed, state, ctx, now)
    except MonitorError as error:
        result = await _failed(feed, state, error, ctx, now)
    result = replace(result, duration=time.monotonic() - started)
    # a poll that found nothing (304, same bytes) is routine: 1,000 feeds make 1,000 such lines a cycle
    quiet = result.status in ("not_modified", "unchanged")
    level = logging.WARNING if result.error else logging.DEBUG if quiet else logging.INFO
    if not log.isEnabledFor(level):
        return result
    event(
        log,
        "feed_polled",
        level,
        feed=feed.name,
        status=result.status,
        entries=result.entries,
        new=result.new,
        matched=result.matched,
        alerts=result.alerts,
        seconds=f"{result.duration:.2f}",
        error=mask_secrets(str(result.error)) if result.error else None,
    )
    return result


async def _poll(feed: FeedSpec, state: FeedState, ctx: Context, now: datetime) -> PollResult:
    response = await ctx.http.fetch_feed(feed.url, state)
    if isinstance(response, NotModified):
        interval, rhythm = _schedule(feed, state, ctx, now, 0, max_age=response.max_age)
        await _succeeded(
            feed, state, ctx, now, interval, rhythm, etag=response.etag, last_modified=response.last_modified
        )
        return PollResult(feed, "not_modified", next_interval=interval)
    max_age = parse_max_age(response.headers.get("cache-control"))  # Fetched.headers keys are lower-case
    body_hash = hashlib.sha256(response.body).hexdigest()
    if body_hash == state.body_hash:
        # Same bytes as last time (a server without validators): nothing can be new, skip parsing.
        interval, rhythm = _schedule(feed, state, ctx, now, 0, max_age=max_age)
        await _succeeded(
            feed, state, ctx, now, interval, rhythm, etag=response.etag, last_modified=response.last_modified
        )
        return PollResult(feed, "unchanged", next_interval=interval)
    # a feed's first poll: entries dated before this are its archive (the worker skips their text)
    archive = now - ctx.config.poll.backlog if state.last_success is None else None
    parsed = await ctx.isolator.run(
        parse_feed,
        response.body,
        response.final_url,
        response.content_type,
        archive,
        # a first poll without full_text: every entry is new and its summary its text, so fingerprint them there
        feed.url if archive is not None and not feed.full_text else None,
        budget=ctx.config.fetch.parse_budget.total_seconds(),
    )
    fresh = ctx.store.unseen_entries(feed.url, parsed.entries, [e.canonical for e in parsed.entries])
    unseen = len(fresh)
    if archive is not None:
        fresh = _archive(feed, fresh, archive, ctx, now)
    limit = asyncio.Semaphore(ARTICLE_CONCURRENCY)

    summary_prints = dict(zip((e.key for e in parsed.entries), parsed.prints, strict=False))

    async def build(entry: Entry) -> tuple[Article, list[Match], TextPrint | None]:
        async with limit:
            article, prints = await _article(entry, feed, ctx, summary_prints.get(entry.key))
        # matched as soon as it is extracted, while the workers extract the others (not all at the end)
        return article, _match(article, feed, ctx), prints

    built = await asyncio.gather(*(build(e) for e in fresh))
    dedupe = DedupePolicy(window=ctx.config.dedupe.window, threshold=ctx.config.dedupe.threshold)
    matched = alerts = 0
    with ctx.store.batch():  # one commit for the poll's articles; no await inside
        for article, matches, prints in built:
            recorded = ctx.store.record_article(article, matches, ctx.targets_by_rule, now, dedupe, prints)
            matched += bool(recorded.matched_rules)
            alerts += recorded.alerts
            for rule in recorded.matched_rules:
                event(log, "article_matched", rule=rule, feed=feed.name, title=article.title[:120], url=article.link)
    interval, rhythm = _schedule(feed, state, ctx, now, unseen, max_age=max_age, ttl_minutes=parsed.ttl_minutes)
    await _succeeded(
        feed,
        state,
        ctx,
        now,
        interval,
        rhythm,
        etag=response.etag,
        last_modified=response.last_modified,
        body_hash=body_hash,
    )
    return PollResult(
        feed,
        "ok",
        entries=len(parsed.entries),
        new=len(fresh),
        matched=matched,
        alerts=alerts,
        next_interval=interval,
    )


def _archive(feed: FeedSpec, fresh: list[Entry], cutoff: datetime, ctx: Context, now: datetime) -> list[Entry]:
    """A feed's first poll: record entries dated before ``cutoff`` as seen, unmatched; return the rest.
    Undated entries are kept: their age is unknown, and a missed alert costs more than a stale one."""
    old: list[Entry] = []
    kept: list[Entry] = []
    for entry in fresh:
        (old if entry.published is not None and entry.published < cutoff else kept).append(entry)
    if old:
        ctx.store.remember_entries(feed.url, feed.name, old, [e.canonical for e in old], now)
        event(log, "feed_archived", feed=feed.name, entries=len(old), older_than=cutoff.isoformat(timespec="minutes"))
    return kept


def _schedule(
    feed: FeedSpec,
    state: FeedState,
    ctx: Context,
    now: datetime,
    new: int,
    *,
    max_age: float | None = None,
    ttl_minutes: int | None = None,
) -> tuple[timedelta, Cadence]:
    """The next interval and the feed's publishing rhythm after this poll found ``new`` unseen entries.
    Adaptive (poll.adaptive): the rhythm within poll.min_interval..max_interval, which the feed's own interval
    widens; else the feed's interval. Either way never below what the server asked for."""
    previous = None
    if state.cadence_entries is not None and state.cadence_seconds is not None:
        previous = Cadence(state.cadence_entries, state.cadence_seconds)
    elapsed = now - state.last_success if state.last_success else None
    rhythm = after_poll(previous, interval=feed.interval, new=new, elapsed=elapsed)
    poll = ctx.config.poll
    if not poll.adaptive:
        return next_interval(feed, max_age=max_age, ttl_minutes=ttl_minutes), rhythm
    interval = adaptive_interval(
        rhythm,
        min_interval=min(poll.min_interval, feed.interval),
        max_interval=max(poll.max_interval, feed.interval),
        asked=server_ask(max_age, ttl_minutes),
    )
    return interval, rhythm


def next_interval(feed: FeedSpec, *, max_age: float | None = None, ttl_minutes: int | None = None) -> timedelta:
    """The feed's interval, never below what the server asked for (Cache-Control max-age, RSS ttl),
    and never above a day because of it."""
    asked = max(max_age or 0.0, (ttl_minutes or 0) * 60.0)
    return max(feed.interval, min(timedelta(seconds=asked), MAX_BACKOFF))


async def _article(
    entry: Entry, feed: FeedSpec, ctx: Context, summary_print: TextPrint | None = None
) -> tuple[Article, TextPrint | None]:
    """The entry with its page's text; the feed's own summary stands in when the page fails. With the text
    comes its fingerprint, computed by a worker: the page's by the extraction, the summary's (``summary_print``)
    by the parse of a feed without full_text (the daemon's process fingerprints only fallback summaries)."""
    link = entry.link or ""
    base = Article(
        url=entry.canonical or f"urn:news-monitor:{hashlib.sha256((feed.url + entry.key).encode()).hexdigest()}",
        link=link,
        title=entry.title,
        text=entry.summary,
        feed_url=feed.url,
        feed_name=feed.name,
        entry_key=entry.key,
        summary=entry.summary,
        published=entry.published,
        language=entry.language,
        tags=feed.tags,
        extracted=False,
    )
    if not feed.full_text or not link:
        return replace(base, extract_error=None if not feed.full_text else "entry has no link"), summary_print
    try:
        page = await ctx.http.fetch_page(link)
        # the page's own title and date only when the feed did not give them (27 % of an extraction's time)
        metadata = not (entry.title and entry.published)
        extracted = await ctx.isolator.run(
            extract_article,
            page.body,
            page.final_url,
            metadata,
            feed.url,
            budget=ctx.config.fetch.extract_budget.total_seconds(),
        )
    except MonitorError as error:
        reason = mask_secrets(str(error))
        event(log, "extract_fallback", logging.INFO, feed=feed.name, url=link, reason=reason)
        return replace(base, extract_error=reason), None
    article = replace(
        base,
        title=entry.title or extracted.title or "",
        text=extracted.text,
        published=entry.published or extracted.published,
        language=extracted.language or entry.language,
        extracted=True,
    )
    return article, extracted.prints


def _match(article: Article, feed: FeedSpec, ctx: Context) -> list[Match]:
    doc = Document(
        title=article.title,
        text=article.text,
        feed=feed.name,
        tags=feed.tags,
        lang=article.language,
    )
    return ctx.rules.match(doc)


async def _succeeded(
    feed: FeedSpec,
    state: FeedState,
    ctx: Context,
    now: datetime,
    interval: timedelta,
    rhythm: Cadence,
    *,
    etag: str | None,
    last_modified: str | None,
    body_hash: str | None = None,
) -> None:
    recovered = state.broken_notified and await _feed_notice(
        feed, ctx, f"Feed recovered: {feed.name}", f"{feed.url} works again after {state.failures} failed polls."
    )
    new_state = replace(
        state,
        etag=etag or state.etag,
        last_modified=last_modified or state.last_modified,
        body_hash=body_hash or state.body_hash,
        failures=0,
        last_error=None,
        last_polled=now,
        last_success=now,
        next_poll=now + interval,
        retry_after=None,
        broken_notified=state.broken_notified and not recovered,
        cadence_entries=rhythm.entries,
        cadence_seconds=rhythm.seconds,
    )
    if state.failures or state.broken_notified:
        # a recovery: written now, so a restart neither counts old failures again nor repeats the notice
        ctx.store.save_feed_state(new_state, name=feed.name)
    elif ctx.store.defer_feed_state(new_state, name=feed.name):
        # Routine bookkeeping (any articles are already committed): lost in a crash, the next poll redoes it.
        asyncio.get_running_loop().call_later(FEED_STATE_DELAY, _flush_feed_states, ctx.store)


def _flush_feed_states(store: Store) -> None:
    try:
        store.flush_feed_states()
    except StorageError as e:  # bookkeeping only: the next poll of each feed writes its state again
        event(log, "feed_state_flush_failed", logging.WARNING, error=str(e))


async def _failed(feed: FeedSpec, state: FeedState, error: MonitorError, ctx: Context, now: datetime) -> PollResult:
    failures = state.failures + 1
    reason = mask_secrets(str(error))
    broken = state.broken_notified
    if not broken and failures >= ctx.config.poll.broken_after:
        # One notice when a feed breaks (and one when it recovers), not one per failed poll.
        broken = await _feed_notice(
            feed, ctx, f"Feed broken: {feed.name}", f"{feed.url} failed {failures} polls in a row. Last error: {reason}"
        )
    delay = backoff(feed.interval, failures, ctx.config.poll.max_backoff)
    retry_after = None
    if isinstance(error, FetchError) and error.retry_after:
        retry_after = now + timedelta(seconds=error.retry_after)
        delay = max(delay, timedelta(seconds=error.retry_after))
    ctx.store.save_feed_state(
        replace(
            state,
            failures=failures,
            last_error=reason,
            last_polled=now,
            next_poll=now + delay,
            retry_after=retry_after,
            broken_notified=broken,
        ),
        name=feed.name,
    )
    return PollResult(feed, "error", error=error, next_interval=delay)


async def _feed_notice(feed: FeedSpec, ctx: Context, title: str, body: str) -> bool:
    """Tell the operator targets about a feed's health; True when at least one got it (else we try again)."""
    targets = ctx.config.poll.broken_notify
    if not targets:
        return False
    delivered = False
    for target in targets:
        try:
            await ctx.notifier.send_text(target, title, body)
            delivered = True
        except MonitorError as e:
            event(log, "feed_notice_failed", logging.WARNING, feed=feed.name, target=target, error=str(e))
    event(log, "feed_notice", feed=feed.name, title=title, delivered=delivered)
    return delivered


def backoff(
    interval: timedelta, failures: int, cap: timedelta = MAX_BACKOFF, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff from the feed's interval, capped (24 h by default), with ±10 % jitter; never gives up."""
    if failures <= 0:
        return interval
    base = min(interval * (1 << min(failures - 1, 16)), cap)
    spread: float = (rng or random.Random()).uniform(0.9, 1.1)
    return min(base * spread, cap)


def build_context(config: Config, store: Store, http: Http, isolator: Isolator, now: Callable[[], datetime]) -> Context:
    """A context for this config; the daemon builds a new one on reload and keeps its store/http/isolator."""
    return Context(
        config=config,
        http=http,
        store=store,
        notifier=Notifier.from_config(config),
        isolator=isolator,
        rules=compile_config_rules(config),
        now=now,
        targets_by_rule=targets_by_rule(config),
        feeds={f.url: f for f in config.feed_specs()},
    )
