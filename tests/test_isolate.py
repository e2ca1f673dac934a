"""Isolator: budgets kill and replace workers, crashes are classified, results and errors come back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.errors import BudgetExceeded, MonitorError, ParseError
from monitor.isolate import Isolator
from tests.hostile import workloads


@pytest.fixture(scope="module")
def iso() -> Iterator[Isolator]:
    with Isolator(workers=2, memory=256 * 2**20) as isolator:
        yield isolator


def run(coro_fn):  # type: ignore[no-untyped-def]
    return asyncio.run(coro_fn())


def test_result_comes_back_and_workers_are_reused(iso: Isolator) -> None:
    async def go() -> list[int]:
        return [await iso.run(workloads.pid, budget=5) for _ in range(5)]

    pids = run(go)
    assert len(set(pids)) == 1  # one warm worker served all five calls
    assert run(lambda: iso.run(workloads.echo, {"a": b"bytes"}, budget=5)) == {"a": b"bytes"}


def test_wall_budget_kills_and_replaces(iso: Isolator) -> None:
    async def go() -> tuple[int, int]:
        before = await iso.run(workloads.pid, budget=5)
        with pytest.raises(BudgetExceeded, match="budget"):
            await iso.run(workloads.sleep, 60.0, budget=0.5)
        with pytest.raises(BudgetExceeded):
            await iso.run(workloads.spin, 60.0, budget=0.5)
        return before, await iso.run(workloads.pid, budget=5)

    before, after = run(go)
    assert after != before  # the killed worker was replaced by a new process


def test_cpu_limit_fires_when_the_parent_loop_is_late() -> None:
    """RLIMIT_CPU is the backstop: with the event loop blocked, the kernel kills the spinning worker."""

    async def go() -> None:
        with Isolator(workers=1, memory=None) as isolator:
            await isolator.run(workloads.pid, budget=5)  # warm
            (pid,) = isolator.pids
            task = asyncio.ensure_future(isolator.run(workloads.spin, 60.0, budget=1.0))
            await asyncio.sleep(0.05)  # let the call start
            # block the loop on purpose (the wall timer cannot fire) until the kernel has killed the worker
            deadline = time.monotonic() + 60
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            with pytest.raises(BudgetExceeded, match="CPU"):
                await task

    asyncio.run(go())


def test_crash_is_classified_and_the_pool_respawns(iso: Isolator) -> None:
    async def go() -> bool:
        for crash in (workloads.segfault, workloads.kill_self, workloads.exit_now):
            with pytest.raises(MonitorError, match="died") as info:
                await iso.run(crash, budget=5)
            assert not isinstance(info.value, BudgetExceeded)
        return bool(await iso.run(workloads.echo, True, budget=5))

    assert run(go)


def test_errors_pass_through(iso: Isolator) -> None:
    async def go() -> None:
        with pytest.raises(ParseError, match="not a feed") as info:
            await iso.run(workloads.raise_parse_error, "http://x/", budget=5)
        assert info.value.url == "http://x/"
        with pytest.raises(ValueError, match="a bug"):  # not a MonitorError: a bug, re-raised as itself
            await iso.run(workloads.raise_value_error, budget=5)
        with pytest.raises(TypeError, match="cannot be sent back"):
            await iso.run(workloads.unpicklable_result, budget=5)

    run(go)


def test_memory_budget(iso: Isolator) -> None:
    with pytest.raises(BudgetExceeded, match="memory"):
        run(lambda: iso.run(workloads.allocate, 1024, budget=20))


def test_concurrent_calls_use_separate_workers(iso: Isolator) -> None:
    async def go() -> list[int]:
        return list(await asyncio.gather(*(iso.run(workloads.sleep_pid, 0.3, budget=5) for _ in range(4))))

    pids = run(go)
    assert len(set(pids)) == 2  # two workers, each used twice; never more than the pool size


def test_a_cancelled_call_does_not_leave_a_busy_worker(iso: Isolator) -> None:
    async def go() -> object:
        task = asyncio.ensure_future(iso.run(workloads.sleep, 60.0, budget=120))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await iso.run(workloads.echo, "after", budget=5)

    assert run(go) == "after"


def test_closed_isolator_refuses() -> None:
    isolator = Isolator(workers=1)
    isolator.close()
    with pytest.raises(MonitorError, match="closed"):
        asyncio.run(isolator.run(workloads.echo, 1, budget=1))


def test_a_new_worker_starts_with_the_extraction_libraries_imported() -> None:
    # monitor.extract imports trafilatura on first use; the forkserver's preload spares each worker that
    with Isolator(workers=1) as isolator:
        loaded = run(lambda: isolator.run(workloads.imported, ["trafilatura", "numpy"], budget=30))
    assert loaded == ["trafilatura", "numpy"]


def test_workers_run_below_the_daemons_priority(iso: Isolator) -> None:
    import os

    from monitor.isolate import WORKER_NICE

    assert run(lambda: iso.run(workloads.niceness, budget=5)) == min(19, os.nice(0) + WORKER_NICE)
