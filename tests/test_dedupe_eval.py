"""Issue 4 item 4: syndicated copies and hard negatives built from Reuters-21578, through the real store.

``python -m tests.test_dedupe_eval`` prints the table; the test asserts the goals (>= 95 % of copies joined to
their story, <= 1 % of distinct same-topic stories wrongly joined). A copy is made the way syndication changes
wire text: a new headline, another outlet's boilerplate paragraphs instead of the first one's, 5-15 % of the
words substituted, deleted or inserted, and a trimmed lead. Hard negatives are other Reuters stories of the
same topic, dressed in the same kinds of boilerplate (sometimes the very outlet of the story).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.dedupe import tokens, word_hashes
from monitor.store import Store
from monitor.types import Article
from tests.conftest import corpus_path

MIN_WORDS = 80
NEGATIVES_PER_STORY = 3

# Page furniture that survives extraction on real sites, per outlet.
BOILERPLATE = (
    (
        "Sign up for our daily business newsletter to get the top stories in your inbox every morning.",
        "Copyright 2026 Harbour Daily News. All rights reserved. This material may not be published or redistributed.",
    ),
    (
        "Read more: Markets wrap, currencies and commodities at a glance.",
        "Follow us on social media for breaking news alerts and live coverage.",
        "(Reporting by wire staff; Editing by the business desk)",
    ),
    (
        "Advertisement",
        "This article was produced by our partner agency and is republished under licence.",
        "Have a tip? Contact our newsroom securely.",
    ),
    (
        "Subscribe now for unlimited access to independent journalism from only 1 euro a week.",
        "Related: the week ahead in global markets.",
    ),
    ("",),
)


@dataclass(frozen=True, slots=True)
class Doc:
    id: int
    title: str
    text: str
    topic: str
    outlet: int = 0  # whose furniture it wears


@dataclass(frozen=True, slots=True)
class Case:
    story: Doc  # as the first outlet published it
    copy: Doc  # as a second outlet published it
    negatives: tuple[Doc, ...]  # other stories of the same topic, as some outlet published them
    rate: float  # share of the copy's words changed


def load(path: Path) -> list[Doc]:
    docs = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["topics"] and len(r["body"].split()) >= MIN_WORDS:
                docs.append(Doc(r["id"], r["title"], r["body"], r["topics"][0]))
    return docs


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s{2,}", text) if p.strip()]


def dress(body: list[str], outlet: int, rng: random.Random) -> str:
    """Wrap paragraphs in one outlet's furniture (before and after the text)."""
    furniture = [p for p in BOILERPLATE[outlet] if p]
    rng.shuffle(furniture)
    cut = rng.randint(0, len(furniture))
    return "\n\n".join([*furniture[:cut], *body, *furniture[cut:]])


def rewrite(paras: list[str], rate: float, vocab: list[str], rng: random.Random) -> list[str]:
    """Substitute, delete or insert about ``rate`` of the words."""
    out = []
    for p in paras:
        words: list[str] = []
        for w in p.split():
            if rng.random() >= rate:
                words.append(w)
                continue
            op = rng.random()
            if op < 0.6:
                words.append(rng.choice(vocab))
            elif op < 0.8:
                words.extend([w, rng.choice(vocab)])
            # else: deleted
        out.append(" ".join(words))
    return out


