"""Adaptive polling intervals: pure logic, property-tested."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from monitor.cadence import (
    JITTER,
    MAX_ASK,
    Cadence,
    adaptive_interval,
    after_poll,
    observe,
    server_ask,
)
from monitor.config import load_config
from monitor.fetch import Http
from monitor.isolate import Isolator
from monitor.pipeline import build_context, poll_feed
from monitor.store import Store
from monitor.types import PollResult

MIN = timedelta(minutes=2)
MAX = timedelta(hours=6)

durations = st.integers(min_value=0, max_value=3 * 86400).map(lambda s: timedelta(seconds=s))
cadences = st.builds(
    Cadence,
    entries=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    seconds=st.floats(min_value=0, max_value=1e9, allow_nan=False),
)


def _run(cadence: Cadence, polls: list[tuple[int, timedelta]]) -> Cadence:
    for new, elapsed in polls:
        cadence = observe(cadence, new, elapsed)
    return cadence


@given(cadences, durations, durations, durations, st.integers(0, 2**32))
def test_interval_within_bounds_and_never_below_the_servers_ask(
    cadence: Cadence, low: timedelta, high: timedelta, asked: timedelta, seed: int
) -> None:
    got = adaptive_interval(cadence, min_interval=low, max_interval=high, asked=asked, rng=random.Random(seed))
    assert got >= min(low, high)
    assert got >= min(asked, MAX_ASK)
    assert got <= max(low, high, min(asked, MAX_ASK))


@given(st.lists(st.tuples(st.integers(0, 500), durations), max_size=50), st.integers(0, 2**32))
def test_any_history_stays_within_bounds(polls: list[tuple[int, timedelta]], seed: int) -> None:
    cadence = _run(Cadence.prior(timedelta(minutes=10)), polls)
    assert cadence.entries >= 0 and cadence.seconds >= 0
    got = adaptive_interval(cadence, min_interval=MIN, max_interval=MAX, rng=random.Random(seed))
    assert MIN <= got <= MAX


@given(st.integers(60, 86400))
def test_a_feed_without_history_is_polled_at_its_configured_interval(seconds: int) -> None:
    interval = timedelta(seconds=seconds)
    got = adaptive_interval(
        Cadence.prior(interval), min_interval=timedelta(0), max_interval=timedelta(days=2), rng=random.Random(1)
    )
    assert abs(got - interval) <= interval * JITTER + timedelta(microseconds=1)


def test_busy_feed_speeds_up_quiet_feed_slows_down() -> None:
    start = Cadence.prior(timedelta(minutes=10))
    # busy: two new entries every 10 minutes for six hours
    busy = _run(start, [(2, timedelta(minutes=10))] * 36)
    # quiet: nothing new in six hours of 10-minute polls
    quiet = _run(start, [(0, timedelta(minutes=10))] * 36)
    rng = random.Random(0)
    fast = adaptive_interval(busy, min_interval=MIN, max_interval=MAX, rng=rng)
    slow = adaptive_interval(quiet, min_interval=MIN, max_interval=MAX, rng=rng)
    assert fast < timedelta(minutes=5)
    assert slow > timedelta(hours=1)


def test_one_empty_poll_does_not_jump_to_the_maximum() -> None:
    cadence = observe(Cadence.prior(timedelta(minutes=10)), 0, timedelta(minutes=10))
    got = adaptive_interval(cadence, min_interval=MIN, max_interval=MAX, rng=random.Random(0))
    assert got < timedelta(minutes=20)


def test_old_evidence_decays() -> None:
    busy = _run(Cadence.prior(timedelta(minutes=10)), [(3, timedelta(minutes=10))] * 36)
    went_quiet = _run(busy, [(0, timedelta(hours=1))] * 48)
    assert went_quiet.gap > 20 * busy.gap


def test_servers_ask_wins_over_the_maximum_up_to_a_day() -> None:
    busy = Cadence(entries=100, seconds=600)
    assert adaptive_interval(busy, min_interval=MIN, max_interval=MAX, asked=timedelta(hours=8)) == timedelta(hours=8)
    assert adaptive_interval(busy, min_interval=MIN, max_interval=MAX, asked=timedelta(days=9)) == MAX_ASK


def test_server_ask_takes_the_longer_of_max_age_and_ttl() -> None:
    assert server_ask(max_age=300, ttl_minutes=60) == timedelta(hours=1)
    assert server_ask(max_age=7200, ttl_minutes=60) == timedelta(hours=2)
    assert server_ask() == timedelta(0)


def test_jitter_spreads_feeds_on_the_same_rhythm() -> None:
    cadence = Cadence(entries=1, seconds=3600)
    rng = random.Random(7)
    got = {adaptive_interval(cadence, min_interval=MIN, max_interval=MAX, rng=rng) for _ in range(20)}
    assert len(got) > 10
    assert all(timedelta(minutes=27) <= g <= timedelta(minutes=33) for g in got)


def test_the_first_poll_is_backlog_not_rhythm() -> None:
    first = after_poll(None, interval=timedelta(minutes=10), new=27, elapsed=None)
    assert first == Cadence.prior(timedelta(minutes=10))
    second = after_poll(first, interval=timedelta(minutes=10), new=3, elapsed=timedelta(minutes=10))
    assert second.entries > first.entries


# -- the pipeline with real parts: a local feed server, the worker pool, SQLite --------------------------------

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title><link>{base}/</link>
<item><title>Only story</title><link>{base}/a1</link><guid>a1</guid><description>Nothing new.</description></item>
</channel></rss>"""


