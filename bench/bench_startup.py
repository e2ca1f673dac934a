"""Start-up time of the command line: ``news-monitor --help`` and ``news-monitor check``, median of N runs.

    .venv/bin/python bench/bench_startup.py [--runs 15] [--config config/monitor.yaml]

Goal: each at most 0.3 s. For comparison, a bare ``python -c pass`` and ``python -c "import trafilatura"``
(the heaviest library, which these commands must not import) in the same run. Under each command, the
slowest top-level imports from ``python -X importtime``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, machine, table

GOAL = 0.3


def _timed(cmd: list[str], runs: int) -> tuple[float, float, float]:
    """Median wall, best wall and median CPU (user + system) seconds."""
    times, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpus)


def _heaviest(cmd: list[str], n: int = 5) -> list[tuple[float, str]]:
    """Top-level packages by cumulative import time (ms), from -X importtime."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    out: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, raw = line.removeprefix("import time:").split("|")
        if not raw.startswith("  "):  # one space: imported by the script itself, not by another module
            out[raw.strip()] = int(cumulative) / 1000
    return sorted(((ms, name) for name, ms in out.items()), reverse=True)[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--config", default="config/monitor.yaml")
    args = parser.parse_args(argv)
    cli = str(Path(sys.executable).with_name("news-monitor"))
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "news-monitor --help": [cli, "--help"],
        "news-monitor check": [cli, "--config", args.config, "check", "--quiet"],
        'python -c "import trafilatura"': [sys.executable, "-c", "import trafilatura"],
    }
    print(f"{machine()}; {args.runs} runs of each\n")
    rows = []
    for name, cmd in commands.items():
        median, best, cpu = _timed(cmd, args.runs)
        goal = "" if not name.startswith("news-monitor") else ("met" if median <= GOAL else "MISSED")
        rows.append([name, f"{median:.3f}", f"{best:.3f}", f"{cpu:.3f}", goal])
    print(table(["command", "median wall s", "best wall s", "median CPU s", f"wall ≤ {GOAL} s"], rows))
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} (wall times include waiting for a core)")
    for name in ("news-monitor --help", "news-monitor check"):
        module_cmd = ["-m", "monitor", *commands[name][1:]]
        heavy = ", ".join(f"{mod} {ms:.0f} ms" for ms, mod in _heaviest(module_cmd))
        print(f"\n{name}: slowest imports: {heavy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
