"""Compile every rule once into one term index; match documents; explain a rule's verdict.

Matching a document (the "presearcher" design of Lucene Monitor):

1. tokenise each field once; map every token to its keys (folded singular, exact acronym, folded form);
2. look the document's distinct keys up in the index of all rules' terms (dict lookups; a dict per prefix
   length for ``magnet*``; one Aho-Corasick automaton for CJK substrings), and the word after each place of a
   word that can begin an indexed pair (a phrase is indexed under its rarest pair of adjacent words) — this
   shortlists the rules one of whose required terms is present;
3. evaluate only those rules' boolean trees over the document's posting lists.

Every step is linear in the document's length (times the number of distinct prefix lengths); no regular
expression built from a rule runs over article text.
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Iterable, Iterator, KeysView, Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import accumulate, chain, compress, count, islice, pairwise
from operator import itemgetter

import ahocorasick

from monitor.config import EntityConfig, RuleConfig
from monitor.errors import MatchError
from monitor.match import query as q
from monitor.match.entities import entity_aliases, resolve_entity, suggest_entity
from monitor.match.text import (
    MIN_PREFIX,
    Part,
    Unit,
    analyse_term,
    case_key,
    fold,
    paragraph_end,
    parts,
    split_gaps,
    stem,
)
from monitor.types import Hit, Match

FIELD_SPAN = 1 << 24  # positions of title, text and feed live in disjoint ranges of this size
_FIELDS = ("title", "text", "feed")
_SNIPPET_BEFORE, _SNIPPET_AFTER = 80, 200
HITS_PER_TERM = 5  # a match keeps the first hits of each term (every term shows); min_mentions counts all
_STOPWORDS_TEXT = (
    "a an and are as at be by for from has have he in is it its of on or said that the to was were "
    "will with this which would also not but they their been more new than one two last year pct mln dlrs"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

Span = tuple[int, int]  # [start, end) in global token positions
_NONE: list[int] = []  # shared empty posting list; never appended to
_BODY_END = 2 * FIELD_SPAN  # positions below this are in the title or the body


@dataclass(frozen=True, slots=True)
class Document:
    """What a rule sees of an article."""

    title: str
    text: str
    feed: str = ""
    tags: tuple[str, ...] = ()
    lang: str | None = None


# ---------------------------------------------------------------------------------------------------------
# One document, analysed once


# A distinct spelling, worked out once per RuleSet: positions it takes (a CJK run one per character), the
# terms it is filed under (none when no rule asks for it), the rules one of whose required terms it carries,
# its parts (offset, visible length, CJK?, word) for character offsets, the shift of each term from the
# spelling's first position (all 0 but in CJK runs); when its terms begin indexed pairs (a phrase's), the
# rules indexed under each second term that can follow (see RuleSet._follow); and the rules indexed under its
# terms that also need one of some other terms, as parallel tuples (needed term, rule), see RuleSet._given;
# last, the visible length of its first part (a hit's end where a token is one position).
_Follow = Mapping[str, Sequence[int]]
_Terms = tuple[str, ...]
_Orders = tuple[int, ...]
_Spelling = tuple[int, _Terms, _Orders, tuple[Part, ...], tuple[int, ...], _Follow | None, _Terms, _Orders, int]
_KEY_CACHE = 200_000  # distinct spellings remembered by a RuleSet across documents
_PAIRED = ("word", "case")  # kinds of unit one position wide, whose adjacent pairs a phrase can be indexed under
_PAIRED_TERMS = ("word\t", "case\t")


def _term(kind: str, key: str) -> str:
    """A unit as one string (``word\tgold``, ``case\tAPEC``), interned: the rules and the documents' tables hold
    the same string object, so a lookup compares pointers instead of characters, in one dict for all kinds."""
    return sys.intern(f"{kind}\t{key}")


def _pair_key(a: str, b: str) -> str:
    """Two adjacent terms (see _term) as the key of a pair unit."""
    return f"{a}\t{b}"


def _pair_terms(key: str) -> tuple[str, str]:
    """The two terms of a pair unit's key (see _pair_key), as the interned strings of _term."""
    kind1, key1, kind2, key2 = key.split("\t")
    return _term(kind1, key1), _term(kind2, key2)


def _follow(terms: Iterable[str], rules: RuleSet) -> _Follow | None:
    """The pairs a spelling's terms begin: second term → rules (merged when several terms begin pairs)."""
    follows = [f for f in map(rules._follow.get, terms) if f is not None]
    if len(follows) <= 1:
        return follows[0] if follows else None
    merged: dict[str, list[int]] = {}
    for follow in follows:
        for second, orders in follow.items():
            merged.setdefault(second, []).extend(orders)
    return merged


def _spelling(raw: str, rules: RuleSet) -> _Spelling:
    filing: list[tuple[str, int]] = []  # (term, shift)
    width = 0  # positions taken by the parts so far
    lengths = rules._prefix_lengths
    shortest = lengths[0] if lengths else 0
    split_parts = parts(raw)
    for _, _, cjk, word in split_parts:
        if cjk:
            if rules._cjk_atoms:
                for last, key in rules._automaton.iter(word):
                    filing.append((_term("cjk", key), width + last + 1 - len(key)))
            width += len(word)
            continue
        folded = fold(word)
        stemmed = stem(folded)
        if stemmed in rules._word_atoms:
            filing.append((_term("word", stemmed), width))
        if word[:2].isupper():
            exact = case_key(word)
            if exact in rules._case_atoms:
                filing.append((_term("case", exact), width))
        if shortest and folded[:shortest] in rules._prefix_heads:
            for n in lengths:
                if n > len(folded):
                    break
                if folded[:n] in rules._prefix_atoms:
                    filing.append((_term("prefix", folded[:n]), width))
        width += 1
    if not filing:  # most spellings: no rule asks for them
        return width, (), (), split_parts, (), None, (), (), split_parts[0][1]
    index = rules._index
    candidates = {order for term, _ in filing for order in index.get(term, ())}
    terms = tuple(term for term, _ in filing)
    needed: list[str] = []
    given: list[int] = []
    for entry in filter(None, map(rules._given.get, terms)):
        needed += entry[0]
        given += entry[1]
    shifts = tuple(shift for _, shift in filing)
    follow = _follow(terms, rules)
    return width, terms, tuple(candidates), split_parts, shifts, follow, tuple(needed), tuple(given), split_parts[0][1]


_NEEDED, _GIVEN = itemgetter(6), itemgetter(7)


def _merge(
    tables: dict[str, list[int]], merged: dict[str, list[int]], term: str, old: list[int], at: list[int]
) -> None:
    """Add the positions ``at`` to a term that has some (``old``) in a list of its own, sorted at the end."""
    if term in merged:
        old.extend(at)
    else:
        tables[term] = merged[term] = old + at


@dataclass(slots=True)
class _Located:
    """Character offsets of a field's positions, found so far, and the next token to look at."""

    token_starts: list[int]
    starts: list[int]
    ends: list[int]
    token: int


