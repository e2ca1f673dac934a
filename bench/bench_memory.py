"""The daemon's resident memory after 10 cycles of 1,000 feeds with 10,000 rules and 100,000 stored articles.

    .venv/bin/python bench/bench_memory.py [--feeds 1000] [--rules 10000] [--articles 100000] [--cycles 10]

1. A database is pre-populated with ``--articles`` articles (Reuters-21578 texts with their real fingerprints,
   30 days old, about ten per story, FTS-indexed) through bulk SQL on the Store's schema.
2. ``news-monitor run`` starts as a subprocess on that database with ``--feeds`` feeds from the loopback feed
   server (bench/common.py: 27 items, about 44 KB each), ``--rules`` generated rules (bench/common.py),
   fixed 15 s intervals. The first cycle stores the feeds' 27,000 new articles; the rest are conditional
   requests answered 304.
3. /proc/PID/status is sampled every half second, for the daemon and, separately, for its isolate worker
   processes (forkserver and workers), until every feed has been polled ``--cycles`` times (counted from the
   daemon's ``feed_polled`` log lines). Steady = RSS at the end; peak = VmHWM (the kernel's high-water mark).

Goal: the daemon's peak and steady RSS at most 250 MB. Also reported: database size per stored article.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, FeedServer, descendants, generated_rules, machine, reuters, rss_mb, table

GOAL_MB = 250.0


def populate(path: Path, articles: int) -> None:
    """``articles`` stored articles, 30 days old (outside the dedupe window), ten per story."""
    from monitor.dedupe import fingerprint
    from monitor.store import Store

    Store.open(path).close()  # schema and migrations
    stories = reuters(min_body=600)
    prints = [fingerprint(s.title, " ".join(s.body.split())) for s in stories]
    old = datetime.now(UTC) - timedelta(days=30)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO feeds (url, name) VALUES (?, ?)",
        [(f"http://archive.invalid/{k}", f"archive {k}") for k in range(100)],
    )
    story_count = articles // 10
    stamp = old.isoformat(timespec="seconds")
    conn.executemany(
        "INSERT INTO stories (id, title, created, updated, sources) VALUES (?, ?, ?, ?, 1)",
        [(n + 1, stories[n % len(stories)].title, stamp, stamp) for n in range(story_count)],
    )
    rows, bands, entries = [], [], []
    for n in range(articles):
        k = (n // 10) % len(stories)
        story, fp = stories[k], prints[k]
        text = " ".join(story.body.split())
        feed = f"http://archive.invalid/{n % 100}"
        rows.append(
            (n + 1, f"http://archive.invalid/a/{n}", f"http://archive.invalid/a/{n}", feed, story.title, text[:400],
             text, "en", stamp, stamp, 0, None, n // 10 + 1, fp.content_hash, fp.words, fp.signature_bytes())
        )  # fmt: skip
        bands += [(band, stamp, n + 1) for band in fp.bands()]
        entries.append((feed, f"archive-{n}", n + 1, stamp))
        if len(rows) == 5000 or n == articles - 1:
            conn.executemany(
                "INSERT INTO articles (id, url, link, feed_url, title, summary, text, language, published, fetched,"
                " extracted, extract_error, story_id, content_hash, words, minhash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.executemany("INSERT INTO article_bands (band, seen, article_id) VALUES (?, ?, ?)", bands)
            conn.executemany("INSERT INTO entries (feed_url, key, article_id, first_seen) VALUES (?, ?, ?, ?)", entries)
            rows, bands, entries = [], [], []
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def write_config(tmp: Path, urls: list[str], rules: int) -> Path:
    lines = [
        f"database: {tmp / 'monitor.db'}",
        # backlog 3650d: the bench feeds' month-old items are all matched and stored, not archived as a new
        # feed's backlog would be by default (the heavier case)
        "poll: {interval: 15s, jitter: 0s, adaptive: false, concurrency: 20, timeout: 60s, backlog: 3650d}",
        "fetch: {allow_networks: [127.0.0.0/8], per_host: 20}",
        f"targets: {{sink: '{urls[0].split('/feed/')[0].replace('http://', 'json://')}/_sink'}}",
        "feeds:",
        *(f"  - {{url: '{u}', name: 'wire {i}', full_text: false}}" for i, u in enumerate(urls)),
        *generated_rules(rules),
    ]
    path = tmp / "monitor.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Sampler:
    """Samples the daemon's and its workers' memory every half second in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.daemon_rss: list[float] = []
        self.daemon_hwm = 0.0
        self.workers_rss: list[float] = []  # sum over the worker processes at each sample
        self.worker_max = 0.0  # largest single worker seen
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            rss, hwm = rss_mb(self.pid)
            if rss:
                self.daemon_rss.append(rss)
                self.daemon_hwm = max(self.daemon_hwm, hwm)
            kids = [rss_mb(p)[0] for p in descendants(self.pid)]
            self.workers_rss.append(sum(kids))
            self.worker_max = max([self.worker_max, *kids])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=10000)
    parser.add_argument("--articles", type=int, default=100000)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=1800, help="give up after this many seconds")
    args = parser.parse_args(argv)
    cli = str(Path(sys.executable).with_name("news-monitor"))
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name, FeedServer(args.feeds) as server:
        tmp = Path(name)
        t0 = time.perf_counter()
        populate(tmp / "monitor.db", args.articles)
        populated = time.perf_counter() - t0
        config = write_config(tmp, server.feed_urls(), args.rules)
        log = (tmp / "daemon.log").open("w+", encoding="utf-8")
        # DEBUG: a poll answered 304 logs its feed_polled line at DEBUG, and the cycles are counted from them
        command = [cli, "--log-level", "DEBUG", "--config", str(config), "run"]
        daemon = subprocess.Popen(command, stderr=log, stdout=log, cwd=ROOT)
        sampler = Sampler(daemon.pid)
        sampler.thread.start()
        started = time.monotonic()
        polls, first_cycle, ready_rss, first_rss = 0, None, 0.0, 0.0
        try:
            while polls < args.cycles * args.feeds:
                if daemon.poll() is not None or time.monotonic() - started > args.deadline:
                    break
                time.sleep(1)
                log.flush()
                text = (tmp / "daemon.log").read_text(encoding="utf-8", errors="replace")
                polls = text.count("feed_polled")
                if not ready_rss and "daemon_started" in text:
                    ready_rss = rss_mb(daemon.pid)[0]  # config loaded, rules compiled, nothing polled yet
                if first_cycle is None and polls >= args.feeds:
                    first_cycle, first_rss = time.monotonic() - started, rss_mb(daemon.pid)[0]
        finally:
            sampler.stop.set()
            sampler.thread.join()
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
        elapsed = time.monotonic() - started
        db = tmp / "monitor.db"
        size = sum(p.stat().st_size for p in tmp.glob("monitor.db*"))
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        text = (tmp / "daemon.log").read_text(encoding="utf-8", errors="replace")
        errors, failed = text.count("CRITICAL"), text.count("alert_failed")
        alerts = server.stats().get("sink", 0)
    if polls < args.cycles * args.feeds:
        print(f"only {polls} polls in {elapsed:.0f} s (daemon exit code {daemon.returncode})", file=sys.stderr)
    steady = sampler.daemon_rss[-1] if sampler.daemon_rss else 0.0
    print(
        f"{machine()}; {args.feeds} feeds, {args.rules} rules, {args.articles} articles pre-stored "
        f"({populated:.0f} s); {polls} polls ({polls / args.feeds:.1f} cycles) in {elapsed:.0f} s, "
        f"first cycle {first_cycle or float('nan'):.0f} s; {alerts} alert messages delivered, {failed} failed sends, "
        f"{errors} CRITICAL log lines\n"
    )
    peak = sampler.daemon_hwm
    workers_end = sampler.workers_rss[-1] if sampler.workers_rss else 0.0
    verdict = "met" if max(steady, peak) <= GOAL_MB else "MISSED"
    rows = [
        ["daemon", f"{steady:.0f}", f"{peak:.0f}", verdict],
        ["isolate processes (sum)", f"{workers_end:.0f}", f"{max(sampler.workers_rss, default=0):.0f}", ""],
        ["largest single isolate process", "", f"{sampler.worker_max:.0f}", ""],
    ]
    print(table(["process", "steady RSS MB (end)", "peak RSS MB", f"≤ {GOAL_MB:.0f} MB"], rows))
    print(
        f"\ndaemon RSS when started (config and rules loaded): {ready_rss:.0f} MB; "
        f"after the first cycle: {first_rss:.0f} MB"
    )
    print(
        f"\ndatabase: {size / 1e6:.0f} MB for {stored} articles = {size / max(stored, 1) / 1000:.1f} KB per stored "
        "article (text, summary, FTS index, fingerprints, bands, entries)"
    )
    return 0 if polls >= args.cycles * args.feeds else 1


if __name__ == "__main__":
    if os.environ.get("NEWS_MONITOR_CONFIG"):
        del os.environ["NEWS_MONITOR_CONFIG"]
    raise SystemExit(main())
