"""The retry timeline of one alert against a webhook that answers 429 (Retry-After) twice, 500 once, then 200.

    .venv/bin/python bench/bench_retry_timeline.py [--retry-after 3]

The outbox is flushed every 0.2 s with the real clock (the daemon flushes every ``delivery.interval``); the
table shows each request the receiver got, what it answered, and the alert's row after that flush.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import Config  # noqa: E402
from monitor.deliver import deliver_due  # noqa: E402
from monitor.notify import Notifier  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.types import Article, Match  # noqa: E402
from tests.receivers import Reply, Webhook  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--retry-after", type=int, default=3)
    args = parser.parse_args()
    ra = str(args.retry_after)
    replies = [Reply(429, headers={"Retry-After": ra}), Reply(429, headers={"Retry-After": ra}), Reply(500)]
    with tempfile.TemporaryDirectory() as tmp, Webhook() as hook:
        hook.then(*replies)
        config = Config.model_validate(
            {"targets": {"hook": hook.url()}, "delivery": {"retry_min": "2s", "retry_max": "1m"}}
        )
        store = Store.open(Path(tmp) / "monitor.db")
        article = Article(
            url="https://news.example.org/a",
            link="https://news.example.org/a",
            title="Rare earths pact",
            text="Tokyo and Washington agreed a rare earths deal.",
            feed_url="https://news.example.org/feed.xml",
            feed_name="Example News",
            entry_key="a",
        )
        store.record_article(article, [Match("r1", (), "rare earths deal")], {"r1": ["hook"]}, datetime.now(UTC))
        notifier = Notifier(config.targets, timeout=5)
        t0 = time.time()
        answers = [f"429 Retry-After: {ra}", f"429 Retry-After: {ra}", "500", "200"]
        print(f"{'t (s)':>6}  {'answer':<18} {'status after':<10} {'attempts':>8}  next attempt (s)")
        seen = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            asyncio.run(deliver_due(store, notifier, datetime.now(UTC), config))
            reqs = hook.requests
            while seen < len(reqs):
                row = store._query("SELECT status, attempts, next_attempt FROM alerts")[0]
                nxt = (
                    f"{datetime.fromisoformat(row['next_attempt']).timestamp() - t0:.1f}"
                    if row["next_attempt"]
                    else "-"
                )
                print(f"{reqs[seen].at - t0:6.2f}  {answers[seen]:<18} {row['status']:<10} {row['attempts']:>8}  {nxt}")
                seen += 1
            if store._query("SELECT status FROM alerts")[0]["status"] == "sent":
                break
            time.sleep(0.2)
        gaps = [b.at - a.at for a, b in zip(hook.requests, hook.requests[1:], strict=False)]
        print("gaps between requests (s):", ", ".join(f"{g:.2f}" for g in gaps))
        store.close()


if __name__ == "__main__":
    main()