class _Analysed:
    __slots__ = ("_lead_end", "_offsets", "candidates", "doc", "pieces", "rules", "simple", "spellings", "tables")

    def __init__(self, doc: Document, rules: RuleSet) -> None:
        self.doc = doc
        self.tables: dict[str, list[int]] = {}  # term (see _term) → sorted positions
        self.pieces: list[list[str]] = []  # per field: gap, token, gap, ..., token, gap
        self._offsets: list[_Located | None] = [None, None, None]
        self.simple: list[bool] = []
        self._lead_end: int | None = None
        self.rules = rules
        self.spellings: dict[str, _Spelling] = {}
        cache = rules._keys
        plain = rules._plain
        spellings = self.spellings
        found: list[Iterable[int]] = []
        conditional: list[_Spelling] = []  # spellings whose rules need another term too
        pairs = rules._follow
        tables = self.tables
        merged: dict[str, list[int]] = {}  # keys fed by several lists: sorted once at the end
        for i, text in enumerate((doc.title, doc.text, doc.feed)):
            if not text:  # often the title or the feed: no tokens
                self.pieces.append([""])
                self.simple.append(True)
                continue
            pieces = split_gaps(text)
            self.pieces.append(pieces)
            tokens = pieces[1::2]
            # work per distinct spelling (dict lookups), then per occurrence of a spelling some rule asks for
            occurrences: dict[str, list[int]] = {}
            kept: list[_Spelling] = []  # the spellings of occurrences, in the same order
            starters: list[tuple[_Follow, str]] = []  # spellings that can begin an indexed pair
            simple = True
            # spellings known to be one position wide and asked for by no rule (most) are set aside in C
            for raw in set(tokens).difference(plain):
                spelling = cache.get(raw) or self._keys(raw, rules)
                if spelling[0] != 1:
                    simple = False
                    spellings[raw] = spelling
                if spelling[1]:  # only these (and wide ones) are kept for the document: no garbage per plain word
                    spellings[raw] = spelling
                    occurrences[raw] = []
                    kept.append(spelling)
                    if spelling[2]:  # three in four carry no rule's shortlist term
                        found.append(spelling[2])
                    if spelling[5] is not None:
                        starters.append((spelling[5], raw))
                    if spelling[6]:
                        conditional.append(spelling)
            if not simple:  # CJK: the width and parts of every token are needed
                for raw in tokens:
                    if raw not in spellings:
                        spellings[raw] = _spelling(raw, rules)
            base = i * FIELD_SPAN
            if simple:  # position k is token k: the irrelevant tokens are skipped in C
                for raw, pos in compress(zip(tokens, count(base)), map(occurrences.__contains__, tokens)):
                    occurrences[raw].append(pos)
                # indexed pairs: the token after each place of a spelling that can begin one (a few in a page)
                last = base + len(tokens) - 1
                for follow, raw in starters:
                    for pos in occurrences[raw]:
                        if pos < last:
                            after = spellings.get(tokens[pos + 1 - base])
                            if after is not None:
                                for term in after[1]:
                                    paired = follow.get(term)
                                    if paired is not None:
                                        found.append(paired)
            else:
                pos = base
                for raw in tokens:
                    at = occurrences.get(raw)
                    if at is not None:
                        at.append(pos)
                    pos += self.spellings[raw][0]
            self.simple.append(simple)
            if pairs and not simple:
                found.extend(self._pairs_by_position(occurrences, rules))
            # each spelling's positions under each of its terms; lists may be shared between terms, so they are
            # never changed in place unless made for a term fed by several spellings (Gold, gold, golds) or fields
            if simple:  # every shift is 0
                for positions, spelling in zip(occurrences.values(), kept, strict=True):
                    for term in spelling[1]:
                        old = tables.setdefault(term, positions)
                        if old is not positions:
                            _merge(tables, merged, term, old, positions)
            else:
                for positions, spelling in zip(occurrences.values(), kept, strict=True):
                    for term, shift in zip(spelling[1], spelling[4], strict=True):
                        at = [p + shift for p in positions] if shift else positions
                        old = tables.setdefault(term, at)
                        if old is not at:
                            _merge(tables, merged, term, old, at)
        for positions in merged.values():
            positions.sort()  # runs of sorted positions: linear
        if conditional:  # the rules whose needed term is present too, in C
            needed = chain.from_iterable(map(_NEEDED, conditional))
            found.append(compress(chain.from_iterable(map(_GIVEN, conditional)), map(tables.__contains__, needed)))
        self.candidates: set[int] = set(rules._always).union(*found)

    @staticmethod
    def _keys(raw: str, rules: RuleSet) -> _Spelling:
        keys = _spelling(raw, rules)
        # most spellings are one position wide and asked for by no rule: a set of them is all that is kept, so
        # a huge document of new words leaves no tuples behind (memory, and the garbage collector's walks)
        if keys[0] == 1 and not keys[1]:
            if len(rules._plain) >= _KEY_CACHE:
                rules._plain.clear()
            rules._plain.add(raw)
            return keys
        if len(rules._keys) >= _KEY_CACHE:
            rules._keys.clear()
        rules._keys[raw] = keys
        return keys

    def _pairs_by_position(self, occurrences: dict[str, list[int]], rules: RuleSet) -> Iterable[Sequence[int]]:
        """The rules indexed under adjacent pairs of a field whose tokens can take several positions (CJK)."""
        index = rules._follow
        units: dict[int, list[str]] = {}
        for raw, positions in occurrences.items():
            spelling = self.spellings[raw]
            for term, shift in zip(spelling[1], spelling[4], strict=True):
                if term.startswith(_PAIRED_TERMS):
                    for p in positions:
                        units.setdefault(p + shift, []).append(term)
        for p, firsts in units.items():
            seconds = units.get(p + 1)
            if seconds is not None:
                for a in firsts:
                    follow = index.get(a)
                    if follow is not None:
                        for b in seconds:
                            yield follow.get(b, ())

    def scope(self, name: str) -> Span:
        if name == "default":
            return (0, 2 * FIELD_SPAN)
        if name == "lead":
            if self._lead_end is None:
                cut = paragraph_end(self.doc.text)
                starts = self.offsets(1, 0)[0]
                located = self._offsets[1]
                tokens = len(self.pieces[1]) // 2
                while located is not None and starts[-1:] < [cut] and located.token < tokens:
                    starts = self.offsets(1, len(starts))[0]
                self._lead_end = FIELD_SPAN + bisect.bisect_left(starts, cut)
            return (0, self._lead_end)
        i = _FIELDS.index(name)
        return (i * FIELD_SPAN, (i + 1) * FIELD_SPAN)

    def offsets(self, i: int, upto: int) -> tuple[list[int], list[int]]:
        """Start and end character offsets of the positions of field ``i``, found as far as ``upto``
        (a position index) when first needed.

        Token starts are the running sum of the lengths of the gaps and tokens (in C); without CJK,
        position k is token k and ends are worked out in chars()."""
        state = self._offsets[i]
        if state is None:
            pieces = self.pieces[i]
            # islice drops each gap's end as soon as it is made: half the integers, and half the fresh memory
            token_starts = list(islice(accumulate(map(len, pieces)), 0, len(pieces) - 1, 2))
            if self.simple[i]:
                state = self._offsets[i] = _Located(token_starts, token_starts, [], len(token_starts))
            else:
                state = self._offsets[i] = _Located(token_starts, [], [], 0)
        starts, ends = state.starts, state.ends
        if upto < len(starts) or self.simple[i]:
            return starts, ends
        pieces, token_starts = self.pieces[i], state.token_starts
        k = state.token
        while len(starts) <= upto and k < len(token_starts):
            at = token_starts[k]
            split_parts = self.spellings[pieces[2 * k + 1]][3]
            k += 1
            if len(split_parts) == 1 and not split_parts[0][2]:  # one word: the common case
                starts.append(at)
                ends.append(at + split_parts[0][1])
                continue
            for offset, visible, cjk, word in split_parts:
                first = at + offset
                if cjk:
                    starts.extend(range(first, first + len(word)))
                    ends.extend(range(first + 1, first + len(word) + 1))
                else:
                    starts.append(first)
                    ends.append(first + visible)
        state.token = k
        return starts, ends

    def chars(self, span: Span) -> tuple[str, int, int]:
        """(field name, start, end) character offsets of a span of positions."""
        i = span[0] // FIELD_SPAN
        base = i * FIELD_SPAN
        last = span[1] - 1 - base
        starts, ends = self.offsets(i, last)
        if not self.simple[i]:
            return _FIELDS[i], starts[span[0] - base], ends[last]
        return _FIELDS[i], starts[span[0] - base], starts[last] + self.spellings[self.pieces[i][2 * last + 1]][8]

    def place(self, p: int, width: int) -> tuple[str, int, int]:
        """chars() of the span (p, p + width), the short way for one position in a field without CJK: there
        position k is token k, whose start and visible length are all there is to look up."""
        i = p // FIELD_SPAN
        located = self._offsets[i]
        if located is None or not self.simple[i] or width != 1:
            return self.chars((p, p + width))
        k = p - i * FIELD_SPAN
        start = located.starts[k]
        return _FIELDS[i], start, start + self.spellings[self.pieces[i][2 * k + 1]][8]


