"""Publish-to-alert delay and requests per feed per day, fixed against adaptive intervals: a simulated day.

    .venv/bin/python bench/bench_timeliness.py [--feeds 300] [--days 1] [--seed 1]

The clock is simulated (a discrete-event run: a day takes well under a second). Feeds publish at random
times (Poisson, with a day-night swing of ±60 %): a third busy (about one entry every 6 minutes), a third
moderate (about one an hour), a third quiet (about three a day). Each strategy polls every feed from the same
start; an entry's delay is the time from its publication to the first poll after it (the alert is written in
that poll's transaction and the outbox flusher is woken at once, so delivery adds no schedule delay).

- fixed: ``poll.interval`` (10 min) plus the daemon's jitter (uniform 0..``poll.jitter``, 30 s);
- adaptive: monitor.cadence as the pipeline runs it (``after_poll`` then ``adaptive_interval`` within
  ``poll.min_interval``..``poll.max_interval``, 5 min..6 h: the defaults), plus the same daemon jitter.

Goals: fixed p95 at most the interval + 10 s; adaptive cuts requests to quiet feeds by at least half without
raising the busy feeds' p95.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import table
from monitor.cadence import Cadence, adaptive_interval, after_poll

DAY = 86400.0
INTERVAL = timedelta(minutes=10)
JITTER = 30.0
MIN_INTERVAL = timedelta(minutes=5)  # poll.min_interval default
MAX_INTERVAL = timedelta(hours=6)
CLASSES = {"busy": 240.0, "moderate": 24.0, "quiet": 3.0}  # mean entries per day


@dataclass
class Outcome:
    delays: list[float]
    requests: int


def publish_times(per_day: float, days: float, rng: random.Random) -> list[float]:
    """Poisson arrivals whose rate swings ±60 % over the day (thinning of a process at the peak rate)."""
    peak = per_day * 1.6 / DAY
    out: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= days * DAY:
            return out
        if rng.random() < (1 + 0.6 * math.sin(2 * math.pi * t / DAY)) / 1.6:
            out.append(t)


Strategy = Callable[[Cadence | None, int, float | None, random.Random], tuple[Cadence | None, float]]


def fixed(cadence: Cadence | None, new: int, elapsed: float | None, rng: random.Random) -> tuple[Cadence | None, float]:
    return None, INTERVAL.total_seconds() + rng.uniform(0, JITTER)


def adaptive(
    cadence: Cadence | None, new: int, elapsed: float | None, rng: random.Random
) -> tuple[Cadence | None, float]:
    after = after_poll(
        cadence, interval=INTERVAL, new=new, elapsed=None if elapsed is None else timedelta(seconds=elapsed)
    )
    interval = adaptive_interval(after, min_interval=MIN_INTERVAL, max_interval=MAX_INTERVAL, rng=rng)
    return after, interval.total_seconds() + rng.uniform(0, JITTER)


def simulate(published: list[float], days: float, strategy: Strategy, rng: random.Random) -> Outcome:
    """Poll from t=0 (with the feed's backlog already seen) until the end; every entry's delay to its poll."""
    cadence: Cadence | None = None
    cadence, wait = strategy(cadence, 0, None, rng)  # the first poll: backlog only
    t, last, seen, requests = wait, 0.0, 0, 1
    delays: list[float] = []
    end = days * DAY
    while seen < len(published) or t < end:
        requests += t < end
        upto = bisect.bisect_right(published, t)
        delays.extend(t - p for p in published[seen:upto])
        cadence, wait = strategy(cadence, upto - seen, t - last, rng)
        seen, last, t = upto, t, t + wait
    return Outcome(delays, requests)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    per_class = args.feeds // len(CLASSES)
    feeds = {name: [publish_times(rate, args.days, rng) for _ in range(per_class)] for name, rate in CLASSES.items()}
    results: dict[tuple[str, str], Outcome] = {}
    for sname, strategy in (("fixed", fixed), ("adaptive", adaptive)):
        for cname, streams in feeds.items():
            total = Outcome([], 0)
            for stream in streams:
                one = simulate(stream, args.days, strategy, random.Random(rng.random()))
                total.delays += one.delays
                total.requests += one.requests
            results[(sname, cname)] = total
    print(
        f"{args.feeds} feeds over {args.days:g} simulated day(s), seed {args.seed}; fixed {INTERVAL} + jitter "
        f"0..{JITTER:g} s; adaptive {MIN_INTERVAL}..{MAX_INTERVAL}\n"
    )
    rows = []
    for (sname, cname), out in results.items():
        rows.append(
            [
                cname,
                sname,
                len(out.delays),
                f"{statistics.median(out.delays) / 60:.1f}" if out.delays else "-",
                f"{pct(out.delays, 0.95) / 60:.1f}",
                f"{out.requests / per_class / args.days:.1f}",
            ]
        )
    rows.sort(key=lambda r: (list(CLASSES).index(str(r[0])), r[1] != "fixed"))
    print(table(["feeds", "intervals", "entries", "p50 delay min", "p95 delay min", "requests/feed/day"], rows))

    def req(s: str, c: str) -> float:
        return results[(s, c)].requests / per_class / args.days

    fixed_p95 = max(pct(results[("fixed", c)].delays, 0.95) for c in CLASSES)
    busy_fixed, busy_adaptive = (pct(results[(s, "busy")].delays, 0.95) for s in ("fixed", "adaptive"))
    print()
    for c in CLASSES:
        print(f"- {c}: adaptive/fixed requests ×{req('adaptive', c) / req('fixed', c):.2f}")
    goals = [
        (f"fixed p95 ≤ interval + 10 s ({fixed_p95:.0f} s)", fixed_p95 <= INTERVAL.total_seconds() + 10),
        ("adaptive cuts quiet feeds' requests by ≥ half", req("adaptive", "quiet") <= req("fixed", "quiet") / 2),
        (f"busy p95 not raised ({busy_adaptive:.0f} s vs {busy_fixed:.0f} s)", busy_adaptive <= busy_fixed),
    ]
    print("\n".join(f"- {'met' if ok else 'MISSED'}: {name}" for name, ok in goals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
