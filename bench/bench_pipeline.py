"""Articles per second through the whole pipeline against bare trafilatura.extract, same pages, one run.

    .venv/bin/python bench/bench_pipeline.py [--rules 1000] [--feeds 8] [--limit N]

Pages: the Zyte article-extraction benchmark (../shared/corpus/article_extraction_benchmark), served by a
loopback server in its own process (pinned to the second core), listed in ``--feeds`` RSS feeds (items with
a title and a date, as real feeds have). news-monitor polls them with ``full_text: true``: fetch feed →
parse (worker) → new? → fetch page → extract (worker) → dedupe → match (``--rules`` generated rules,
bench/common.py) → store. Each mode runs in a fresh child process and database, ``--repeat`` (3) times in
turns; the table shows each mode's median run by wall time (single runs moved by ±15 % on this machine):

- bare trafilatura: ``trafilatura.extract(html)`` in a loop, one core (the baseline);
- news-monitor, one core: the process and its one isolate worker pinned to core 0 (``sched_setaffinity``);
- news-monitor, both cores: two isolate workers, no pinning (the server shares the cores).

Quality: mean word F1 of the stored article text (ours) and of bare trafilatura's output against the expected
bodies, scored by bench/bench_extract.py. Goals: one core ≥ 0.8× bare; both cores ≥ 1.6× bare single-core;
F1 not lower than bare. "main CPU ms/article" is the CPU time of the daemon's own process (fetching, matching,
storing; not the workers') per article: with both cores busy it is what the two workers wait on.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import html
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_extract import ZYTE, bare, load_zyte, prf
from bench.common import ROOT, StaticServer, cpu_seconds, descendants, free_port, generated_rules, machine, table


def _feeds(base: str, pages: list[Any], feeds: int) -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    per = -(-len(pages) // feeds)
    # an hour old: news, not the archive a new feed's first poll records unmatched (poll.backlog)
    stamp = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    for f in range(feeds):
        items = []
        for page in pages[f * per : (f + 1) * per]:
            items.append(
                f"<item><title>{html.escape(page.key)}</title><link>{base}/p/{page.key}.html</link>"
                f"<guid>{html.escape(page.key)}</guid><pubDate>{stamp}</pubDate>"
                f"<description>Page {html.escape(page.key)}</description></item>"
            )
        body = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Zyte {f}</title>{"".join(items)}</channel></rss>'
        )
        files[f"/feed/{f}.xml"] = (body.encode(), "application/rss+xml")
    for page in pages:
        files[f"/p/{page.key}.html"] = (page.html, "text/html")
    return files


def run_ours(base: str, feeds: int, rules: int, workers: int, pin: bool, tmp: Path) -> None:
    if pin:
        os.sched_setaffinity(0, {0})  # inherited by the isolate workers started below
    from monitor.config import load_config
    from monitor.fetch import Http
    from monitor.isolate import Isolator
    from monitor.pipeline import build_context, poll_feed
    from monitor.store import Store

    lines = [
        f"database: {tmp / 'monitor.db'}",
        "poll: {interval: 10m, jitter: 0s, concurrency: 20, timeout: 60s}",
        "fetch: {allow_networks: [127.0.0.0/8], per_host: 16, extract_budget: 20s}",
        "targets: {sink: 'json://127.0.0.1:9/'}",
        "feeds:",
        *(f"  - {{url: '{base}/feed/{i}.xml', name: 'zyte {i}'}}" for i in range(feeds)),
        *generated_rules(rules),
    ]
    (tmp / "monitor.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config(tmp / "monitor.yaml")
    store = Store.open(config.database_path())
    store.checkpoint_in_background()  # as the daemon does

    async def main() -> tuple[float, float, float]:
        http = Http(config.fetch, timeout=60, concurrency=config.poll.concurrency)
        isolator = Isolator(workers)
        try:
            ctx = build_context(config, store, http, isolator, lambda: datetime.now(UTC))
            gc.freeze()  # as the daemon does once started
            await asyncio.gather(*(isolator.run(abs, 1, budget=30) for _ in range(workers)))  # warm workers
            pids = descendants(os.getpid())
            w0, t0, c0 = sum(map(cpu_seconds, pids)), time.perf_counter(), time.process_time()
            results = await asyncio.gather(*(poll_feed(f, ctx) for f in config.feed_specs()))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            worker_cpu = sum(map(cpu_seconds, pids)) - w0  # the warm workers (a replaced one is not counted)
            errors = [str(r.error) for r in results if r.error]
            if errors:
                print(json.dumps({"errors": errors}), file=sys.stderr)
            return wall, cpu, worker_cpu
        finally:
            await http.close()
            isolator.close()

    try:
        wall, cpu, worker_cpu = asyncio.run(main())
        stored = store._query("SELECT link, text, extracted FROM articles")
    finally:
        store.close()
    articles = [[r["link"], r["text"], r["extracted"]] for r in stored]
    print(json.dumps({"wall": wall, "cpu": cpu, "worker_cpu": worker_cpu, "articles": articles}))


def run_bare(limit: int | None) -> None:
    os.sched_setaffinity(0, {0})
    pages = load_zyte(limit)
    bare(pages[0].html, pages[0].url)  # warm-up: imports
    texts = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for page in pages:
        texts[page.key] = bare(page.html, page.url)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"wall": wall, "cpu": cpu, "texts": texts}))


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, timeout=3600, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"child {args[:2]} failed (exit {done.returncode})")
    if done.stderr.strip():
        sys.stderr.write(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--feeds", type=int, default=8)
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode, in turns; the median is shown")
    parser.add_argument("--mode", choices=("bare", "ours"), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--pin", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode == "bare":
        run_bare(args.limit)
        return 0
    if args.mode == "ours":
        run_ours(args.base, args.feeds, args.rules, args.workers, args.pin, Path(args.tmp))
        return 0
    if not ZYTE.exists():
        print(f"corpus not found at {ZYTE}", file=sys.stderr)
        return 1
    if (os.cpu_count() or 1) < 2:
        print("needs two cores", file=sys.stderr)
        return 1

    pages = load_zyte(args.limit)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    expected = {f"{base}/p/{p.key}.html": p.expected for p in pages}
    limit = ["--limit", str(args.limit)] if args.limit else []
    modes = (("one core", 1, True), ("both cores", 2, False))
    tries: dict[str, list[dict[str, Any]]] = {"bare": [], **{name: [] for name, _, _ in modes}}
    with StaticServer(_feeds(base, pages, args.feeds), port, cpu=1):
        for _ in range(args.repeat):  # in turns, so a busy spell on the machine does not land on one mode
            tries["bare"].append(_child(["--mode", "bare", *limit]))
            for name, workers, pin in modes:
                with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
                    common = ["--base", base, "--feeds", str(args.feeds), "--rules", str(args.rules), "--tmp", tmp]
                    flags = ["--mode", "ours", "--workers", str(workers), *common, *limit]
                    tries[name].append(_child(flags + (["--pin"] if pin else [])))
    # the median run of each mode, by wall time
    runs = {name: sorted(done, key=lambda r: r["wall"])[len(done) // 2] for name, done in tries.items()}
    bare_run = runs.pop("bare")
    bare_f1 = statistics.mean(prf(p.expected, bare_run["texts"][p.key], 1)[2] for p in pages)

    bare_rate = len(pages) / bare_run["wall"]
    print(f"{machine()}; {len(pages)} Zyte pages, {args.rules} rules, {args.feeds} feeds\n")
    rows = [
        [
            "bare trafilatura.extract (one core)",
            len(pages),
            f"{bare_run['wall']:.2f}",
            f"{bare_rate:.1f}",
            "1.00×",
            f"{bare_f1:.3f}",
            f"{bare_run['cpu'] / len(pages) * 1000:.1f}",
            "-",
            "-",
        ]
    ]
    for name, run in runs.items():
        stored = {link: text for link, text, _ in run["articles"]}
        f1 = statistics.mean(prf(expected[link], stored.get(link, ""), 1)[2] for link in expected)
        extracted = sum(1 for _, _, ok in run["articles"] if ok)
        rate = len(run["articles"]) / run["wall"]
        rows.append(
            [
                f"news-monitor pipeline, {name}",
                len(run["articles"]),
                f"{run['wall']:.2f}",
                f"{rate:.1f}",
                f"**{rate / bare_rate:.2f}×**",
                f"{f1:.3f}",
                f"{run['cpu'] / len(run['articles']) * 1000:.1f}",
                f"{run['worker_cpu'] / len(run['articles']) * 1000:.1f}",
                f"{extracted} extracted, {len(run['articles']) - extracted} summary fallback",
            ]
        )
        run["ratio"], run["f1"] = rate / bare_rate, f1
    columns = ["run", "articles", "wall s", "articles/s", "vs bare", "mean word F1", "main CPU ms/article"]
    columns += ["worker CPU ms/article", "notes"]
    print(table(columns, rows))
    goals = [
        ("one core ≥ 0.8× bare", runs["one core"]["ratio"] >= 0.8),
        ("both cores ≥ 1.6× bare single-core", runs["both cores"]["ratio"] >= 1.6),
        ("F1 not lower than bare", min(r["f1"] for r in runs.values()) >= bare_f1 - 1e-9),
    ]
    print("\n" + "\n".join(f"- {'met' if ok else 'MISSED'}: {name}" for name, ok in goals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
