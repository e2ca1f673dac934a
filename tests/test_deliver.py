"""deliver.py: the outbox flusher against a real SQLite file and real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config
from monitor.deliver import DeliveryReport, backoff, deliver_due, quiet_until, send_digests
from monitor.notify import Notifier
from monitor.store import Store
from monitor.types import Article, Match
from tests.receivers import Reply, Webhook

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "monitor.db")
    yield s
    s.close()


def make_config(targets: Mapping[str, Any], rules: list[dict[str, Any]] | None = None, **delivery: Any) -> Config:
    rules = rules or [{"name": "r1", "query": "x", "notify": list(targets)}]
    return Config.model_validate({"targets": dict(targets), "rules": rules, "delivery": delivery})


def add_alerts(store: Store, n: int, rule: str, targets: list[str], now: datetime = NOW, **match: Any) -> None:
    rng = random.Random(f"{rule}{n}{now}")
    for i in range(n):
        text = " ".join(rng.choice(WORDS) + str(rng.randrange(10**6)) for _ in range(60))
        article = Article(
            url=f"https://news.example.org/{rule}/{now.timestamp()}/{i}",
            link=f"https://news.example.org/{rule}/{now.timestamp()}/{i}",
            title=f"Story {i} for {rule}",
            text=text,
            feed_url="https://news.example.org/feed.xml",
            feed_name="Example News",
            entry_key=f"{rule}-{now.timestamp()}-{i}",
        )
        store.record_article(article, [Match(rule=rule, hits=(), snippet=text[:80], **match)], {rule: targets}, now)


def alerts(store: Store, target: str | None = None) -> list[dict[str, Any]]:
    rows = store._query("SELECT * FROM alerts ORDER BY id")
    return [r for r in rows if target is None or r["target"] == target]


def flush(store: Store, config: Config, now: datetime, notifier: Notifier | None = None) -> DeliveryReport:
    notifier = notifier or Notifier(config.targets, timeout=5)
    return asyncio.run(deliver_due(store, notifier, now, config, rng=random.Random(1)))


def test_sent_once_and_marked(store: Store, webhook: Webhook) -> None:
    config = make_config({"hook": webhook.url()})
    add_alerts(store, 3, "r1", ["hook"])
    report = flush(store, config, NOW)
    assert (report.sent, report.messages) == (3, 3)
    assert len(webhook.wait_for(3)) == 3
    assert {r["status"] for r in alerts(store)} == {"sent"}
    assert flush(store, config, NOW + timedelta(minutes=1)).sent == 0
    assert len(webhook.requests) == 3


def test_failure_retries_with_backoff_then_succeeds(store: Store, webhook: Webhook) -> None:
    config = make_config({"hook": webhook.url()}, retry_min="30s", retry_max="1h")
    add_alerts(store, 1, "r1", ["hook"])
    webhook.then(Reply(500), Reply(500))
    flush(store, config, NOW)
    (row,) = alerts(store)
    assert row["status"] == "retrying" and row["attempts"] == 1 and "HTTP 500" in row["last_error"]
    first = datetime.fromisoformat(row["next_attempt"]) - NOW
    assert timedelta(seconds=15) <= first <= timedelta(seconds=31)
    assert flush(store, config, NOW + timedelta(seconds=14)).sent == 0 and len(webhook.requests) == 1
    later = NOW + timedelta(minutes=2)
    flush(store, config, later)
    (row,) = alerts(store)
    second = datetime.fromisoformat(row["next_attempt"]) - later
    assert row["attempts"] == 2 and timedelta(seconds=30) <= second <= timedelta(seconds=61)
    flush(store, config, later + timedelta(minutes=5))
    assert alerts(store)[0]["status"] == "sent" and len(webhook.requests) == 3


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    cfg = make_config({}).delivery
    rng = random.Random(7)
    delays = [backoff(n, cfg, rng).total_seconds() for n in range(12)]
    assert 15 <= delays[0] <= 30
    assert all(a * 0.5 <= b for a, b in itertools.pairwise(delays) if b < 1800)
    assert max(delays) <= 3600 and len({round(d) for d in delays}) > 6


def test_retry_after_is_honoured_for_the_whole_target(store: Store, webhook: Webhook) -> None:
    """Real clock: a 429 with Retry-After: 2; no request reaches the receiver before it expires."""
    config = make_config({"hook": webhook.url()}, retry_min="1s")
    add_alerts(store, 2, "r1", ["hook"], now=datetime.now(UTC) - timedelta(seconds=1))
    webhook.then(Reply(429, headers={"Retry-After": "2"}))
    notifier = Notifier(config.targets, timeout=5)
    deadline = time.monotonic() + 15
    while {r["status"] for r in alerts(store)} != {"sent"}:
        assert time.monotonic() < deadline, alerts(store)
        asyncio.run(deliver_due(store, notifier, datetime.now(UTC), config))
        time.sleep(0.05)
    reqs = webhook.requests
    assert len(reqs) == 3  # the 429, then both alerts
    assert all(r.at - reqs[0].at >= 2.0 for r in reqs[1:]), [r.at - reqs[0].at for r in reqs]


def test_permanent_error_is_dead_at_once_and_fallback_told_once(store: Store) -> None:
    with Webhook() as chat, Webhook() as ops:
        chat.default = Reply(401)
        config = make_config(
            {"chat": chat.url(), "ops": ops.url()}, [{"name": "r1", "query": "x", "notify": ["chat"]}], fallback="ops"
        )
        add_alerts(store, 2, "r1", ["chat"])
        report = flush(store, config, NOW)
        assert report.dead == 2 and [r["status"] for r in alerts(store)] == ["dead", "dead"]
        assert len(chat.requests) == 2
        (notice,) = ops.wait_for(1)
        assert "could not be delivered" in notice.json()["message"]
        flush(store, config, NOW + timedelta(hours=1))
        assert len(ops.requests) == 1


def test_too_old_alert_becomes_dead_without_sending(store: Store, webhook: Webhook) -> None:
    config = make_config({"hook": webhook.url()}, max_age="24h")
    add_alerts(store, 1, "r1", ["hook"], now=NOW - timedelta(hours=25))
    report = flush(store, config, NOW)
    assert report.dead == 1 and alerts(store)[0]["status"] == "dead" and webhook.requests == []


def test_retries_stop_at_max_age(store: Store, webhook: Webhook) -> None:
    config = make_config({"hook": webhook.url()}, max_age="1h", retry_min="40m", retry_max="40m")
    webhook.default = Reply(503)
    add_alerts(store, 1, "r1", ["hook"])
    now = NOW
    for _ in range(10):
        flush(store, config, now)
        row = alerts(store)[0]
        if row["status"] == "dead":
            break
        now = datetime.fromisoformat(row["next_attempt"])
    assert row["status"] == "dead" and now <= NOW + timedelta(hours=1, seconds=1)


def test_rate_limit_overflow_goes_out_as_one_summary(store: Store, webhook: Webhook) -> None:
    config = make_config({"hook": {"urls": [webhook.url()], "rate": "3/min"}})
    add_alerts(store, 10, "r1", ["hook"])
    report = flush(store, config, NOW)
    assert (report.sent, report.messages) == (10, 3)
    reqs = webhook.wait_for(3)
    assert "8 more alerts" in reqs[2].json()["title"]
    add_alerts(store, 1, "r1", ["hook"], now=NOW + timedelta(seconds=5))
    assert flush(store, config, NOW + timedelta(seconds=10)).sent == 0  # no slot left in this minute
    assert flush(store, config, NOW + timedelta(seconds=70)).sent == 1
    assert len(webhook.requests) == 4


def test_quiet_hours_hold_then_one_catch_up_and_urgent_passes(store: Store, webhook: Webhook) -> None:
    quiet = {"start": "22:00", "end": "07:00", "tz": "Europe/Berlin"}
    config = make_config(
        {"hook": {"urls": [webhook.url()], "quiet_hours": quiet}},
        [{"name": "r1", "query": "x", "notify": ["hook"]}, {"name": "u", "query": "y", "notify": ["hook"]}],
    )
    night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    assert quiet_until(config.targets["hook"].quiet_hours, night) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # type: ignore[arg-type]
    add_alerts(store, 3, "r1", ["hook"], now=night)
    add_alerts(store, 1, "u", ["hook"], now=night, priority="urgent")
    report = flush(store, config, night)
    assert report.held == 3 and report.sent == 1
    assert webhook.wait_for(1)[0].json()["title"].startswith("u:")
    assert flush(store, config, night + timedelta(hours=6)).sent == 0
    morning = datetime(2026, 11, 30, 6, 0, 1, tzinfo=UTC)
    report = flush(store, config, morning)
    assert (report.sent, report.messages) == (3, 1)
    assert "3 alerts held during quiet hours" in webhook.wait_for(2)[1].json()["title"]


def test_digest_grouped_by_rule_and_empty_digest_not_sent(store: Store, webhook: Webhook) -> None:
    config = make_config(
        {"hook": {"urls": [webhook.url()], "digest": "0 8 * * *"}},
        [{"name": "apec", "query": "x", "notify": ["hook"]}, {"name": "rare", "query": "y", "notify": ["hook"]}],
    )
    add_alerts(store, 2, "apec", ["hook"])
    add_alerts(store, 1, "rare", ["hook"])
    assert flush(store, config, NOW).held == 3 and webhook.requests == []
    notifier = Notifier(config.targets, timeout=5)
    report = asyncio.run(send_digests(store, notifier, NOW + timedelta(hours=8), config, target="hook"))
    assert (report.sent, report.messages) == (3, 1)
    body = webhook.wait_for(1)[0].json()["message"]
    assert body.index("apec (2)") < body.index("rare (1)")
    report = asyncio.run(send_digests(store, notifier, NOW + timedelta(hours=32), config, target="hook"))
    assert report.messages == 0 and len(webhook.requests) == 1


def test_a_hung_target_does_not_delay_the_others(store: Store) -> None:
    with Webhook() as slow, Webhook() as fast:
        slow.default = Reply(hang=20)
        config = make_config(
            {"slow": slow.url(), "fast": fast.url()}, [{"name": "r1", "query": "x", "notify": ["slow", "fast"]}]
        )
        add_alerts(store, 1, "r1", ["slow", "fast"])
        started = time.time()
        report = flush(store, config, NOW, Notifier(config.targets, timeout=2))
        assert fast.requests[0].at - started < 1.5
        assert report.sent == 1 and report.failed == 1
        assert {r["target"]: r["status"] for r in alerts(store)} == {"slow": "retrying", "fast": "sent"}


def test_status_counts_and_last_error(store: Store, webhook: Webhook) -> None:
    config = make_config({"hook": webhook.url()})
    webhook.default = Reply(500)
    add_alerts(store, 2, "r1", ["hook"])
    flush(store, config, NOW)
    assert store.outbox_counts()["hook"] == {"retrying": 1, "pending": 1}
    assert "HTTP 500" in store.outbox_errors()["hook"]
