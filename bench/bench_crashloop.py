"""Crash safety of delivery: SIGKILL the daemon at random points while it sends, restart it, count.

    .venv/bin/python bench/bench_crashloop.py [--rounds 20] [--alerts 60] [--hang 0.25] [--seed 1]

A real ``news-monitor run`` subprocess delivers alerts already owed in its SQLite outbox to a slow webhook on
127.0.0.1 (each request is held ``--hang`` seconds). Each round starts the daemon, waits until a request of
the round reaches the receiver, waits a random 0..3×hang more (so the kill lands before a send, during one,
or between a send and its mark) and kills it with SIGKILL. After the rounds, one last run delivers the rest
and is stopped with SIGTERM. The table shows kills, alerts owed, alerts received, duplicates (at most one per
kill is the promise) and the database's integrity check.
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.store import Store  # noqa: E402
from monitor.types import Article, Match  # noqa: E402
from tests.receivers import Reply, Webhook  # noqa: E402


@dataclass
class CrashLoopResult:
    rounds: int
    kills: int
    owed: int
    received: int  # distinct alerts the receiver got
    requests: int  # all requests, duplicates included
    duplicates: int
    max_copies: int
    integrity: str
    final_exit: int | None
    sent_in_db: int

    def table(self) -> str:
        rows = [
            ("rounds", self.rounds),
            ("kills (SIGKILL during delivery)", self.kills),
            ("alerts owed", self.owed),
            ("alerts received (distinct)", self.received),
            ("requests received", self.requests),
            ("duplicates", self.duplicates),
            ("most copies of one alert", self.max_copies),
            ("marked sent in the outbox", self.sent_in_db),
            ("PRAGMA integrity_check", self.integrity),
            ("final SIGTERM exit code", self.final_exit),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _owe(db: Path, n: int) -> None:
    store = Store.open(db)
    now = datetime.now(UTC)
    rng = random.Random(n)
    try:
        for i in range(n):
            words = " ".join(f"w{rng.randrange(10**9)}" for _ in range(40))
            article = Article(
                url=f"https://news.example.org/crash/{i}",
                link=f"https://news.example.org/crash/{i}",
                title=f"Crash story {i:04d}",
                text=words,
                feed_url="https://news.example.org/feed.xml",
                feed_name="Example News",
                entry_key=f"crash-{i}",
            )
            store.record_article(article, [Match(rule="r1", hits=(), snippet=words[:60])], {"r1": ["hook"]}, now)
    finally:
        store.close()


def _sent(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM alerts WHERE status = 'sent'").fetchone()[0])
    finally:
        conn.close()


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        cmd = [sys.executable, "-m", "monitor", "--config", str(config), "run"]
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def crashloop(rounds: int, alerts: int, workdir: Path, *, hang: float = 0.25, seed: int = 1) -> CrashLoopResult:
    rng = random.Random(seed)
    db = workdir / "monitor.db"
    log = workdir / "daemon.log"
    _owe(db, alerts)
    with Webhook() as hook:
        hook.default = Reply(hang=hang)
        config = workdir / "monitor.yaml"
        config.write_text(
            f"database: {db}\n"
            f"targets:\n  hook: {hook.url()}\n"
            "delivery: {interval: 1s, timeout: 10s, retry_min: 1s, retry_max: 2s}\n"
        )
        kills = 0
        for _ in range(rounds):
            if _sent(db) >= alerts:
                break
            before = len(hook.requests)
            proc = _start(config, log)
            deadline = time.monotonic() + 30
            while len(hook.requests) <= before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 3 * hang))  # the random point of delivery to die at
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(10)
        proc = _start(config, log)
        deadline = time.monotonic() + 30 + alerts * hang * 2
        while _sent(db) < alerts and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        try:
            final_exit: int | None = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            final_exit = None
        titles = Counter(r.json()["title"] for r in hook.requests)
    conn = sqlite3.connect(db)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return CrashLoopResult(
        rounds=rounds,
        kills=kills,
        owed=alerts,
        received=len(titles),
        requests=sum(titles.values()),
        duplicates=sum(titles.values()) - len(titles),
        max_copies=max(titles.values(), default=0),
        integrity=integrity,
        final_exit=final_exit,
        sent_in_db=_sent(db),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=60)
    parser.add_argument("--hang", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        result = crashloop(args.rounds, args.alerts, Path(tmp), hang=args.hang, seed=args.seed)
        print(result.table())
        print(f"(wall time {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
