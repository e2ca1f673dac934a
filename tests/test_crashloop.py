"""kill -9 during delivery loses no alert and duplicates at most one per kill (small run; the full one is
bench/bench_crashloop.py)."""

from __future__ import annotations

from pathlib import Path

from bench.bench_crashloop import crashloop


def test_sigkill_during_delivery_loses_nothing(tmp_path: Path) -> None:
    result = crashloop(rounds=4, alerts=12, workdir=tmp_path, hang=0.2, seed=3)
    assert result.kills >= 1, result.table()
    assert result.received == result.owed == result.sent_in_db, result.table()
    assert result.duplicates <= result.kills, result.table()
    assert result.integrity == "ok" and result.final_exit == 0, result.table()
