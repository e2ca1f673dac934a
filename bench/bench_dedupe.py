"""Cost of deciding "new story or copy of which story" per article, with 1,000 / 10,000 / 100,000 stories stored.

    .venv/bin/python bench/bench_dedupe.py [--sizes 1000,10000,100000] [--queries 200]

One SQLite file (in /dev/shm when there is one: the figures are CPU and SQLite, not the disk's fsync), filled
through ``Store.record_article`` (the code path the pipeline uses). Stored articles are synthetic news texts:
120-160 words drawn with Reuters-21578's word frequencies, so unrelated articles share common words the way
real ones do (measured: their word Jaccard is close to that of random Reuters pairs). At each size,
``--queries`` new distinct articles and ``--queries`` copies of stored stories (10 % of words changed, a
furniture line added) are recorded and timed: milliseconds per article, and the ratio to the first size.
Flat means the candidate lookup is indexed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.store import Store  # noqa: E402
from monitor.types import Article  # noqa: E402

REUTERS = ROOT.parent / "shared" / "corpus" / "reuters21578" / "reuters21578.jsonl"
NOW = datetime(2026, 11, 29, tzinfo=UTC)


def vocabulary() -> tuple[list[str], list[int]]:
    """Reuters words and their cumulative counts (for ``random.choices(cum_weights=...)``)."""
    counts: Counter[str] = Counter()
    with REUTERS.open(encoding="utf-8") as f:
        for line in f:
            counts.update(re.findall(r"[A-Za-z][a-z]+|\d+", json.loads(line)["body"]))
    words = [w for w, n in counts.most_common() if n >= 2]
    return words, list(itertools.accumulate(counts[w] for w in words))


def text(rng: random.Random, words: list[str], cum: list[int]) -> list[str]:
    drawn = rng.choices(words, cum_weights=cum, k=rng.randint(120, 160))
    return [" ".join(drawn[i : i + 40]) + "." for i in range(0, len(drawn), 40)]


def article(n: int, title: str, paragraphs: list[str], feed: int) -> Article:
    url = f"https://outlet{feed}.example/news/{n}"
    return Article(
        url=url,
        link=url,
        title=title,
        text="\n".join(paragraphs),
        feed_url=f"https://outlet{feed}.example/feed",
        feed_name=f"outlet{feed}",
        entry_key=str(n),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(7)
    words, weights = vocabulary()
    stored: list[tuple[str, list[str]]] = []  # (title, paragraphs) of filled stories, for making copies
    n = 0
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        fill_seconds = 0.0
        for size in sizes:
            started = time.perf_counter()
            while len(stored) < size:
                n += 1
                title = " ".join(rng.choices(words, cum_weights=weights, k=8)).capitalize()
                paras = text(rng, words, weights)
                # Spread over the dedupe window (7 days) so that every stored story is a candidate.
                when = NOW - timedelta(seconds=rng.randrange(6 * 86400))
                store.record_article(article(n, title, paras, n % 50), [], {}, when)
                stored.append((title, paras))
            fill_seconds += time.perf_counter() - started
            new_ms, copy_ms, joined = [], [], 0
            for _ in range(args.queries):
                n += 1
                fresh = article(n, "Fresh", text(rng, words, weights), 99)
                t0 = time.perf_counter()
                rec = store.record_article(fresh, [], {}, NOW)
                new_ms.append((time.perf_counter() - t0) * 1000)
                title, paras = rng.choice(stored)
                changed = [" ".join(w if rng.random() > 0.1 else rng.choice(words) for w in p.split()) for p in paras]
                n += 1
                copy = article(n, "Another headline", ["Advertisement", *changed], 98)
                t0 = time.perf_counter()
                rec = store.record_article(copy, [], {}, NOW)
                copy_ms.append((time.perf_counter() - t0) * 1000)
                joined += not rec.new_story
            rows.append((size, new_ms, copy_ms, joined))
        store.close()
        db_bytes = sum(f.stat().st_size for f in Path(tmp).iterdir())

    def q(values: list[float], p: float) -> float:
        return sorted(values)[min(len(values) - 1, int(p * len(values)))]

    base = statistics.median(rows[0][1] + rows[0][2])
    print(f"stories filled through Store.record_article in {fill_seconds:.0f} s; database {db_bytes / 2**20:.0f} MiB")
    print("| stories stored | new article: median / p90 ms | copy: median / p90 ms | copies joined | vs first |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size, new_ms, copy_ms, joined in rows:
        ratio = statistics.median(new_ms + copy_ms) / base
        print(
            f"| {size:,} | {statistics.median(new_ms):.2f} / {q(new_ms, 0.9):.2f} |"
            f" {statistics.median(copy_ms):.2f} / {q(copy_ms, 0.9):.2f} | {joined}/{len(copy_ms)} | {ratio:.2f}x |"
        )


if __name__ == "__main__":
    main()
