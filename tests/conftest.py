"""Shared fixtures. The corpus lives in ../shared/corpus beside the repository and is never copied in."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_path(*parts: str) -> Path:
    """A path inside ../shared/corpus; skips the calling test cleanly when it is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not found at {path} (expected ../shared/corpus beside the repository)")
    return path


@pytest.fixture
def corpus() -> Path:
    return corpus_path()


# Real notification receivers (aiosmtpd, HTTP webhook) for any test module.
from tests.receivers import smtp_sink, webhook  # noqa: E402, F401
