"""Hostile corpus table (issue 6 item 6): case, outcome, wall time, peak memory; canary hits; isolate overhead.

    .venv/bin/python bench/bench_hostile.py            # full-size fixtures, 1 s kill budget
    .venv/bin/python bench/bench_hostile.py --small    # the sizes the test suite uses

Peak memory is sampled from /proc every 10 ms: the daemon-side process (VmRSS of this process) and the
largest worker (VmRSS of the isolator's workers), each as growth over its value before the case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import FetchConfig
from monitor.errors import MonitorError
from monitor.fetch import Http
from monitor.isolate import Isolator
from tests.hostile import workloads
from tests.hostile.cases import TIMEOUT, Harness, all_cases, config, routes, run_case
from tests.hostile.server import serving

MiB = 2**20


def rss(pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Sampler:
    """Peak RSS of this process and of the isolator's workers while a case runs."""

    def __init__(self, isolator: Isolator) -> None:
        self.isolator = isolator
        self.stop = threading.Event()
        self.base_self = rss("self")
        self.base_worker = max((rss(p) for p in isolator.pids), default=0)
        self.peak_self = self.base_self
        self.peak_worker = self.base_worker

    def __enter__(self) -> Sampler:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(0.01):
            self.peak_self = max(self.peak_self, rss("self"))
            self.peak_worker = max([self.peak_worker, *(rss(p) for p in self.isolator.pids)])

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


async def corpus(full: bool) -> list[tuple[str, str, str, float, float, float, bool]]:
    cases = all_cases()
    rows = []
    with Isolator(workers=2) as isolator, tempfile.TemporaryDirectory() as tmp:
        await isolator.run(workloads.echo, None, budget=30)  # warm one worker
        async with serving(routes(cases)) as server:
            for case in cases:
                async with Http(config(), timeout=TIMEOUT, concurrency=4) as http:
                    harness = Harness(server, http, isolator, budget=1.0, workdir=Path(tmp), full=full)
                    with Sampler(isolator) as sampler:
                        start = time.perf_counter()
                        outcome, result = await asyncio.wait_for(run_case(case, harness), 60)
                        wall = time.perf_counter() - start
                    good = outcome in case.expect and case.check(result, harness)
                    rows.append(
                        (
                            case.part,
                            case.name,
                            outcome,
                            wall,
                            (sampler.peak_self - sampler.base_self) / MiB,
                            (sampler.peak_worker - sampler.base_worker) / MiB,
                            good,
                        )
                    )
    return rows


async def canary_hits() -> tuple[int, int]:
    """Every SSRF vector of tests/test_ssrf.py once more, against a fresh canary."""
    from tests.test_ssrf import PUBLIC, REDIRECTS, SPELLINGS, dns

    refused = 0
    async with serving() as canary, serving(host=PUBLIC, port=canary.port) as public:
        cfg = FetchConfig(allow_networks=[f"{PUBLIC}/32"], max_redirects=3)
        async with Http(cfg, timeout=2.0, concurrency=4, resolver=dns()) as http:
            for i, location in enumerate(REDIRECTS):
                public.routes[f"/r{i}"] = _redirect(location.format(p=canary.port))
            urls = [t.format(p=canary.port) for t in SPELLINGS]
            urls += [f"http://public.test:{public.port}/r{i}" for i in range(len(REDIRECTS))]
            for url in urls:
                try:
                    await http.fetch_page(url)
                except Exception:  # noqa: BLE001 - counting refusals; the canary is the judge
                    refused += 1
        return canary.hits, refused if refused == len(urls) else -refused


def _redirect(location: str):  # type: ignore[no-untyped-def]
    from tests.hostile.server import redirect_to

    return redirect_to(location)


async def overhead(calls: int = 500) -> tuple[float, float]:
    with Isolator(workers=2) as isolator:
        await isolator.run(workloads.echo, None, budget=30)
        start = time.perf_counter()
        for _ in range(calls):
            await isolator.run(workloads.echo, None, budget=5)
        warm = (time.perf_counter() - start) / calls
        start = time.perf_counter()
        for _ in range(5):  # a killed worker is replaced: the cost of a respawn from the forkserver
            with contextlib.suppress(MonitorError):  # the crash is the point
                await isolator.run(workloads.kill_self, budget=5)
            await isolator.run(workloads.echo, None, budget=30)
        respawn = (time.perf_counter() - start) / 5
    return warm, respawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="the fixture sizes of the test suite")
    args = parser.parse_args()
    rows = asyncio.run(corpus(full=not args.small))
    print(f"{'part':5} {'case':48} {'outcome':16} {'wall s':>7} {'daemon+MiB':>10} {'worker+MiB':>10}  ok")
    for part, name, outcome, wall, mem_self, mem_worker, good in rows:
        verdict = "yes" if good else "NO"
        print(f"{part:5} {name[:48]:48} {outcome:16} {wall:7.2f} {mem_self:10.1f} {mem_worker:10.1f}  {verdict}")
    bad = sum(1 for r in rows if not r[-1])
    print(f"\ncases: {len(rows)}, as expected: {len(rows) - bad}, unexpected: {bad}")
    print(f"worst wall time: {max(r[3] for r in rows):.2f} s; fetch deadline {TIMEOUT:g} s, kill budget 1 s")
    print(f"peak growth: daemon process {max(r[4] for r in rows):.1f} MiB, worker {max(r[5] for r in rows):.1f} MiB")
    hits, refused = asyncio.run(canary_hits())
    print(f"address-guard vectors refused: {refused}; canary hits: {hits}")
    warm, respawn = asyncio.run(overhead())
    print(f"isolate per-call overhead (trivial function, warm worker): {warm * 1e3:.3f} ms")
    print(f"isolate crash + respawn + first call: {respawn * 1e3:.1f} ms")
    if bad or hits:
        sys.exit(1)


if __name__ == "__main__":
    main()