class _Ctx:
    """Evaluation state for one document: memoised postings shared by every rule."""

    __slots__ = ("an", "flat", "hits", "leaves", "sets", "tables", "windows")

    def __init__(self, an: _Analysed) -> None:
        self.an = an
        self.hits: dict[tuple[Span, str, str | None], Hit] = {}
        self.windows: tuple[dict[int, _Window], dict[int, _Window]] = ({}, {})  # title, body: first hit → window
        self.flat: list[str | None] = [None, None]  # title, body as one line (see _flat)
        self.leaves: dict[int, list[Span]] = {}
        self.sets: dict[str, set[int]] = {}
        self.tables = an.tables

    def start_set(self, term: str) -> set[int]:
        found = self.sets.get(term)
        if found is None:
            found = self.sets[term] = set(self.tables.get(term, _NONE))
        return found


def _sorted_unique(spans: list[Span]) -> list[Span]:
    """Sorted without repeats. The input is a few sorted runs, which the sort merges in linear time (a set
    would shuffle them and cost n log n)."""
    spans.sort()
    return [span for span, after in pairwise(spans) if span != after] + spans[-1:]


def _length(unit: Unit) -> int:
    return len(unit.key) if unit.kind == "cjk" else 1


# ---------------------------------------------------------------------------------------------------------
# Compiled rule trees


class _Node:
    __slots__ = ("source",)

    def __init__(self, source: q.Node) -> None:
        self.source = source

    def spans(self, ctx: _Ctx) -> list[Span]:
        """Where the node holds (sorted); empty when it does not hold or has no position (NOT, tag:)."""
        raise NotImplementedError

    def holds(self, ctx: _Ctx) -> bool:
        return bool(self.spans(ctx))

    def collect(self, ctx: _Ctx, out: list[tuple[Span, str, str | None]], limit: int | None = None) -> None:
        """Append (span, term, entity) of every positive term that holds (at most ``limit`` per term)."""


class _Leaf(_Node):
    """A word, phrase, wildcard or alias within a field scope."""

    __slots__ = ("entity", "key", "label", "scope", "shifts", "simple", "terms", "units", "width")

    def __init__(
        self, source: q.Node, units: tuple[Unit, ...], scope: str, label: str, entity: str | None, key: int
    ) -> None:
        super().__init__(source)
        self.units = units
        self.terms = tuple(_term(u.kind, u.key) for u in units)
        self.scope = scope
        self.label = label
        self.entity = entity
        self.key = key  # equal leaves of different rules share one id, so one memo entry per document
        self.simple = len(units) == 1 and scope == "default"
        self.shifts = tuple(accumulate((_length(u) for u in units), initial=0))  # where each unit starts
        self.width = self.shifts[-1]
        self.shifts = self.shifts[:-1]

    def holds(self, ctx: _Ctx) -> bool:
        if self.simple:  # one word anywhere in title or body: no need to build spans
            starts = ctx.tables.get(self.terms[0])
            return starts is not None and starts[0] < _BODY_END
        return bool(self.spans(ctx))

    def spans(self, ctx: _Ctx) -> list[Span]:
        found = ctx.leaves.get(self.key)
        if found is None:
            found = ctx.leaves[self.key] = self._compute(ctx)
        return found

    def _compute(self, ctx: _Ctx) -> list[Span]:
        tables = ctx.tables
        lists = []
        for term in self.terms:
            found = tables.get(term)
            if found is None:  # a phrase whose words are not all present: no positions to walk
                return []
            lists.append(found)
        lo, hi = ctx.an.scope(self.scope)
        width = self.width
        if len(lists) == 1:
            starts = lists[0]
            if starts[0] < lo or starts[-1] >= hi:
                starts = starts[bisect.bisect_left(starts, lo) : bisect.bisect_left(starts, hi)]
            return [(s, s + width) for s in starts]
        # a phrase: walk the positions of its rarest unit and look the others up where they must be
        rare = min(range(len(lists)), key=lambda k: len(lists[k]))
        shift = self.shifts[rare]
        others = [(self.shifts[k], ctx.start_set(self.terms[k])) for k in range(len(lists)) if k != rare]
        out: list[Span] = []
        for p in lists[rare]:
            s = p - shift
            if lo <= s < hi:
                for at, positions in others:
                    if s + at not in positions:
                        break
                else:
                    out.append((s, s + width))
        return out

    def collect(self, ctx: _Ctx, out: list[tuple[Span, str, str | None]], limit: int | None = None) -> None:
        spans = self.spans(ctx)
        out.extend((span, self.label, self.entity) for span in (spans if limit is None else spans[:limit]))


