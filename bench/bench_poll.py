"""Polling 1,000 feeds: news-monitor's poll path against lemon24/reader's update_feeds, same feeds, one run.

    .venv/bin/python bench/bench_poll.py [--feeds 1000] [--items 27] [--full-text] [--cycles all-304]

A loopback server in its own process serves ``--feeds`` distinct RSS feeds built from Reuters-21578 stories
(bench/common.py). Each side runs in its own child process, so its CPU time is its own (news-monitor's
includes its isolate worker processes). Three cycles each:

1. first: an empty database, every feed answers 200 with ETag and Last-Modified. news-monitor runs it twice:
   with its default ``poll.backlog`` (1 d: the feeds' month-old items are a new feed's archive, recorded as
   seen, not matched) and with ``poll.backlog: 3650d`` (every entry fingerprinted, matched and stored; left
   out when ``--cycles`` does not name ``first``);
2. all-304: the same feeds again, every conditional request answers 304;
3. unchanged: the server drops its validators and sends the same bytes again (news-monitor skips parsing by
   the body's hash).

Cycles 2 and 3 run three times each and the median (by wall time) is reported, for both sides alike.
``--cycles all-304`` (or ``unchanged``) runs only the default first cycle (it fills the databases) and that one.

news-monitor runs ``poll_feed`` over all feeds ``poll.concurrency`` (20) at a time, with ``full_text: false``
(feed polling, not article extraction) unless ``--full-text``; 20 watch rules are compiled and matched, and
articles are deduplicated and stored, as in the daemon. reader runs ``update_feeds(workers=20)``
(``scheduled=False`` after the first cycle, so every feed is updated).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, FeedServer, cpu_seconds, descendants, machine, table

CYCLES = ("first", "all-304", "unchanged")
# news-monitor's default: a new feed's items dated more than a day before its first poll are its archive,
# recorded as seen and not matched; the bench feeds' items are a month old. The table also shows the first
# cycle with poll.backlog: 3650d, every entry fingerprinted, matched and stored as in later cycles.
DEFAULT_BACKLOG = "1d"
REPEAT = 3  # all-304 and unchanged cycles run this often; the median (by wall time) is reported


def _runs(cycles: list[str]) -> list[str]:
    """The first cycle (it fills the database), then each later cycle asked for ``REPEAT`` times."""
    return [CYCLES[0], *(c for c in CYCLES[1:] if c in cycles for _ in range(REPEAT))]


RULES = [
    ("gold", "gold AND (mine OR ounce*)"),
    ("copper", "copper NEAR/10 (price* OR output)"),
    ("crude", '"crude oil" OR opec'),
    ("coffee", "coffee AND (export* OR quota*)"),
    ("cocoa", "cocoa"),
    ("steel", '"iron ore" OR steel*'),
    ("merger", "(merger OR acquisition OR takeover) AND NOT rumour"),
    ("trade", '"trade deficit" OR "trade surplus"'),
    ("japan-trade", "(Japan OR Tokyo) AND trade"),
    ("grain", "wheat OR corn OR grain*"),
    ("rates", '"interest rate*" NEAR/5 (cut OR rise OR raise)'),
    ("dollar", "dollar AND (yen OR mark) AND intervention"),
    ("sugar", "sugar AND (crop OR harvest)"),
    ("ships", "shipping OR tanker* OR port*"),
    ("strikes", "strike AND (union OR workers)"),
    ("earnings", '"net income" OR "net loss"'),
    ("bonds", '"treasury bond*" OR "bond market"'),
    ("metals", "tin OR zinc OR nickel OR aluminium OR aluminum"),
    ("natgas", '"natural gas"'),
    ("title-bank", "title:bank"),
]


def _config(tmp: Path, urls: list[str], full_text: bool, backlog: str) -> Path:
    lines = [
        f"database: {tmp / 'monitor.db'}",
        f"poll: {{interval: 10m, jitter: 0s, concurrency: 20, timeout: 60s, backlog: {backlog}}}",
        "fetch: {allow_networks: [127.0.0.0/8], per_host: 20}",
        "targets: {sink: 'json://127.0.0.1:9/'}",
        "feeds:",
        *(f"  - {{url: '{u}', name: 'wire {i}', full_text: {str(full_text).lower()}}}" for i, u in enumerate(urls)),
        "rules:",
        *(f"  - {{name: {n}, query: {json.dumps(q)}, notify: [sink]}}" for n, q in RULES),
    ]
    path = tmp / "monitor.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_below() -> dict[int, float]:
    return {pid: cpu_seconds(pid) for pid in descendants(os.getpid())}


def _children_cpu(before: dict[int, float]) -> float:
    """CPU our worker processes used since ``before`` (workers that exited since are not counted)."""
    after = _cpu_below()
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _report(cycle: str, wall: float, cpu: float, workers_cpu: float, statuses: dict[str, int]) -> None:
    print(json.dumps({"cycle": cycle, "wall": wall, "cpu": cpu, "workers_cpu": workers_cpu, "statuses": statuses}))
    sys.stdout.flush()


def _set_validators(base: str, on: bool) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{base}/_mode?validators={int(on)}", timeout=10):
        pass


def run_ours(base: str, urls: list[str], tmp: Path, full_text: bool, runs: list[str], backlog: str) -> None:
    from datetime import UTC, datetime

    from monitor.config import load_config
    from monitor.fetch import Http
    from monitor.isolate import Isolator
    from monitor.pipeline import build_context, poll_feed
    from monitor.store import Store

    config = load_config(_config(tmp, urls, full_text, backlog))
    store = Store.open(config.database_path())
    store.checkpoint_in_background()  # as the daemon does

    async def main() -> None:
        http = Http(config.fetch, timeout=config.poll.timeout.total_seconds(), concurrency=config.poll.concurrency)
        isolator = Isolator()
        try:
            ctx = build_context(config, store, http, isolator, lambda: datetime.now(UTC))
            gc.freeze()  # as the daemon does once started
            feeds = config.feed_specs()
            limit = asyncio.Semaphore(config.poll.concurrency)

            async def one(feed: Any) -> Any:
                async with limit:
                    return await poll_feed(feed, ctx)

            # warm the workers outside the timing (the daemon keeps them warm)
            await asyncio.gather(*(isolator.run(abs, 1, budget=30) for _ in range(2)))
            for cycle in runs:
                _set_validators(base, cycle != "unchanged")
                before, cpu0, t0 = _cpu_below(), _cpu_self(), time.perf_counter()
                results = await asyncio.gather(*(one(f) for f in feeds))
                store.flush_feed_states()  # the deferred feed states' commit counts in the cycle
                wall = time.perf_counter() - t0
                _report(cycle, wall, _cpu_self() - cpu0, _children_cpu(before), Counter(r.status for r in results))
        finally:
            await http.close()
            isolator.close()

    try:
        asyncio.run(main())
    finally:
        store.close()


def run_reader(base: str, urls: list[str], tmp: Path, runs: list[str]) -> None:
    import logging

    from reader import make_reader

    logging.getLogger("reader").setLevel(logging.CRITICAL)
    reader = make_reader(str(tmp / "reader.sqlite"))
    for url in urls:
        reader.add_feed(url)
    for cycle in runs:
        _set_validators(base, cycle != "unchanged")
        cpu0, t0 = _cpu_self(), time.perf_counter()
        statuses: Counter[str] = Counter()
        for result in reader.update_feeds_iter(workers=20, scheduled=cycle == "first"):
            value = result.value
            statuses["error" if isinstance(value, Exception) else "not_modified" if value is None else "ok"] += 1
        wall = time.perf_counter() - t0
        _report(cycle, wall, _cpu_self() - cpu0, 0.0, statuses)
    reader.close()


def _side(
    side: str, base: str, feeds: int, full_text: bool, cycles: list[str], backlog: str = DEFAULT_BACKLOG
) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-poll-{side}-") as tmp:
        cmd = [sys.executable, __file__, "--side", side, "--base", base, "--feeds", str(feeds), "--tmp", tmp]
        cmd += ["--cycles", ",".join(cycles), "--backlog", backlog]
        if full_text:
            cmd.append("--full-text")
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{side} side failed (exit {done.returncode})")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    out = {}
    for cycle in cycles:
        runs = sorted((r for r in rows if r["cycle"] == cycle), key=lambda r: r["wall"])
        out[cycle] = runs[len(runs) // 2]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=27)
    parser.add_argument("--full-text", action="store_true", help="news-monitor also fetches and extracts pages")
    parser.add_argument(
        "--cycles",
        default=",".join(CYCLES),
        help="comma-separated cycles to measure (default all; the first always runs, it fills the database)",
    )
    parser.add_argument("--side", choices=("ours", "reader"), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--backlog", default=DEFAULT_BACKLOG, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.cycles.split(",")) - set(CYCLES)
    if unknown:
        parser.error(f"unknown cycles {', '.join(sorted(unknown))} (known: {', '.join(CYCLES)})")
    cycles = [c for c in CYCLES if c == CYCLES[0] or c in args.cycles.split(",")]
    if args.side:
        urls = [f"{args.base}/feed/{i}.xml" for i in range(args.feeds)]
        if args.side == "ours":
            run_ours(args.base, urls, Path(args.tmp), args.full_text, _runs(cycles), args.backlog)
        else:
            run_reader(args.base, urls, Path(args.tmp), _runs(cycles))
        return 0

    try:
        import reader  # noqa: F401
    except ImportError:
        print("reader is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    with FeedServer(args.feeds, args.items) as server:
        print(f"{machine()}; {args.feeds} feeds × {args.items} items, {server.mean_bytes / 1000:.1f} KB each\n")
        ours = _side("ours", server.base, args.feeds, args.full_text, cycles)
        # the same first cycle with every entry matched and stored (no archive), unless left out by --cycles
        asked = CYCLES[0] in args.cycles.split(",")
        everything = _side("ours", server.base, args.feeds, args.full_text, [CYCLES[0]], "3650d") if asked else {}
        theirs = _side("reader", server.base, args.feeds, False, cycles)
    rows = []
    extra = [(f"{CYCLES[0]}, poll.backlog: 3650d", everything[CYCLES[0]])] if everything else []
    for cycle, o in [*((c, ours[c]) for c in cycles), *extra]:
        r = theirs[cycle.split(",")[0]]
        o_cpu = o["cpu"] + o["workers_cpu"]
        rows.append(
            [
                cycle,
                f"{o['wall']:.2f}",
                f"{o['cpu']:.2f} + {o['workers_cpu']:.2f}",
                f"{r['wall']:.2f}",
                f"{r['cpu']:.2f}",
                f"**{r['wall'] / o['wall']:.1f}×**",
                f"{r['cpu'] / o_cpu:.1f}×",
                " ".join(f"{k}={v}" for k, v in sorted(o["statuses"].items())),
                " ".join(f"{k}={v}" for k, v in sorted(r["statuses"].items())),
            ]
        )
    mode = "full_text: true" if args.full_text else "full_text: false"
    print(
        table(
            [
                "cycle",
                f"news-monitor wall s ({mode})",
                "news-monitor CPU s (main + workers)",
                "reader wall s",
                "reader CPU s",
                "speed-up (wall)",
                "CPU ratio",
                "news-monitor results",
                "reader results",
            ],
            rows,
        )
    )
    goals = [("first cycle ≥ 4× faster than reader", theirs["first"]["wall"] / ours["first"]["wall"] >= 4)]
    if "all-304" in cycles:
        n304 = ours["all-304"]["wall"]
        goals.append(("all-304 cycle ≥ 10× faster than reader", theirs["all-304"]["wall"] / n304 >= 10))
        if "unchanged" in cycles:
            same = ours["unchanged"]["wall"]
            goals.append((f"unchanged ≤ 2× all-304 (×{same / n304:.2f})", same <= 2 * n304))
    print("\n" + "\n".join(f"- {'met' if ok else 'MISSED'}: {name}" for name, ok in goals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
