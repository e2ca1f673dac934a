"""Run parsing and extraction in worker processes with a wall-clock, CPU and memory budget.

feedparser and trafilatura have no timeouts and can spin for minutes on hostile input (feedparser#562,
trafilatura#704), so they never run in the daemon's process. Workers are warm (forked from a forkserver that
has already imported the heavy modules) and reused. A call over its wall budget gets its worker killed;
``RLIMIT_CPU`` inside the worker is the backstop when the parent's loop is late; ``RLIMIT_AS`` bounds memory.
The worker is replaced and the call raises ``BudgetExceeded``. A worker that dies otherwise (SIGSEGV, OOM
kill) raises ``MonitorError`` and is replaced. ``MonitorError`` raised by the function passes through;
any other exception is re-raised as itself (it is a bug in the function), with the worker's traceback as a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar, cast

from monitor.errors import BudgetExceeded, MonitorError

T = TypeVar("T")

# monitor.extract imports trafilatura (and dedupe numpy) on first use, for the CLI's start-up: named here, the
# forkserver imports them once (114 ms) and every worker forked from it starts with them
PRELOAD = ("monitor.isolate", "monitor.parse", "monitor.extract", "trafilatura", "numpy")
MEMORY = 1 << 30  # address space a worker may add above what it had at start
MAX_CALLS = 1000  # a worker is replaced after this many calls (bounds slow leaks in the libraries)
WORKER_NICE = 5  # added to a worker's nice value


def _worker(conn: multiprocessing.connection.Connection, memory: int | None) -> None:
    """Worker loop: receive (fn, args, budget), send ("ok", result) / ("error", exc, tb) / ("memory",)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # Below the daemon's priority: when parsing and extraction fill every core, its event loop (fetches,
    # deliveries, the watchdog's ping, handing workers their next call) still runs at once.
    os.nice(WORKER_NICE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory is not None:
        resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + memory, resource.RLIM_INFINITY))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args, budget = message
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu = used.ru_utime + used.ru_stime
        # the kernel sends SIGXCPU when the soft limit is reached: the call's budget plus a second's slack
        resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu + budget) + 1, resource.RLIM_INFINITY))
        reply: tuple[Any, ...]
        try:
            reply = ("ok", fn(*args))
        except MemoryError:
            reply = ("memory",)
        except BaseException as e:  # noqa: BLE001 - sent to the parent, which raises it there
            reply = ("error", e, traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as e:  # noqa: BLE001 - an unpicklable result or exception
            conn.send(("error", TypeError(f"worker result cannot be sent back: {e}"), ""))
        if reply[0] == "memory":
            return  # the heap may be in a poor state: start afresh


def _vm_size() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


class _Worker:
    def __init__(self, ctx: multiprocessing.context.BaseContext, memory: int | None) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=_worker, args=(child, memory), daemon=True, name="monitor-worker"
        )
        self.process.start()
        child.close()
        self.calls = 0
        self.reusable = False  # set by a call that got a reply from this worker

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        self.process.join(2)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(1)
        if self.process.is_alive():
            self.kill()
        self.conn.close()


class Isolator:
    """Up to ``workers`` calls at once, each in its own warm worker process. Use from one asyncio loop."""

    def __init__(
        self,
        workers: int = 2,
        *,
        memory: int | None = MEMORY,
        preload: Sequence[str] = PRELOAD,
        max_calls: int = MAX_CALLS,
    ) -> None:
        self._size = workers
        self._memory = memory
        self._max_calls = max_calls
        self._ctx = multiprocessing.get_context("forkserver")
        # the forkserver imports these once; every worker forked from it starts warm
        self._ctx.set_forkserver_preload(list(preload))
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """Worker process ids (idle and busy), for memory sampling."""
        return [w.pid for w in (*self._idle, *self._busy)]

    async def run(self, fn: Callable[..., T], *args: Any, budget: float) -> T:
        """``fn(*args)`` in a worker; ``BudgetExceeded`` past ``budget`` seconds of wall or CPU time."""
        if self._closed:
            raise MonitorError("isolator is closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        async with self._slots:
            worker = self._idle.pop() if self._idle else await asyncio.to_thread(_Worker, self._ctx, self._memory)
            self._busy.add(worker)
            worker.reusable = False
            try:
                return await self._call(worker, fn, args, budget)
            finally:
                self._busy.discard(worker)
                worker.calls += 1
                if worker.reusable and not self._closed and worker.calls < self._max_calls:
                    self._idle.append(worker)
                elif worker.reusable:
                    worker.stop()
                else:
                    worker.kill()

    async def _call(self, worker: _Worker, fn: Callable[..., T], args: tuple[Any, ...], budget: float) -> T:
        """The result; ``worker.reusable`` says afterwards whether the worker is still good."""
        name = getattr(fn, "__qualname__", repr(fn))
        try:
            worker.conn.send((fn, args, budget))
        except OSError:
            raise MonitorError("worker process is gone", subject=name) from None
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = worker.conn.fileno()
        loop.add_reader(fd, _wake, ready)
        started = time.monotonic()
        try:
            async with asyncio.timeout(budget):
                await ready
        except TimeoutError:
            if not worker.process.is_alive():  # the kernel's CPU limit got there first (a late loop)
                raise self._death(worker, name, budget, time.monotonic() - started) from None
            raise BudgetExceeded(f"{name} ran past its {budget:g} s budget and was killed") from None
        finally:
            loop.remove_reader(fd)
        try:
            reply = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(2)
            raise self._death(worker, name, budget, time.monotonic() - started) from None
        if reply[0] == "memory":
            raise BudgetExceeded(f"{name} ran past its memory budget")
        worker.reusable = True
        if reply[0] == "ok":
            return cast(T, reply[1])
        error: BaseException = reply[1]
        if not isinstance(error, MonitorError) and reply[2]:
            error.add_note(f"in worker {worker.pid}:\n{reply[2]}")
        raise error

    @staticmethod
    def _death(worker: _Worker, name: str, budget: float, elapsed: float) -> MonitorError:
        code = worker.process.exitcode
        if code == -signal.SIGXCPU:
            return BudgetExceeded(f"{name} ran past its {budget:g} s CPU budget and was killed")
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        return MonitorError(f"worker process died ({how}) after {elapsed:.1f} s", subject=name)

    def close(self) -> None:
        """Stop idle workers; kill busy ones (their callers get an error)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()
        for worker in list(self._busy):
            worker.kill()

    def __enter__(self) -> Isolator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