class _Or(_Node):
    __slots__ = ("children",)

    def __init__(self, source: q.Node, children: Sequence[_Node]) -> None:
        super().__init__(source)
        self.children = tuple(children)

    def spans(self, ctx: _Ctx) -> list[Span]:
        found = [c.spans(ctx) for c in self.children]
        return _sorted_unique(list(chain.from_iterable(found))) if len(found) > 1 else found[0]

    def holds(self, ctx: _Ctx) -> bool:
        for c in self.children:  # noqa: SIM110 - a plain loop: no generator per call on the hot path
            if c.holds(ctx):
                return True
        return False

    def collect(self, ctx: _Ctx, out: list[tuple[Span, str, str | None]], limit: int | None = None) -> None:
        for c in self.children:
            if c.holds(ctx):
                c.collect(ctx, out, limit)


class _And(_Or):
    __slots__ = ()

    def spans(self, ctx: _Ctx) -> list[Span]:
        return super().spans(ctx) if self.holds(ctx) else []

    def holds(self, ctx: _Ctx) -> bool:
        for c in self.children:  # noqa: SIM110 - a plain loop: no generator per call on the hot path
            if not c.holds(ctx):
                return False
        return True

    def collect(self, ctx: _Ctx, out: list[tuple[Span, str, str | None]], limit: int | None = None) -> None:
        if self.holds(ctx):
            super().collect(ctx, out, limit)


class _Not(_Node):
    __slots__ = ("child",)

    def __init__(self, source: q.Node, child: _Node) -> None:
        super().__init__(source)
        self.child = child

    def spans(self, ctx: _Ctx) -> list[Span]:
        return []

    def holds(self, ctx: _Ctx) -> bool:
        return not self.child.holds(ctx)


class _Meta(_Node):
    """``tag:`` and ``lang:``: hold or not for the whole document, no position."""

    __slots__ = ("field", "value")

    def __init__(self, source: q.Node, field_name: str, value: str) -> None:
        super().__init__(source)
        self.field = field_name
        self.value = fold(value)

    def spans(self, ctx: _Ctx) -> list[Span]:
        return []

    def holds(self, ctx: _Ctx) -> bool:
        doc = ctx.an.doc
        if self.field == "tag":
            return any(fold(t) == self.value for t in doc.tags)
        return doc.lang is not None and _primary(doc.lang) == _primary(self.value)


class _Near(_Node):
    __slots__ = ("distance", "left", "right")

    def __init__(self, source: q.Node, left: _Node, right: _Node, distance: int) -> None:
        super().__init__(source)
        self.left = left
        self.right = right
        self.distance = distance

    def spans(self, ctx: _Ctx) -> list[Span]:
        return _sorted_unique(list(self._near(ctx)))

    def holds(self, ctx: _Ctx) -> bool:
        # the first pair near enough will do: a long article's spans are not all built (twice: collect asks too)
        return next(self._near(ctx), None) is not None

    def _near(self, ctx: _Ctx) -> Iterator[Span]:
        left, right = self.left.spans(ctx), self.right.spans(ctx)
        if not left or not right:
            return
        n = self.distance  # 0 or more
        i, count = 0, len(right)
        for a0, a1 in left:
            # the nearest right-hand spans on either side of a (spans are short, so neighbours suffice);
            # left is sorted, so the first right-hand span starting at or after a only moves forward
            while i < count and right[i][0] < a0:
                i += 1
            for b0, b1 in right[max(0, i - 2) : i + 2]:
                if b0 - a1 <= n and a0 - b1 <= n and a0 // FIELD_SPAN == b0 // FIELD_SPAN:
                    yield (a0 if a0 < b0 else b0, a1 if a1 > b1 else b1)

    def collect(self, ctx: _Ctx, out: list[tuple[Span, str, str | None]], limit: int | None = None) -> None:
        if self.holds(ctx):
            self.left.collect(ctx, out, limit)
            self.right.collect(ctx, out, limit)


def _primary(lang: str) -> str:
    return lang.replace("_", "-").split("-")[0].casefold()


# ---------------------------------------------------------------------------------------------------------
# Compiling


@dataclass(slots=True)
class _Rule:
    config: RuleConfig
    root: _Node
    order: int
    feeds: frozenset[str]
    tags: frozenset[str]
    languages: frozenset[str]
    filtered: bool  # has feeds, tags or languages to check
    # besides the term it is indexed under and the group the presearcher checks (see RuleSet._given): groups
    # of terms, one of each group must be in the document
    needs: tuple[tuple[str, ...], ...] = ()


