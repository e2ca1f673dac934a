"""Extraction quality and speed: monitor.extract against bare ``trafilatura.extract(html)``, same pages, one run.

    .venv/bin/python bench/bench_extract.py [--limit N] [--variants]

1. Zyte article-extraction benchmark (../shared/corpus/article_extraction_benchmark): per page precision,
   recall and F1 of the extracted text against the expected body, on words and on word 4-gram shingles
   (as upstream's evaluate.py: ``\\w+`` tokens, multiset counts), averaged over pages; ms per page.
2. trafilatura's news pages (../shared/corpus/article_extraction_trafilatura_news): every ``with`` snippet
   found is a true positive, every ``without`` snippet found a false positive.

``--variants`` also scores trafilatura option sets, the measurements behind the options in extract.py, and
monitor.extract without the page's metadata (``metadata=False``, what the pipeline asks for when the feed
entry has a title and a date) against its trafilatura options with the cascade fixed, also without metadata:
always the full one (readability/justext comparison, the setting before the fast-first hybrid) or fast only.
Under each table: on how many pages monitor.extract's fast run looked cut short and the full cascade ran.

Timing alternates the extractors page by page, so drift in machine load hits both alike.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
ZYTE = CORPUS / "article_extraction_benchmark"
NEWS = CORPUS / "article_extraction_trafilatura_news"

_TOKEN = re.compile(r"\w+")

Extractor = Callable[[bytes, str], str]


@dataclass(frozen=True, slots=True)
class Page:
    key: str
    url: str
    html: bytes
    expected: str = ""
    with_: tuple[str, ...] = ()
    without: tuple[str, ...] = ()


def load_zyte(limit: int | None = None, root: Path = ZYTE) -> list[Page]:
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    keys = sorted(truth)[:limit] if limit else sorted(truth)
    return [
        Page(
            k, truth[k]["url"], gzip.decompress((root / "html" / f"{k}.html.gz").read_bytes()), truth[k]["articleBody"]
        )
        for k in keys
    ]


def load_news(limit: int | None = None, root: Path = NEWS) -> list[Page]:
    rows = [json.loads(line) for line in (root / "ground-truth.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [
        Page(
            r["html_file"],
            r["url"],
            gzip.decompress((root / r["html_file"]).read_bytes()),
            "",
            tuple(r["with"]),
            tuple(r["without"]),
        )
        for r in rows[:limit]
    ]


def prf(expected: str, got: str, n: int) -> tuple[float, float, float]:
    """Precision, recall, F1 of word n-grams (multisets), upstream's conventions for empty sides."""
    true, pred = _shingles(expected, n), _shingles(got, n)
    tp = sum((true & pred).values())
    fp, fn = sum(pred.values()) - tp, sum(true.values()) - tp
    if fp == fn == 0:
        return 1.0, 1.0, 1.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _shingles(text: str, n: int) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


@dataclass
class Score:
    name: str
    word: list[tuple[float, float, float]]
    shingle: list[tuple[float, float, float]]
    seconds: float
    pages: int
    failures: int

    def mean(self, which: str, i: int) -> float:
        rows: list[tuple[float, float, float]] = self.word if which == "word" else self.shingle
        return statistics.mean(x[i] for x in rows)

    @property
    def ms_per_page(self) -> float:
        return 1000 * self.seconds / self.pages


def score_zyte(extractors: dict[str, Extractor], pages: Iterable[Page]) -> dict[str, Score]:
    scores = {name: Score(name, [], [], 0.0, 0, 0) for name in extractors}
    for page in pages:
        for name, fn in extractors.items():
            t0 = time.perf_counter()
            text = fn(page.html, page.url)
            scores[name].seconds += time.perf_counter() - t0
            scores[name].pages += 1
            scores[name].failures += not text
            scores[name].word.append(prf(page.expected, text, 1))
            scores[name].shingle.append(prf(page.expected, text, 4))
    return scores


