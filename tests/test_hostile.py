"""The hostile corpus (tests/hostile/cases.py): every case ends in its expected result or classified error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.fetch import Http
from monitor.isolate import Isolator
from tests.hostile.cases import TIMEOUT, Case, Harness, all_cases, config, routes, run_case
from tests.hostile.server import serving

CASES = all_cases()


@pytest.fixture(scope="module")
def isolator() -> Iterator[Isolator]:
    with Isolator(workers=2, memory=256 * 2**20) as iso:
        yield iso


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, isolator: Isolator, tmp_path: Path) -> None:
    async def go() -> None:
        async with serving(routes(CASES)) as server, Http(config(), timeout=TIMEOUT, concurrency=4) as http:
            harness = Harness(server, http, isolator, budget=1.0, workdir=tmp_path)
            outcome, result = await asyncio.wait_for(run_case(case, harness), 30)
            assert outcome in case.expect, f"{case.name}: got {outcome}: {result}"
            assert case.check(result, harness), f"{case.name}: {result!r}"

    asyncio.run(go())