class _Compiler:
    def __init__(
        self,
        rule: RuleConfig,
        entities: Mapping[str, EntityConfig],
        aliases: dict[str, list[tuple[str, tuple[Unit, ...]]]],
        terms: dict[tuple[str, bool], tuple[Unit, ...]],
        leaf_ids: dict[tuple[tuple[Unit, ...], str], int],
    ) -> None:
        self.rule = rule
        self.entities = entities
        self.aliases = aliases  # entity name → analysed aliases, shared by all rules of one compile
        self.terms = terms  # (word, prefix) → units, likewise
        self.leaf_ids = leaf_ids  # (units, scope) → id, likewise

    def fail(self, node: q.Node, message: str, expected: str | None = None) -> MatchError:
        return MatchError(message, rule=self.rule.name, query=self.rule.query, column=node.start + 1, expected=expected)

    def compile(self) -> _Node:
        if not self.rule.query.strip():
            raise MatchError(
                "the query is empty",
                rule=self.rule.name,
                query=self.rule.query,
                column=1,
                expected='a word, a "phrase", an @entity or "("',
            )
        tree = q.parse_query(self.rule.query, self.rule.name)
        if not _positive(tree):
            raise self.fail(
                tree,
                "the query only excludes; it would match almost every article",
                "at least one term that must be present, e.g. gold -silver",
            )
        return self.node(tree, None)

    def node(self, node: q.Node, scope: str | None) -> _Node:
        if isinstance(node, q.Field):
            if node.field in ("tag", "lang"):
                return self.meta(node.child, node.field)
            return self.node(node.child, node.field)
        if isinstance(node, q.Word):
            units = self.term(node.text, node.prefix)
            if not units:
                raise self.fail(node, f"{node.text!r} has no letters or digits to match", "a word")
            if node.prefix and units[-1].kind == "prefix" and len(units[-1].key) < MIN_PREFIX:
                raise self.fail(
                    node, f"{node.text}* is too short for a wildcard", f"at least {MIN_PREFIX} letters before *"
                )
            label = node.text + ("*" if node.prefix else "")
            return self.leaf(node, units, scope, label, None)
        if isinstance(node, q.Phrase):
            prefix = node.text.endswith("*")
            units = analyse_term(node.text.rstrip("*"), prefix=prefix)
            if not units:
                raise self.fail(node, f'"{node.text}" has no letters or digits to match', "some words")
            return self.leaf(node, units, scope, node.text, None)
        if isinstance(node, q.Entity):
            return self.entity(node, scope)
        if isinstance(node, q.Not):
            return _Not(node, self.node(node.child, scope))
        if isinstance(node, q.And):
            return _And(node, [self.node(c, scope) for c in node.children])
        if isinstance(node, q.Or):
            return _Or(node, [self.node(c, scope) for c in node.children])
        if isinstance(node, q.Near):
            for side in (node.left, node.right):
                bad = _positionless(side)
                if bad is not None:
                    raise self.fail(
                        bad,
                        "NEAR needs words on both sides; this part has no position",
                        "words, phrases or @entities (not NOT, tag: or lang:) around NEAR",
                    )
            return _Near(node, self.node(node.left, scope), self.node(node.right, scope), node.distance)
        raise self.fail(node, "unsupported query part")  # pragma: no cover - the parser makes no other nodes

    def leaf(self, node: q.Node, units: tuple[Unit, ...], scope: str | None, label: str, entity: str | None) -> _Leaf:
        scope = scope or "default"
        key = self.leaf_ids.setdefault((units, scope), len(self.leaf_ids))
        return _Leaf(node, units, scope, label, entity, key)

    def term(self, text: str, prefix: bool) -> tuple[Unit, ...]:
        units = self.terms.get((text, prefix))
        if units is None:
            units = self.terms[(text, prefix)] = analyse_term(text, prefix=prefix)
        return units

    def entity(self, node: q.Entity, scope: str | None) -> _Node:
        name = resolve_entity(node.name, self.entities)
        if name is None:
            raise self.fail(node, f"unknown entity @{node.name}", suggest_entity(node.name, self.entities))
        aliases = self.aliases.get(name)
        if aliases is None:
            aliases = self.aliases[name] = entity_aliases(name, self.entities[name])
        if scope is None and self.rule.salient:
            scope = "lead"
        leaves = [self.leaf(node, units, scope, text, name) for text, units in aliases]
        return leaves[0] if len(leaves) == 1 else _Or(node, leaves)

    def meta(self, node: q.Node, field_name: str) -> _Node:
        if isinstance(node, q.Word | q.Phrase):
            return _Meta(node, field_name, node.text)
        if isinstance(node, q.Or):
            return _Or(node, [self.meta(c, field_name) for c in node.children])
        raise self.fail(node, f'{field_name}: takes a word, a "phrase" or (a OR b)', f"{field_name}:value")


def _positive(node: q.Node) -> bool:
    """Can the node only hold when something is present (not merely absent)?"""
    if isinstance(node, q.Not):
        return False
    if isinstance(node, q.And):
        return any(_positive(c) for c in node.children)
    if isinstance(node, q.Or):
        return all(_positive(c) for c in node.children)
    if isinstance(node, q.Field):
        return _positive(node.child)
    return True


def _positionless(node: q.Node) -> q.Node | None:
    """The first part of a NEAR operand that has no position in the text, if any."""
    if isinstance(node, q.Not):
        return node
    if isinstance(node, q.Field):
        return node if node.field in ("tag", "lang") else _positionless(node.child)
    if isinstance(node, q.And | q.Or):
        for c in node.children:
            bad = _positionless(c)
            if bad is not None:
                return bad
    if isinstance(node, q.Near):
        return _positionless(node.left) or _positionless(node.right)
    return None


def _unit_cost(unit: Unit) -> float:
    """Rough frequency of a term: short words and stopwords are common, long ones rare."""
    cost = 8.0 / len(unit.key)
    if unit.kind == "cjk":
        cost /= 2
    elif unit.kind == "prefix":
        cost *= 3
    if unit.key in _STOPWORDS:
        cost *= 50
    return cost


def _required(node: _Node) -> tuple[frozenset[Unit], float] | None:
    """Terms one of which must be present for the node to hold, with a cost; None when there are none.

    A phrase requires its rarest pair of adjacent one-position words (kind "pair"), when it has one: a pair is
    much rarer than either word, so far fewer phrases are evaluated only to find their words apart."""
    if isinstance(node, _Leaf):
        best = min(node.units, key=_unit_cost)
        adjacent = [(a, b) for a, b in pairwise(node.units) if a.kind in _PAIRED and b.kind in _PAIRED]
        if adjacent:
            a, b = min(adjacent, key=lambda ab: _unit_cost(ab[0]) * _unit_cost(ab[1]))
            cost = min(_unit_cost(a), _unit_cost(b)) / 4
            return frozenset([Unit("pair", _pair_key(_term(a.kind, a.key), _term(b.kind, b.key)))]), cost
        return frozenset([best]), _unit_cost(best)
    if isinstance(node, _And):
        options = [r for c in node.children if (r := _required(c)) is not None]
        return min(options, key=lambda r: r[1]) if options else None
    if isinstance(node, _Near):
        options = [r for c in (node.left, node.right) if (r := _required(c)) is not None]
        return min(options, key=lambda r: r[1]) if options else None
    if isinstance(node, _Or):
        units: set[Unit] = set()
        cost = 0.0
        for c in node.children:
            r = _required(c)
            if r is None:
                return None
            units |= r[0]
            cost += r[1]
        return frozenset(units), cost
    return None


def _clauses(node: _Node) -> list[frozenset[Unit]]:
    """Groups of terms such that, for the node to hold, one term of each group must be present."""
    if isinstance(node, _Leaf):
        return [frozenset([u]) for u in node.units]
    if isinstance(node, _And):
        return [c for child in node.children for c in _clauses(child)]
    if isinstance(node, _Near):
        return _clauses(node.left) + _clauses(node.right)
    if isinstance(node, _Or):
        firsts = [_clauses(child)[:1] for child in node.children]
        return [frozenset().union(*(f[0] for f in firsts))] if all(firsts) else []
    return []


def _needs(root: _Node, indexed: frozenset[Unit]) -> tuple[tuple[str, ...], ...]:
    """The groups of terms one of each of which a rule needs besides the terms it is indexed under, rarest
    first: those not already implied by the term it was shortlisted by. A pair implies both its words."""
    implied: set[Unit] = set()
    if len(indexed) == 1:
        (unit,) = indexed
        if unit.kind == "pair":
            kind1, key1, kind2, key2 = unit.key.split("\t")
            implied = {Unit(kind1, key1), Unit(kind2, key2)}
        else:
            implied = {unit}
    groups = [c for c in dict.fromkeys(_clauses(root)) if c != indexed and not c & implied]
    groups.sort(key=lambda c: sum(map(_unit_cost, c)))  # rarest first (stable: ties keep the query's order)
    return tuple(tuple(_term(u.kind, u.key) for u in c) for c in groups)