def score_news(extractors: dict[str, Extractor], pages: Iterable[Page]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {name: Counter() for name in extractors}
    for page in pages:
        for name, fn in extractors.items():
            text = " ".join(fn(page.html, page.url).split())
            tally = out[name]
            for snippet in page.with_:
                tally["tp" if " ".join(snippet.split()) in text else "fn"] += 1
            for snippet in page.without:
                tally["fp" if " ".join(snippet.split()) in text else "tn"] += 1
    return out


def ours(html: bytes, url: str) -> str:
    from monitor.errors import ExtractError
    from monitor.extract import extract_article

    try:
        return extract_article(html, url).text
    except ExtractError:
        return ""


def bare(html: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def _variant(**options: Any) -> Extractor:
    def run(html: bytes, url: str) -> str:
        import trafilatura

        from monitor.extract import decode_html

        return trafilatura.extract(decode_html(html), url=url, **options) or ""

    return run


def _cascade(fast: bool) -> Extractor:
    """monitor.extract's trafilatura options (text only) with the cascade fixed (no fast-first, no fallback)."""

    def run(html: bytes, url: str) -> str:
        from trafilatura import bare_extraction
        from trafilatura.utils import load_html

        from monitor.extract import _TEXT_ONLY, decode_html

        tree = load_html(decode_html(html))
        doc = bare_extraction(tree, url=url, fast=fast, **_TEXT_ONLY) if tree is not None else None
        return unicodedata.normalize("NFC", getattr(doc, "text", None) or "").strip()

    return run


def fallbacks(pages: Iterable[Page]) -> tuple[int, int]:
    """(pages where monitor.extract ran the full cascade after the fast one, pages parsed); untimed."""
    from trafilatura.utils import load_html

    from monitor.extract import _extract, decode_html

    ran = parsed = 0
    for page in pages:
        tree = load_html(decode_html(page.html))
        if tree is not None:
            parsed += 1
            ran += _extract(tree, page.url, True)[1]
    return ran, parsed


def ours_text_only(html: bytes, url: str) -> str:
    from monitor.errors import ExtractError
    from monitor.extract import extract_article

    try:
        return extract_article(html, url, metadata=False).text
    except ExtractError:
        return ""


VARIANTS: dict[str, Extractor] = {
    "monitor.extract, metadata=False (fast first)": ours_text_only,
    "same options, full cascade only": _cascade(fast=False),
    "same options, fast only": _cascade(fast=True),
    "no comments": _variant(include_comments=False),
    "no comments, fast": _variant(include_comments=False, fast=True),
    "no comments, precision": _variant(include_comments=False, favor_precision=True),
    "no comments, recall": _variant(include_comments=False, favor_recall=True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N pages of each corpus")
    parser.add_argument("--variants", action="store_true", help="also score trafilatura option sets")
    args = parser.parse_args(argv)
    if not ZYTE.exists():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 1
    import logging

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    extractors: dict[str, Extractor] = {"monitor.extract": ours, "bare trafilatura.extract": bare}
    if args.variants:
        extractors |= VARIANTS
    zyte = load_zyte(args.limit)
    for fn in extractors.values():  # warm-up: imports and lazy tables, outside the timing
        fn(zyte[0].html, zyte[0].url)
    scores = score_zyte(extractors, zyte)
    print(f"Zyte article-extraction benchmark: {len(zyte)} pages (mean of per-page scores)\n")
    print("| extractor | word P | word R | word F1 | 4-gram P | 4-gram R | 4-gram F1 | ms/page | empty |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in scores.values():
        cells = [f"{s.mean(w, i):.3f}" for w in ("word", "shingle") for i in range(3)]
        print(f"| {s.name} | {' | '.join(cells)} | {s.ms_per_page:.1f} | {s.failures} |")
    base = scores["bare trafilatura.extract"]
    mine = scores["monitor.extract"]
    print(
        f"\nours/bare: word F1 {mine.mean('word', 2) - base.mean('word', 2):+.3f}, "
        f"time ×{mine.seconds / base.seconds:.2f}"
    )
    print("monitor.extract ran the full cascade after the fast one on {} of {} pages".format(*fallbacks(zyte)))

    news = load_news(args.limit)
    tallies = score_news(extractors, news)
    print(f"\ntrafilatura news pages: {len(news)} pages, must-contain / must-not-contain snippets\n")
    print("| extractor | with found | with missed | without found (bad) | without absent | precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, t in tallies.items():
        p = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 0.0
        r = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        print(f"| {name} | {t['tp']} | {t['fn']} | {t['fp']} | {t['tn']} | {p:.3f} | {r:.3f} | {f:.3f} |")
    print("\nmonitor.extract ran the full cascade after the fast one on {} of {} pages".format(*fallbacks(news)))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
