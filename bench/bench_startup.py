"""Start-up time of the command line: ``news-monitor --help`` and ``news-monitor check``, median of N runs.

    .venv/bin/python bench/bench_startup.py [--runs 15] [--config config/monitor.yaml]

Goal: each at most 0.3 s. For comparison, a bare ``python -c pass`` and ``python -c "import trafilatura"``
(the heaviest library, which these commands must not import) in the same run. Under each command, the
slowest top-level imports from ``python -X importtime``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, machine, table

GOAL = 0.3


def _timed(cmd: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def _heaviest(cmd: list[str], n: int = 5) -> list[tuple[float, str]]:
    """Top-level packages by cumulative import time (ms), from -X importtime."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    out: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not name.startswith(" ") and "." not in name.strip():
            out[name.strip()] = max(out.get(name.strip(), 0.0), int(cumulative) / 1000)
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
    print(f"{machine()}; median and best of {args.runs} runs\n")
    rows = []
    results = {}
    for name, cmd in commands.items():
        median, best = _timed(cmd, args.runs)
        results[name] = median
        goal = "" if not name.startswith("news-monitor") else ("met" if median <= GOAL else "MISSED")
        rows.append([name, f"{median:.3f}", f"{best:.3f}", goal])
    print(table(["command", "median s", "best s", f"≤ {GOAL} s"], rows))
    for name in ("news-monitor --help", "news-monitor check"):
        module_cmd = ["-m", "monitor", *commands[name][1:]]
        heavy = ", ".join(f"{mod} {ms:.0f} ms" for ms, mod in _heaviest(module_cmd))
        print(f"\n{name}: slowest imports: {heavy}")
    return 0 if all(results[n] <= GOAL for n in results if n.startswith("news-monitor")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