def trim_lead(paras: list[str], rng: random.Random) -> list[str]:
    """Drop the lead's first sentence, or its first words; sometimes the last paragraph too."""
    first, rest = paras[0], paras[1:]
    sentences = re.split(r"(?<=\.)\s+", first)
    if len(sentences) > 1 and rng.random() < 0.5:
        first = " ".join(sentences[1:])
    else:
        words = first.split()
        first = " ".join(words[rng.randint(1, max(1, len(words) // 3)) :])
    if len(rest) > 2 and rng.random() < 0.3:
        rest = rest[:-1]
    return [first, *rest] if first else rest


def headline(doc: Doc, rng: random.Random) -> str:
    words = [w for w in doc.text.split()[:30] if w.isalpha()]
    rng.shuffle(words)
    return " ".join(words[:8]).capitalize()


def _resends(doc: Doc, stories: list[set[int]]) -> bool:
    """Reuters re-sent some stories, corrected or extended: >= 60 % of the words (counted exactly) in common."""
    mine = word_hashes(tokens(doc.text))
    return any(len(mine & theirs) >= 0.6 * min(len(mine), len(theirs)) for theirs in stories)


def build(path: Path, stories: int = 300, seed: int = 4) -> tuple[list[Case], int]:
    """The cases, and how many same-topic candidates were left out as Reuters' own re-sends."""
    rng = random.Random(seed)
    docs = load(path)
    vocab = sorted({w for d in docs[:2000] for w in d.text.split() if w.isalpha()})
    by_topic: dict[str, list[Doc]] = {}
    for d in docs:
        by_topic.setdefault(d.topic, []).append(d)
    eligible = [d for d in docs if len(by_topic[d.topic]) > NEGATIVES_PER_STORY + 1]
    chosen = rng.sample(eligible, stories)
    chosen_ids = {d.id for d in chosen}
    chosen_sets = [word_hashes(tokens(d.text)) for d in chosen]
    used: set[int] = set()
    cases = []
    resends = 0
    for d in chosen:
        paras = paragraphs(d.text)
        outlet, other = rng.sample(range(len(BOILERPLATE)), 2)
        story = Doc(d.id, d.title, dress(paras, outlet, rng), d.topic, outlet)
        rate = rng.uniform(0.05, 0.15)
        copy_text = dress(rewrite(trim_lead(paras, rng), rate, vocab, rng), other, rng)
        copy = Doc(d.id, headline(d, rng), copy_text, d.topic, other)
        pool = [o for o in by_topic[d.topic] if o.id not in chosen_ids and o.id not in used]
        rng.shuffle(pool)
        negatives: list[Doc] = []
        for o in pool:
            if len(negatives) == NEGATIVES_PER_STORY:
                break
            if _resends(o, chosen_sets):
                resends += 1
                continue
            used.add(o.id)
            outlet = rng.randrange(len(BOILERPLATE))
            negatives.append(Doc(o.id, o.title, dress(paragraphs(o.text), outlet, rng), o.topic, outlet))
        cases.append(Case(story, copy, tuple(negatives), rate))
    return cases, resends


@dataclass(frozen=True, slots=True)
class Result:
    copies: int
    joined: int  # copies joined to their own story
    negatives: int
    wrongly_joined: int  # distinct stories joined to one of the stored stories
    resends: int
    by_rate: dict[str, tuple[int, int]]  # edit-rate bucket -> (copies, joined)


def evaluate(path: Path, db: Path, stories: int = 300) -> Result:
    cases, resends = build(path, stories)
    now = datetime(1987, 3, 1, tzinfo=UTC)
    store = Store.open(db)
    try:

        def record(doc: Doc, n: int, role: str) -> int:
            feed = f"https://outlet{doc.outlet}.example/feed"
            article = Article(
                url=f"https://outlet{doc.outlet}.example/{role}/{n}",
                link=f"https://outlet{doc.outlet}.example/{role}/{n}",
                title=doc.title,
                text=doc.text,
                feed_url=feed,
                feed_name=f"outlet{doc.outlet}",
                entry_key=f"{role}-{n}",
            )
            return store.record_article(article, [], {}, now + timedelta(seconds=n)).story_id

        story_ids = [record(c.story, i, "story") for i, c in enumerate(cases)]
        stored = set(story_ids)
        joined = 0
        by_rate: dict[str, tuple[int, int]] = {}
        for i, c in enumerate(cases):
            ok = record(c.copy, i, "copy") == story_ids[i]
            joined += ok
            low = min(int(c.rate * 100) // 2 * 2, 14)
            bucket = f"{low}-{low + 2} %"
            n, k = by_rate.get(bucket, (0, 0))
            by_rate[bucket] = (n + 1, k + ok)
        negatives = wrong = 0
        for i, c in enumerate(cases):
            for j, neg in enumerate(c.negatives):
                negatives += 1
                wrong += record(neg, i * 10 + j, "neg") in stored
    finally:
        store.close()
    return Result(len(cases), joined, negatives, wrong, resends, by_rate)


def test_copies_join_and_distinct_stories_do_not(tmp_path: Path) -> None:
    result = evaluate(corpus_path("reuters21578", "reuters21578.jsonl"), tmp_path / "eval.db")
    assert result.copies == 300 and result.negatives >= 850
    assert result.joined / result.copies >= 0.95, result
    assert result.wrongly_joined / result.negatives <= 0.01, result


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        r = evaluate(corpus_path("reuters21578", "reuters21578.jsonl"), Path(tmp) / "eval.db")
    print("| set | articles | joined to a stored story | share |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| syndicated copies (joined to their own story) | {r.copies} | {r.joined} | {r.joined / r.copies:.1%} |")
    print(
        f"| distinct same-topic stories (wrongly joined) | {r.negatives} | {r.wrongly_joined} |"
        f" {r.wrongly_joined / r.negatives:.1%} |"
    )
    print(f"same-topic candidates left out as Reuters re-sends: {r.resends}")
    rates = sorted(r.by_rate.items(), key=lambda x: int(x[0].split("-")[0]))
    print("copies joined by share of words changed:", ", ".join(f"{b}: {k}/{n}" for b, (n, k) in rates))
