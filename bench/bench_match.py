"""Matching cost with 100 / 1,000 / 10,000 generated rules over real articles, in one run.

    .venv/bin/python bench/bench_match.py [--articles 400] [--naive-articles 30] [--pages 25]

Articles: Reuters-21578 stories and the article-extraction-benchmark's expected bodies (both in
../shared/corpus). Rules are generated from the corpus vocabulary (by default terms
found in at most 1 % of the stories: names, commodities, places, as watch rules use; --vocabulary common
for everyday words too), cycling through single words, phrases, wildcards, NEAR, entities and boolean mixes. Columns:

- compile: seconds to compile all rules; memory: bytes allocated by the compiled RuleSet (tracemalloc, on a
  second compile: tracing every allocation slows it, so the timed compile runs without it);
- µs/article: median time of RuleSet.match over the articles (tokenising included);
- µs web is the same pages trafilatura extracts (their expected text), so "web ÷ extract" is the
  like-for-like share; "all ÷ extract" uses the median over Reuters and web articles together;
- naive: median time per article of a loop running one compiled regular expression per rule (the rule's
  positive terms as one alternation, so the naive side does less work than the rule asks: a lower bound);
- vs naive: naive / engine; vs extract: engine time as a share of trafilatura.extract on the same
  benchmark's HTML pages (median per page, measured in this run). The web pages' matching and the
  extraction are timed in turns, in each row, so that both see the same load on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import itertools
import json
import random
import re
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import EntityConfig, RuleConfig  # noqa: E402
from monitor.match import Document, compile_rules  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
REUTERS = CORPUS / "reuters21578" / "reuters21578.jsonl"
AEB = CORPUS / "article_extraction_benchmark"
_WORD = re.compile(r"[a-z]{4,}")


def load_articles(limit: int, rng: random.Random) -> tuple[list[Document], list[Document], list[Document]]:
    """(timed Reuters stories, web article bodies, every Reuters story for the vocabulary)."""
    stories = [json.loads(line) for line in REUTERS.open(encoding="utf-8")]
    everything = [Document(title=s["title"], text=s["body"]) for s in stories]
    long = [s for s in stories if len(s["body"]) > 400]
    reuters = [Document(title=s["title"], text=s["body"]) for s in rng.sample(long, min(limit, len(long)))]
    truth = json.loads((AEB / "ground-truth.json").read_text(encoding="utf-8"))
    web = [Document(title="", text=v["articleBody"]) for v in truth.values() if v.get("articleBody")]
    return reuters, web, everything


def vocabulary(docs: list[Document], distinctive: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """Words and word pairs to build rules from.

    ``distinctive``: terms found in at most 1 % of the articles (names, commodities, places: what watch
    rules are made of). Otherwise every word and pair seen 3 times or more, past the 300 commonest."""
    words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for doc in docs:
        tokens = _WORD.findall((doc.title + " " + doc.text).lower())
        if distinctive:  # document frequency
            words.update(set(tokens))
            pairs.update(set(itertools.pairwise(tokens)))
        else:
            words.update(tokens)
            pairs.update(itertools.pairwise(tokens))
    if distinctive:
        cap = max(3, len(docs) // 100)
        return sorted(w for w, c in words.items() if 3 <= c <= cap), sorted(
            p for p, c in pairs.items() if 3 <= c <= cap
        )
    ranked = [w for w, count in words.most_common() if count >= 3]
    return ranked[300:], [p for p, count in pairs.most_common() if count >= 3][300:]


def generate(
    n: int, words: list[str], pairs: list[tuple[str, str]], rng: random.Random
) -> tuple[list[RuleConfig], dict[str, EntityConfig], list[str]]:
    entities = {
        f"ent{i}": EntityConfig(aliases=[rng.choice(words), " ".join(rng.choice(pairs)), f"E{i % 97}X"])
        for i in range(max(10, n // 20))
    }
    rules: list[RuleConfig] = []
    naive: list[str] = []
    for i in range(n):
        w1, w2, w3, w4 = (rng.choice(words) for _ in range(4))
        a, b = rng.choice(pairs)
        kind = i % 6
        if kind == 0:
            query, terms = w1, [rf"\b{w1}\b"]
        elif kind == 1:
            query, terms = f'"{a} {b}"', [rf"\b{a}\W+{b}\b"]
        elif kind == 2:  # a stem, as users write them: magnet*, lithium*, sanction*
            stem = w1[: max(6, len(w1) - 2)]
            query, terms = f"{stem}*", [rf"\b{stem}\w*"]
        elif kind == 3:
            query = f"{w1} NEAR/5 {w2}"
            terms = [rf"\b{w1}\W+(?:\w+\W+){{0,5}}?{w2}\b", rf"\b{w2}\W+(?:\w+\W+){{0,5}}?{w1}\b"]
        elif kind == 4:
            name = f"ent{i % len(entities)}"
            query = f"@{name} AND {w1}"
            terms = [rf"\b{re.escape(x)}\b" for x in entities[name].aliases] + [rf"\b{w1}\b"]
        else:
            query, terms = f"({w1} OR {w2}) AND {w3} -{w4}", [rf"\b{w1}\b", rf"\b{w2}\b", rf"\b{w3}\b"]
        rules.append(RuleConfig(name=f"r{i}", query=query))
        naive.append("|".join(terms))
    return rules, entities, naive


def median_us(fn, items) -> float:  # type: ignore[no-untyped-def]
    times = []
    for item in items:
        t0 = time.process_time()
        fn(item)
        times.append(time.process_time() - t0)
    return statistics.median(times) * 1e6


def load_pages(pages: int, rng: random.Random) -> list[str]:
    files = sorted((AEB / "html").glob("*.html.gz"))
    chosen = rng.sample(files, min(pages, len(files)))
    return [gzip.decompress(f.read_bytes()).decode("utf-8", "replace") for f in chosen]


def in_turns(match, docs, html) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median µs of ``match`` per document and of trafilatura.extract per HTML page, timed in turns (a page
    after every few documents), so that a change in the machine's load affects both alike."""
    import trafilatura

    step = max(1, len(docs) // max(1, len(html)))
    matched, extracted = [], []
    for i, doc in enumerate(docs):
        t0 = time.process_time()
        match(doc)
        matched.append(time.process_time() - t0)
        if i % step == 0 and i // step < len(html):
            t0 = time.process_time()
            trafilatura.extract(html[i // step])
            extracted.append(time.process_time() - t0)
    for page in html[len(extracted) :]:
        t0 = time.process_time()
        trafilatura.extract(page)
        extracted.append(time.process_time() - t0)
    return statistics.median(matched) * 1e6, statistics.median(extracted) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=400, help="Reuters stories to time (default 400)")
    parser.add_argument("--naive-articles", type=int, default=30, help="articles for the naive loop")
    parser.add_argument("--pages", type=int, default=25, help="HTML pages for trafilatura")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument(
        "--vocabulary",
        choices=["distinctive", "common"],
        default="distinctive",
        help="build rules from terms in at most 1%% of articles (default) or from common words too",
    )
    args = parser.parse_args()
    if not REUTERS.exists():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 1
    rng = random.Random(3)
    reuters, web, everything = load_articles(args.articles, rng)
    words, pairs = vocabulary(everything + web, args.vocabulary == "distinctive")
    html = load_pages(args.pages, rng)
    import trafilatura

    trafilatura.extract(html[0])  # warm
    docs = reuters + web
    naive_docs = rng.sample(docs, min(args.naive_articles, len(docs)))
    print(f"articles: {len(reuters)} Reuters + {len(web)} web bodies (CPU time, this process)")
    print(f"rules built from {args.vocabulary} terms: {len(words):,} words, {len(pairs):,} word pairs")
    print(f"trafilatura.extract on {len(html)} benchmark pages, timed in each row in turns with the web pages")
    print()
    head = (
        "rules",
        "compile s",
        "memory MB",
        "µs/article all",
        "µs Reuters",
        "µs web",
        "naive µs",
        "vs naive",
        "all ÷ extract",
        "extract µs",
        "web ÷ extract",
        "matches/article",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    for n in (int(x) for x in args.sizes.split(",")):
        rules, entities, naive_src = generate(n, words, pairs, random.Random(n))
        t0 = time.process_time()
        ruleset = compile_rules(rules, entities)
        compile_s = time.process_time() - t0
        tracemalloc.start()
        traced = compile_rules(rules, entities)
        memory = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del traced
        ruleset.match(docs[0])  # warm
        all_us = median_us(ruleset.match, docs)
        reuters_us = median_us(ruleset.match, reuters)
        web_us, extract = in_turns(ruleset.match, web, html)
        naive = [re.compile(src, re.I) for src in naive_src]

        def naive_loop(doc: Document, naive: list[re.Pattern[str]] = naive) -> int:
            text = doc.title + "\n" + doc.text
            return sum(1 for rx in naive if rx.search(text))

        naive_us = median_us(naive_loop, naive_docs)
        engine_naive_us = median_us(ruleset.match, naive_docs)
        row = (
            f"{n:,}",
            f"{compile_s:.2f}",
            f"{memory / 2**20:.1f}",
            f"{all_us:,.0f}",
            f"{reuters_us:,.0f}",
            f"{web_us:,.0f}",
            f"{naive_us:,.0f}",
            f"{naive_us / engine_naive_us:,.0f}×",
            f"{100 * all_us / extract:.1f} %",
            f"{extract:,.0f}",
            f"{100 * web_us / extract:.1f} %",
            f"{sum(len(ruleset.match(d)) for d in docs) / len(docs):.1f}",
        )
        print("| " + " | ".join(row) + " |")
    scaling(words)
    return 0


def scaling(words: list[str]) -> None:
    """Cost per KB of hostile articles of growing size: it stays flat if matching is linear."""
    rules = [
        RuleConfig(name="near", query="gold NEAR/1000 mine"),
        RuleConfig(name="phrase", query='"gold gold gold mine"'),
        RuleConfig(name="wild", query="go* AND mi* AND NOT zz"),
        RuleConfig(name="cjk", query="レアアース NEAR/5 規制"),
    ]
    rules += [RuleConfig(name=f"w{i}", query=f"{w} OR {w}*") for i, w in enumerate(words[:2000])]
    ruleset = compile_rules(rules, {})
    print()
    print("| hostile article | size KB | µs | µs per KB |")
    print("|---|---:|---:|---:|")
    kinds = {
        "one word repeated": "gold ",
        "two words alternating": "gold mine ",
        "all distinct words": None,
        "CJK run": "レアアース輸出規制",
    }
    for label, unit in kinds.items():
        for kb in (10, 100, 1000):
            if unit is None:
                text = " ".join(f"w{i:x}" for i in range(kb * 1024 // 6))
            else:
                text = unit * (kb * 1024 // len(unit.encode()))
            doc = Document(title="", text=text)
            gc.collect()  # the earlier rows' garbage is not this article's to collect
            t0 = time.process_time()
            ruleset.match(doc)
            us = (time.process_time() - t0) * 1e6
            print(f"| {label} | {kb:,} | {us:,.0f} | {us / kb:,.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
