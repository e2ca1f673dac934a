"""Module-level functions that tests and the bench run inside isolate workers (they must be picklable)."""

from __future__ import annotations

import ctypes
import os
import signal
import time

from monitor.errors import ParseError


def echo(value: object) -> object:
    return value


def pid() -> int:
    return os.getpid()


def spin(seconds: float) -> int:
    """Burn CPU for ``seconds`` (or forever when it is large)."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def allocate(megabytes: int) -> int:
    """Hold ``megabytes`` of memory (touched, so it is resident)."""
    blocks = [bytearray(2**20) for _ in range(megabytes)]
    return len(blocks)


def segfault() -> None:
    ctypes.string_at(0)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def exit_now() -> None:
    os._exit(3)


def raise_parse_error(url: str) -> None:
    raise ParseError("not a feed", url=url)


def raise_value_error() -> None:
    raise ValueError("a bug in the function")


def unpicklable_result() -> object:
    return lambda: None


def extract_page(html: bytes) -> str | None:
    """trafilatura as the extract stage calls it (without our fallbacks): the pathological pages' target."""
    import trafilatura

    result: str | None = trafilatura.extract(html)
    return result


def sleep_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def imported(names: list[str]) -> list[str]:
    """Which of these modules the worker has imported."""
    import sys

    return [name for name in names if name in sys.modules]


def niceness() -> int:
    import os

    return os.nice(0)