def _present(needs: tuple[tuple[str, ...], ...], terms: KeysView[str]) -> bool:
    """Does the document have one term of each group? (the set operation runs in C)"""
    for group in needs:  # noqa: SIM110 - a plain loop: no generator per call on the hot path
        if terms.isdisjoint(group):
            return False
    return True


def _units(node: _Node) -> Iterable[Unit]:
    if isinstance(node, _Leaf):
        yield from node.units
    elif isinstance(node, _Or):  # also _And
        for c in node.children:
            yield from _units(c)
    elif isinstance(node, _Not):
        yield from _units(node.child)
    elif isinstance(node, _Near):
        yield from _units(node.left)
        yield from _units(node.right)


def compile_rules(rules: Sequence[RuleConfig], entities: Mapping[str, EntityConfig]) -> RuleSet:
    """Compile every rule into one RuleSet. Raises MatchError naming the first bad rule."""
    return RuleSet(rules, entities)


# ---------------------------------------------------------------------------------------------------------
# Matching and explaining


@dataclass(frozen=True, slots=True)
class Clause:
    """One top-level part of a rule (or one rule option) and whether it held for the document."""

    text: str
    held: bool
    hits: tuple[Hit, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    rule: str
    query: str
    clauses: tuple[Clause, ...]
    options: tuple[Clause, ...]
    match: Match | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def matched(self) -> bool:
        return self.match is not None


class RuleSet:
    """All rules compiled into one index. The rules do not change after construction; the only state that
    does is a bounded cache of word spellings → keys (a set of those no rule asks for), which gives the same
    answer to every caller."""

    def __init__(self, rules: Sequence[RuleConfig], entities: Mapping[str, EntityConfig]) -> None:
        self._rules: list[_Rule] = []
        # by rule order, for a rule that is one word over title and body with no option to check: matched in one
        # step, from this tuple alone
        self._words: list[_Word | None] = []
        self._by_name: dict[str, _Rule] = {}
        # term (see _term) → the rules one of whose required terms it is; likewise adjacent pairs of terms
        self._index: dict[str, list[int]] = {}
        self._follow: dict[str, dict[str, list[int]]] = {}  # first term → second term → rules (pairs' index)
        # term → (terms, rules): a rule indexed under the term that also needs one of a group of other terms is
        # listed once for each term of the group (its rarest), which the presearcher checks (see _Analysed)
        self._given: dict[str, tuple[list[str], list[int]]] = {}
        self._always: list[int] = []
        self._prefix_atoms: set[str] = set()
        self._word_atoms: set[str] = set()  # every key some rule can ask a document for
        self._case_atoms: set[str] = set()
        # spelling → keys, shared by documents: folding and plurals are worked out once per spelling
        self._keys: dict[str, _Spelling] = {}
        self._plain: set[str] = set()  # spellings one position wide that no rule asks for
        self._cjk_atoms: set[str] = set()
        aliases: dict[str, list[tuple[str, tuple[Unit, ...]]]] = {}
        terms: dict[tuple[str, bool], tuple[Unit, ...]] = {}
        leaf_ids: dict[tuple[tuple[Unit, ...], str], int] = {}
        for order, config in enumerate(rules):
            root = _Compiler(config, entities, aliases, terms, leaf_ids).compile()
            rule = _Rule(
                config,
                root,
                order,
                frozenset(f.casefold() for f in config.feeds),
                frozenset(fold(t) for t in config.tags),
                frozenset(_primary(x) for x in config.languages),
                bool(config.feeds or config.tags or config.languages),
            )
            self._rules.append(rule)
            self._words.append(None)
            self._by_name[config.name] = rule
            for unit in _units(root):
                if unit.kind == "word":
                    self._word_atoms.add(unit.key)
                elif unit.kind == "prefix":
                    self._prefix_atoms.add(unit.key)
                elif unit.kind == "cjk":
                    self._cjk_atoms.add(unit.key)
                else:
                    self._case_atoms.add(unit.key)
            required = _required(root)
            if required is None:
                self._always.append(order)
                continue
            needs = _needs(root, required[0])
            if needs and all(unit.kind != "pair" for unit in required[0]):
                rarest, needs = needs[0], needs[1:]
                for unit in required[0]:
                    entry = self._given.setdefault(_term(unit.kind, unit.key), ([], []))
                    entry[0].extend(rarest)
                    entry[1].extend([order] * len(rarest))
            else:
                for unit in required[0]:
                    if unit.kind == "pair":
                        first, second = _pair_terms(unit.key)
                        self._follow.setdefault(first, {}).setdefault(second, []).append(order)
                    else:
                        self._index.setdefault(_term(unit.kind, unit.key), []).append(order)
            rule.needs = needs
            if isinstance(root, _Leaf) and root.simple and not rule.filtered and config.min_mentions <= 1:
                self._words[order] = _word(root, config)
        self._prefix_lengths = sorted({len(p) for p in self._prefix_atoms})
        self._prefix_heads = {p[: self._prefix_lengths[0]] for p in self._prefix_atoms} if self._prefix_atoms else set()
        self._automaton = ahocorasick.Automaton()
        for key in self._cjk_atoms:
            self._automaton.add_word(key, key)
        if self._cjk_atoms:
            self._automaton.make_automaton()

    @property
    def rule_names(self) -> list[str]:
        return [r.config.name for r in self._rules]

    def __len__(self) -> int:
        return len(self._rules)

    def match(self, doc: Document) -> list[Match]:
        """Every rule that matches the document, in configuration order, each with its hits and snippet."""
        an = _Analysed(doc, self)
        ctx = _Ctx(an)
        out: list[Match] = []
        tables = an.tables
        terms = tables.keys()
        rules = self._rules
        words = self._words
        for i in sorted(an.candidates):
            word = words[i]
            if word is not None:  # the commonest rule: holds when its word is in the title or body
                starts = tables.get(word[0])
                if starts is not None and starts[0] < _BODY_END:
                    out.append(_word_match(word, starts, ctx))
                continue
            rule = rules[i]
            if rule.needs and not _present(rule.needs, terms):
                continue
            if (rule.filtered and not _applies(rule, doc)) or not rule.root.holds(ctx):
                continue
            found = _make_match(rule, ctx)
            if found is not None:
                out.append(found)
        return out

    def explain(self, rule_name: str, doc: Document) -> Explanation:
        """Why ``rule_name`` does or does not match ``doc``: each top-level clause and each rule option."""
        rule = self._by_name.get(rule_name)
        if rule is None:
            raise MatchError(f"no rule named {rule_name!r}", rule=rule_name)
        an = _Analysed(doc, self)
        ctx = _Ctx(an)
        root = rule.root
        parts = root.children if isinstance(root, _And) else (root,)
        clauses = []
        for part in parts:
            found: list[tuple[Span, str, str | None]] = []
            held = part.holds(ctx)
            if held:
                part.collect(ctx, found)
            src = part.source
            clauses.append(Clause(rule.config.query[src.start : src.end], held, _hits(_unique(found), ctx)))
        config = rule.config
        options = []
        if rule.feeds:
            options.append(Clause(f"feeds: {', '.join(config.feeds)}", doc.feed.casefold() in rule.feeds))
        if rule.tags:
            options.append(Clause(f"tags: {', '.join(config.tags)}", bool(rule.tags & _doc_tags(doc))))
        if rule.languages:
            held = doc.lang is not None and _primary(doc.lang) in rule.languages
            options.append(Clause(f"languages: {', '.join(config.languages)}", held))
        match = _make_match(rule, ctx) if _applies(rule, doc) and root.holds(ctx) else None
        if config.min_mentions > 1:
            count = len(_collect(rule, ctx)) if root.holds(ctx) else 0
            options.append(Clause(f"min_mentions: {config.min_mentions} (found {count})", count >= config.min_mentions))
        return Explanation(config.name, config.query, tuple(clauses), tuple(options), match)


def _doc_tags(doc: Document) -> frozenset[str]:
    return frozenset(fold(t) for t in doc.tags)


def _applies(rule: _Rule, doc: Document) -> bool:
    if rule.feeds and doc.feed.casefold() not in rule.feeds:
        return False
    if rule.tags and not rule.tags & _doc_tags(doc):
        return False
    return not rule.languages or (doc.lang is not None and _primary(doc.lang) in rule.languages)


def _collect(rule: _Rule, ctx: _Ctx, limit: int | None = None) -> list[tuple[Span, str, str | None]]:
    found: list[tuple[Span, str, str | None]] = []
    rule.root.collect(ctx, found, limit)
    return _unique(found)


_SPAN = itemgetter(0)


def _unique(found: list[tuple[Span, str, str | None]]) -> list[tuple[Span, str, str | None]]:
    """In text order, one per place (an alias and the entity's name can find the same words)."""
    seen: set[Span] = set()
    unique = []
    for item in sorted(found, key=_SPAN):
        if item[0] not in seen:
            seen.add(item[0])
            unique.append(item)
    return unique


def _hits(found: Sequence[tuple[Span, str, str | None]], ctx: _Ctx) -> tuple[Hit, ...]:
    hits = []
    cache = ctx.hits
    place = ctx.an.place
    for item in found:
        hit = cache.get(item)
        if hit is None:  # rules sharing a term share its hits
            span = item[0]
            name, start, end = place(span[0], span[1] - span[0])
            hit = cache[item] = _hit(item[1], name, start, end, item[2])
        hits.append(hit)
    return tuple(hits)


def _make_match(rule: _Rule, ctx: _Ctx) -> Match | None:
    config = rule.config
    if config.min_mentions > 1 and len(_collect(rule, ctx)) < config.min_mentions:
        return None
    root = rule.root
    if isinstance(root, _Leaf) and root.simple:  # one word (the commonest rule): see _word_match
        word = _word(root, config)
        return _word_match(word, ctx.tables[word[0]], ctx)
    if isinstance(root, _Leaf):  # one term: its spans are already in text order, one per place
        found = [(span, root.label, root.entity) for span in root.spans(ctx)[:HITS_PER_TERM]]
    else:
        found = _collect(rule, ctx, HITS_PER_TERM)
    hits = _hits(found, ctx)
    snippet, highlights = _match_snippet(hits, ctx)
    return _match(config.name, hits, snippet, highlights, config.priority)


class _HitSlots:
    """Hit's slots without its frozen __setattr__."""

    __slots__ = ("end", "entity", "field", "start", "term")
    term: str
    field: str
    start: int
    end: int
    entity: str | None


class _MatchSlots:
    """Match's slots without its frozen __setattr__."""

    __slots__ = ("highlights", "hits", "priority", "rule", "snippet")
    rule: str
    hits: tuple[Hit, ...]
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    priority: str


# Hit and Match are frozen dataclasses, whose generated __init__ sets each field through object.__setattr__:
# half the cost of the ~125 of them a web page yields at 10,000 rules. _hit() and _match() fill one of the
# classes above with plain slot stores and then make it a Hit or Match by assigning __class__, which CPython
# allows between classes of the same slots (and refuses with TypeError otherwise): the same objects (equal,
# hashable, frozen from then on) in under half the time of setting each slot through its descriptor.
for _cls, _slots in ((Hit, _HitSlots), (Match, _MatchSlots)):
    try:  # a field added or renamed, or a layout CPython will not convert, fails here, not at the first match
        if {f.name for f in fields(_cls)} != set(_slots.__slots__):
            raise TypeError("different fields")
        _slots().__class__ = _cls  # type: ignore[assignment]  # the conversion _hit() and _match() make
    except TypeError as e:
        raise ImportError(f"monitor.types.{_cls.__name__} changed: update {_slots.__name__} in {__name__}") from e


def _hit(term: str, where: str, start: int, end: int, entity: str | None) -> Hit:
    hit = _HitSlots()
    hit.term = term
    hit.field = where
    hit.start = start
    hit.end = end
    hit.entity = entity
    hit.__class__ = Hit  # type: ignore[assignment]  # see above
    return hit  # type: ignore[return-value]  # now a Hit


def _match(
    rule: str, hits: tuple[Hit, ...], snippet: str, highlights: tuple[tuple[int, int], ...], priority: str
) -> Match:
    match = _MatchSlots()
    match.rule = rule
    match.hits = hits
    match.snippet = snippet
    match.highlights = highlights
    match.priority = priority
    match.__class__ = Match  # type: ignore[assignment]  # see above
    return match  # type: ignore[return-value]  # now a Match


_Word = tuple[str, str, str | None, int, str, str]  # a one-word leaf's term, label, entity, width; rule, priority


def _word(root: _Leaf, config: RuleConfig) -> _Word:
    return root.terms[0], root.label, root.entity, root.width, config.name, config.priority


def _word_match(word: _Word, starts: list[int], ctx: _Ctx) -> Match:
    """_make_match() for a rule that is one word over the title and body, in one pass: its first positions
    ``starts`` (sorted, title first) give its hits and which of them are in the body. Placing, the hits and
    the highlights (see _cut) are written out here: a web page has about 50 of these at 10,000 rules, most of
    the matching after its analysis."""
    _, label, entity, width, rule, priority = word
    an = ctx.an
    located, simple, pieces, spellings = an._offsets, an.simple, an.pieces, an.spellings
    if len(starts) == 1 or starts[1] >= _BODY_END:  # one hit, as three in four have: no lists
        p = starts[0]
        i = 0 if p < FIELD_SPAN else 1
        field = located[i]
        if field is not None and simple[i] and width == 1:  # place() the short way
            k = p - i * FIELD_SPAN
            start = field.starts[k]
            end = start + spellings[pieces[i][2 * k + 1]][8]
        else:
            _, start, end = an.chars((p, p + width))
        lo, hi, snippet, shift = _snippet_window(ctx, i == 1, start)
        marked = ((start + shift, end + shift),) if start >= lo and end <= hi else ()
        return _match(rule, (_hit(label, _FIELDS[i], start, end, entity),), snippet, marked, priority)
    hits: list[Hit] = []
    chosen: list[tuple[int, int]] = []  # (start, end) of the hits in the body, or while there is none the title
    in_text = False
    for p in starts[:HITS_PER_TERM]:
        if p >= _BODY_END:
            break
        i = 0 if p < FIELD_SPAN else 1
        field = located[i]
        if field is not None and simple[i] and width == 1:  # place() the short way
            k = p - i * FIELD_SPAN
            start = field.starts[k]
            end = start + spellings[pieces[i][2 * k + 1]][8]
        else:
            _, start, end = an.chars((p, p + width))
        if i and not in_text:
            in_text = True
            chosen = []
        chosen.append((start, end))
        # not looked up in the shared hit cache: rules rarely share a word's label, and the keys cost more
        hit = _HitSlots()  # see _hit()
        hit.term = label
        hit.field = _FIELDS[i]
        hit.start = start
        hit.end = end
        hit.entity = entity
        hit.__class__ = Hit  # type: ignore[assignment]
        hits.append(hit)  # type: ignore[arg-type]  # now a Hit
    lo, hi, snippet, shift = _snippet_window(ctx, in_text, chosen[0][0])
    highlights = []
    for start, end in chosen:
        if start >= lo and end <= hi:
            highlights.append((start + shift, end + shift))
    match = _MatchSlots()  # see _match()
    match.rule = rule
    match.hits = tuple(hits)
    match.snippet = snippet
    match.highlights = tuple(highlights)
    match.priority = priority
    match.__class__ = Match  # type: ignore[assignment]
    return match  # type: ignore[return-value]  # now a Match


def _match_snippet(hits: tuple[Hit, ...], ctx: _Ctx) -> tuple[str, tuple[tuple[int, int], ...]]:
    """make_snippet() for a match's hits, which are in text order and one per place: the first hit of the
    field comes first and the highlights are already sorted and distinct."""
    chosen = [(h.field, h.start, h.end) for h in hits if h.field == "text"]
    in_text = bool(chosen)
    if not in_text:
        chosen = [(h.field, h.start, h.end) for h in hits if h.field == "title"]
        if not chosen:
            return make_snippet(ctx.an.doc, hits)
    return _cut(chosen, in_text, ctx)


def _cut(chosen: Sequence[tuple[str, int, int]], in_text: bool, ctx: _Ctx) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The snippet around the first of ``chosen`` (the (field, start, end) of hits in the body, or else in the
    title, in text order and distinct) and their highlights in it."""
    lo, hi, snippet, shift = _snippet_window(ctx, in_text, chosen[0][1])
    highlights = []
    for _, start, end in chosen:  # a plain loop: a comprehension is a function call (Python 3.11)
        if start >= lo and end <= hi:
            highlights.append((start + shift, end + shift))
    return snippet, tuple(highlights)


_Window = tuple[int, int, str, int]  # (lo, hi, snippet, shift) of one snippet window


def _snippet_window(ctx: _Ctx, in_text: bool, first: int) -> _Window:
    """The window around offset ``first`` of the body (else the title), cut once per document."""
    windows = ctx.windows[in_text]
    window = windows.get(first)
    if window is None:
        doc = ctx.an.doc
        source = doc.text if in_text else doc.title
        flat = ctx.flat[in_text]
        if flat is None:
            flat = ctx.flat[in_text] = _flat(source)
        window = windows[first] = _window(source, first, flat)
    return window


def make_snippet(
    doc: Document, hits: Sequence[Hit], windows: dict[tuple[bool, int], _Window] | None = None
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Plain text around the first hit in the body (else the title), and the hits inside it.

    ``windows`` caches the cut text for rules of one document whose first hit is the same."""
    in_text = [h for h in hits if h.field == "text"]
    chosen = in_text or [h for h in hits if h.field == "title"]
    if not chosen:
        return _clip(doc.text, 0, _SNIPPET_BEFORE + _SNIPPET_AFTER), ()
    first = min(h.start for h in chosen)
    window = windows.get((bool(in_text), first)) if windows is not None else None
    if window is None:
        window = _window(doc.text if in_text else doc.title, first)
        if windows is not None:
            windows[(bool(in_text), first)] = window
    lo, hi, snippet, shift = window
    highlights = tuple(sorted({(h.start + shift, h.end + shift) for h in chosen if h.start >= lo and h.end <= hi}))
    return snippet, highlights


def _window(source: str, first: int, flat: str | None = None) -> _Window:
    """The window around offset ``first`` of ``source``, cut at spaces. ``flat``: the whole ``source`` made
    one line by _flat(), when the caller has it (a document has one window per rule that matched it)."""
    size = len(source)
    lo = first - _SNIPPET_BEFORE
    if lo <= 0:
        lo = 0
    else:
        space = source.find(" ", lo, first)
        if space >= 0:
            lo = space + 1
    hi = first + _SNIPPET_AFTER
    if hi >= size:
        hi = size
    else:
        space = source.rfind(" ", first, hi)
        if space > first:
            hi = space
    body = flat[lo:hi] if flat is not None else _flat(source[lo:hi])
    return lo, hi, f"{'…' if lo else ''}{body}{'…' if hi < size else ''}", (1 if lo else 0) - lo


def _flat(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ")


def _clip(text: str, lo: int, hi: int) -> str:
    body = text[lo:hi].replace("\n", " ")
    return body + ("…" if hi < len(text) else "")


def render_explanation(expl: Explanation, mark: tuple[str, str] = ("[", "]")) -> str:
    """Plain-text report for ``test-rule``: verdict, clauses that held and did not, highlighted snippet."""
    lines = [f"{'MATCH' if expl.matched else 'NO MATCH'}  rule {expl.rule}: {expl.query}"]
    for clause in (*expl.clauses, *expl.options):
        lines.append(f"  {'✓' if clause.held else '✗'} {clause.text}")
        for hit in clause.hits[:5]:
            entity = f" (@{hit.entity})" if hit.entity else ""
            lines.append(f"      {hit.term!r}{entity} in {hit.field} at {hit.start}-{hit.end}")
        if len(clause.hits) > 5:
            lines.append(f"      … and {len(clause.hits) - 5} more")
    if expl.match is not None:
        lines.append("  snippet: " + highlight(expl.match.snippet, expl.match.highlights, mark))
    return "\n".join(lines)


def highlight(snippet: str, spans: Sequence[tuple[int, int]], mark: tuple[str, str] = ("[", "]")) -> str:
    """The snippet with each highlighted span wrapped in ``mark`` (overlaps merged)."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [snippet[pos:start], mark[0], snippet[start:end], mark[1]]
        pos = end
    out.append(snippet[pos:])
    return "".join(out)