def _poll_times(
    tmp_path: Path, server: HTTPServer, adaptive: bool, polls: int, headers: dict[str, str]
) -> list[PollResult]:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"""
database: {tmp_path / "m.db"}
poll: {{interval: 10m, adaptive: {str(adaptive).lower()}, min_interval: 2m, max_interval: 6h}}
feeds: [{{url: "{server.url_for("/feed.xml")}", name: Quiet, full_text: false}}]
""",
        encoding="utf-8",
    )
    config = load_config(path, env={})
    server.expect_request("/feed.xml").respond_with_data(
        RSS.format(base=server.url_for("").rstrip("/")), content_type="application/rss+xml", headers=headers
    )
    start = datetime(2026, 11, 1, tzinfo=UTC)

    async def run() -> list[PollResult]:
        store = Store.open(config.database_path())
        http = Http(config.fetch, timeout=5, concurrency=2)
        try:
            with Isolator(1) as isolator:
                out: list[PollResult] = []
                for i in range(polls):
                    ctx = build_context(config, store, http, isolator, lambda i=i: start + timedelta(minutes=10 * i))
                    out.append(await poll_feed(config.feed_specs()[0], ctx))
                return out
        finally:
            await http.close()
            store.close()

    return asyncio.run(run())


def test_a_quiet_feed_is_polled_less_often_and_its_rhythm_is_stored(tmp_path: Path, httpserver: HTTPServer) -> None:
    results = _poll_times(tmp_path, httpserver, adaptive=True, polls=12, headers={})
    assert [r.status for r in results] == ["ok"] + ["unchanged"] * 11
    intervals = [r.next_interval for r in results]
    assert all(i is not None for i in intervals)
    assert intervals[0] <= timedelta(minutes=11)  # no history yet: the configured interval (± jitter)
    assert intervals[-1] > timedelta(minutes=30)  # nearly two hours without a new entry
    store = Store.open(tmp_path / "m.db")
    try:
        state = store.get_feed_state(httpserver.url_for("/feed.xml"))
    finally:
        store.close()
    assert state.cadence_entries is not None and state.cadence_seconds == pytest.approx(
        1200 * 0.5 ** (110 / 720) + 6600, rel=0.05
    )


def test_fixed_intervals_when_adaptive_is_off_and_never_below_the_servers_ask(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    fixed = _poll_times(tmp_path, httpserver, adaptive=False, polls=6, headers={})
    assert {r.next_interval for r in fixed} == {timedelta(minutes=10)}
    httpserver.clear()
    asked = _poll_times(tmp_path / "b", httpserver, adaptive=True, polls=3, headers={"Cache-Control": "max-age=7200"})
    assert all(r.next_interval is not None and r.next_interval >= timedelta(hours=2) for r in asked)
