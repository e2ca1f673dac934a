"""The watch-rule language: a table of (query, text, expected), properties, and the errors users see."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import EntityConfig, RuleConfig
from monitor.errors import MatchError
from monitor.match import Document, compile_rules, render_explanation
from monitor.types import Hit, Match

ENTITIES = {
    "APEC": EntityConfig(aliases=["Asia-Pacific Economic Cooperation"]),
    "rare earths": EntityConfig(aliases=["rare earth*", "REE", "neodymium", "レアアース", "희토류"]),
    "United States": EntityConfig(aliases=["US", "U.S.", "Washington", "American"]),
    "Japan": EntityConfig(aliases=["Tokyo", "Japanese", "日本"]),
}


def matches(query: str, text: str, title: str = "", **doc: object) -> bool:
    rules = compile_rules([RuleConfig(name="r", query=query)], ENTITIES)
    return bool(rules.match(Document(title=title, text=text, **doc)))  # type: ignore[arg-type]


# (query, text, expected)
TABLE = [
    # words, case, accents
    ("gold", "Gold prices rose", True),
    ("gold", "GOLD PRICES ROSE", True),
    ("gold", "golden hour", False),
    ("cafe", "un café crème", True),
    ("Müller", "Thomas Muller scored", True),
    ("elysee", "l'Élysée a dit", True),
    ("sao paulo", "São Paulo shares", True),
    ("strasse", "die Straße 5", True),
    # hyphens
    ("rare-earth", "rare earth magnets", True),
    ('"rare earth"', "rare-earth magnets", True),
    ("rare-earth", "rare-earth magnets", True),
    ('"rare earth"', "rare and earth", False),
    ("e-mail", "send an email", False),
    # plurals
    ("earth", "rare earths", True),
    ("earths", "the earth", True),
    ('"rare earth"', "exports of rare earths rose", True),
    ("company", "three companies merged", True),
    ("tax", "new taxes on imports", True),
    ("match", "two matches", True),
    ("price", "prices fell", True),
    ("new", "the news today", False),
    ("bus", "two buses", True),
    ("class", "a classes b", True),
    # acronyms via entities (case-sensitive), and dotted acronyms
    ('@"united states"', "the US said", True),
    ('@"united states"', "let us go", False),
    ('@"united states"', "the U.S. economy", True),
    ("@APEC", "APEC leaders met", True),
    ("@APEC", "apec is a word here", False),
    ("@APEC", "the Asia-Pacific Economic Cooperation forum", True),
    ('@"rare earths"', "REEs are scarce", True),
    ('@"rare earths"', "ree is not it", False),
    ('@"rare earths"', "neodymium magnets", True),
    ("@rare-earths", "rare-earth elements", True),
    ("@japan", "a Japanese firm", True),
    # boolean
    ("gold AND silver", "gold and silver", True),
    ("gold AND silver", "gold only", False),
    ("gold silver", "silver then gold", True),
    ("gold OR silver", "silver only", True),
    ("gold OR silver", "copper only", False),
    ("gold NOT silver", "gold and silver", False),
    ("gold -silver", "gold only", True),
    ("gold -silver", "gold and silver", False),
    ("(gold OR silver) AND mine", "a silver mine", True),
    ("(gold OR silver) AND mine", "a silver ring", False),
    ("gold OR silver mine", "gold bar", True),
    ("gold and", "gold and", True),
    ("gold AND NOT (silver OR copper)", "gold and copper", False),
    # wildcards
    ("magnet*", "magnetic fields", True),
    ("magnet*", "magnets", True),
    ("magnet*", "a magnate", False),
    ('"rare earth*"', "rare earthy tones", True),
    ("Élec*", "electricity", True),
    # NEAR at its edges
    ("gold NEAR/3 mine", "gold a b c mine", True),
    ("gold NEAR/3 mine", "gold a b c d mine", False),
    ("gold NEAR/3 mine", "mine a b c gold", True),
    ("gold NEAR/0 mine", "gold mine", True),
    ("gold NEAR/0 mine", "gold x mine", False),
    ('"rare earth" NEAR/2 deal', "rare earth export deal", True),
    ("@APEC NEAR/2 summit", "APEC leaders summit", True),
    ("@APEC NEAR/2 summit", "apec leaders summit", False),
    ("gold NEAR mine", "gold " + "x " * 10 + "mine", True),
    ("gold NEAR mine", "gold " + "x " * 11 + "mine", False),
    ("(gold OR silver) NEAR/1 (mine OR mines)", "silver big mines", True),
    # a rule needing several terms is shortlisted only when its rarest other term is there too
    ("(gold OR silver) AND copper AND zinc", "gold and copper", False),
    ("(gold OR silver) AND copper AND zinc", "zinc, silver and copper", True),
    ("gold NEAR/2 copper", "gold and zinc", False),
    # a phrase is found from the word after each place of its first word
    ('"gold mine"', "gold gold gold mine", True),
    ('"gold mine"', "mine gold", False),
    ('"rare earth"', "earth deal", False),  # "Rare" ends the title: a phrase does not run on into the body
    # fields
    ("title:gold", "gold", False),
    ("title:gold", "", True),  # title is "gold" (see below)
    ("text:gold", "gold", True),
    ('title:"rare earth"', "", True),
    ("feed:reuters", "gold", True),
    ("tag:mining", "x", True),
    ("tag:mining gold", "gold", True),
    ("lang:ja", "x", True),
    ("lang:en", "x", False),
    ("lead:gold", "copper\n\ngold later", False),
    ("lead:gold", "gold first\n\nthen copper", True),
    # CJK by substring
    ("レアアース", "「レアアース輸出規制」", True),
    ("@APEC", "APEC首脳会議が開かれた", True),
    ('@"rare earths"', "中国のレアアース", True),
    ('@"rare earths"', "한국의 희토류 수출", True),
    ("@japan", "日本政府は", True),
    ("輸出", "レアアース輸出規制", True),
    ("輸入", "レアアース輸出規制", False),
    ("レアアース NEAR/2 規制", "レアアース輸出規制", True),
    # phrases in a field where CJK touches Latin letters (positions are not tokens there)
    ('"rare earth"', "中国のrare earth輸出", True),
    ('"rare earth"', "rare 中国 earth", False),
    ('"earth exports" AND 中国', "中国のrare earth exports", True),
]

TITLES = {
    ('"rare earth"', "earth deal"): "Rare",
    ("title:gold", ""): "Gold rush",
    ('title:"rare earth"', ""): "Rare-earth deal",
}
META: dict[str, dict[str, object]] = {
    "feed:reuters": {"feed": "Reuters Business"},
    "tag:mining": {"tags": ("Mining",)},
    "tag:mining gold": {"tags": ("mining",)},
    "lang:ja": {"lang": "ja-JP"},
    "lang:en": {"lang": "ja"},
}


@pytest.mark.parametrize(("query", "text", "expected"), TABLE)
def test_table(query: str, text: str, expected: bool) -> None:
    title = TITLES.get((query, text), "")
    assert matches(query, text, title, **META.get(query, {})) is expected


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 60


# ---------------------------------------------------------------------------------------------------------
# Properties

WORDS = st.sampled_from(["gold", "silver", "mine", "copper", "rare", "earth", "deal", "tokyo", "oil", "zinc"])
TEXTS = st.lists(WORDS, min_size=0, max_size=12).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=3), TEXTS, st.sampled_from(["AND", "OR", "NEAR/2"]))
def test_case_and_whitespace_do_not_change_a_result(words: list[str], text: str, op: str) -> None:
    query = f" {op} ".join(words)
    base = matches(query, text)
    assert matches(query, text.upper()) is base
    assert matches(query, text.title()) is base
    assert matches(query, text.replace(" ", "  \n\t ")) is base
    assert matches("  " + query.replace(" ", "   ") + " ", text) is base
    assert matches(query.upper().replace("NEAR/", "NEAR/"), text) is base


@settings(max_examples=200, deadline=None)
@given(WORDS, WORDS, TEXTS)
def test_not_x_never_matches_text_containing_x(keep: str, drop: str, text: str) -> None:
    text = f"{text} {drop} {keep}"
    assert not matches(f"{keep} NOT {drop}", text)
    assert not matches(f"{keep} -{drop}", text)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, min_size=2, max_size=3), TEXTS)
def test_a_phrase_implies_its_words(words: list[str], text: str) -> None:
    phrase = '"' + " ".join(words) + '"'
    if matches(phrase, text):
        assert matches(" AND ".join(words), text)
        assert matches(f"{words[0]} NEAR/0 {words[1]}", text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["gold", '"a b"', "xy*", "@APEC", "レア", "gold NEAR/3 b"]))
def test_any_text_is_safe(text: str, query: str) -> None:
    matches(query, text, title=text[:20])


# ---------------------------------------------------------------------------------------------------------
# Errors: each names the rule, the column, what was expected, with a caret under the spot


def compile_error(query: str) -> MatchError:
    with pytest.raises(MatchError) as info:
        compile_rules([RuleConfig.model_construct(name="bad-rule", query=query, salient=False)], ENTITIES)
    return info.value


@pytest.mark.parametrize(
    ("query", "column", "words"),
    [
        ("gold AND", 9, "AND is followed by the end"),
        ("(gold OR silver", 16, "never closed"),
        ("gold OR OR silver", 9, "OR is followed by 'OR'"),
        ('"rare earth', 1, "quote is never closed"),
        ("gold)", 5, "without a matching"),
        ("ma*net", 3, "wildcard"),
        ("m*", 1, "too short"),
        ("foo:bar", 1, "unknown field"),
        ("NOT gold", 1, "only excludes"),
        ("gold NEAR/x silver", 11, "not a distance"),
        ("()", 2, "empty parentheses"),
        ("!!!", 1, "no letters"),
    ],
)
def test_syntax_errors(query: str, column: int, words: str) -> None:
    err = compile_error(query)
    assert err.rule == "bad-rule"
    assert err.column == column
    assert words in err.message
    assert err.expected
    text = str(err)
    assert "bad-rule" in text and f"column {column}" in text
    query_line, caret_line = err.caret.split("\n")
    assert query_line == query and caret_line == " " * (column - 1) + "^"


def test_unknown_entity_suggests_the_close_one() -> None:
    err = compile_error("@APCE AND summit")
    assert "unknown entity @APCE" in err.message
    assert err.column == 1 and err.expected == "@APEC (the closest known entity)"


def test_empty_query() -> None:
    err = compile_error("   ")
    assert "empty" in err.message and err.column == 1


@pytest.mark.parametrize(("query", "column"), [("gold NEAR/5", 6), ("NEAR/5 gold", 1), ("gold NEAR/5 OR x", 6)])
def test_near_without_two_operands(query: str, column: int) -> None:
    err = compile_error(query)
    assert "needs an operand on each side" in err.message and err.column == column


def test_near_with_a_positionless_operand() -> None:
    err = compile_error("gold NEAR/3 tag:mining")
    assert err.column == 13 and "NEAR" in err.message


def test_the_first_bad_rule_is_named_not_skipped() -> None:
    good = RuleConfig(name="good", query="gold")
    bad = RuleConfig(name="second", query="gold AND (")
    with pytest.raises(MatchError) as info:
        compile_rules([good, bad], ENTITIES)
    assert info.value.rule == "second"


# ---------------------------------------------------------------------------------------------------------
# Rule options, hits, snippets, explain


def rules_of(**options: object) -> list[RuleConfig]:
    return [RuleConfig(name="r", **options)]


def test_min_mentions_counts_every_hit() -> None:
    rules = compile_rules(rules_of(query="gold OR silver", min_mentions=3), ENTITIES)
    assert not rules.match(Document("Gold", "silver only"))
    assert rules.match(Document("Gold", "silver and gold"))


def test_feeds_tags_languages_filter() -> None:
    rules = compile_rules(rules_of(query="gold", feeds=["Mining Weekly"], tags=["metals"], languages=["en"]), {})
    doc = Document("gold", "gold", feed="mining weekly", tags=("Metals", "x"), lang="en-GB")
    assert rules.match(doc)
    assert not rules.match(Document("gold", "gold", feed="other", tags=("metals",), lang="en"))
    assert not rules.match(Document("gold", "gold", feed="Mining Weekly", tags=("x",), lang="en"))
    assert not rules.match(Document("gold", "gold", feed="Mining Weekly", tags=("metals",), lang="fr"))
    assert not rules.match(Document("gold", "gold", feed="Mining Weekly", tags=("metals",), lang=None))


def test_salient_entities_must_be_in_the_lead() -> None:
    rules = compile_rules(rules_of(query="@APEC AND trade", salient=True), ENTITIES)
    passing = Document("Trade talks", "Ministers met.\n\nLater, APEC was mentioned.")
    leading = Document("APEC trade talks", "Ministers met.\n\nLater, more.")
    first_paragraph = Document("Trade", "APEC ministers met.\nLater, more.")
    assert not rules.match(passing)
    assert rules.match(leading)
    assert rules.match(first_paragraph)
    assert compile_rules(rules_of(query="@APEC AND trade"), ENTITIES).match(passing)


def test_priority_hits_and_highlights() -> None:
    rules = compile_rules(rules_of(query='@"rare earths" AND (Japan OR Tokyo)', priority="high"), ENTITIES)
    text = "Officials in Tokyo said exports of rare-earth magnets and REEs would resume."
    (found,) = rules.match(Document("Japan deal", text))
    assert found.priority == "high"
    by_term = {(h.term, h.field): h for h in found.hits}
    tokyo = by_term[("Tokyo", "text")]
    assert text[tokyo.start : tokyo.end] == "Tokyo"
    ree = by_term[("REE", "text")]
    assert text[ree.start : ree.end] == "REEs" and ree.entity == "rare earths"
    assert ("Japan", "title") in by_term
    highlighted = [found.snippet[s:e] for s, e in found.highlights]
    assert highlighted == ["Tokyo", "rare-earth", "REEs"]


def test_snippet_is_clipped_around_the_first_hit() -> None:
    text = "filler " * 100 + "the gold price " + "more " * 100
    (found,) = compile_rules(rules_of(query="gold"), {}).match(Document("", text))
    assert len(found.snippet) < 320 and found.snippet.startswith("…") and found.snippet.endswith("…")
    (span,) = found.highlights
    assert found.snippet[span[0] : span[1]] == "gold"


def test_explain_lists_clauses_that_held_and_did_not() -> None:
    rules = compile_rules(rules_of(query="gold AND (mine OR mines) NOT silver", min_mentions=2), ENTITIES)
    doc = Document("Gold news", "A new gold mine opened; silver too.")
    expl = rules.explain("r", doc)
    assert not expl.matched
    assert [(c.text, c.held) for c in expl.clauses] == [
        ("gold", True),
        ("(mine OR mines)", True),
        ("NOT silver", False),
    ]
    out = render_explanation(expl)
    assert out.startswith("NO MATCH") and "✗ NOT silver" in out and "✓ gold" in out
    ok = rules.explain("r", Document("Gold news", "A new gold mine opened."))
    assert ok.matched and ok.match is not None
    assert "MATCH" in render_explanation(ok) and "[gold]" in render_explanation(ok)


def test_explain_unknown_rule() -> None:
    with pytest.raises(MatchError):
        compile_rules(rules_of(query="gold"), {}).explain("nope", Document("", ""))


def test_many_rules_only_matching_ones_returned_in_order() -> None:
    configs = [RuleConfig(name=f"r{i}", query=f"word{i} OR common") for i in range(50)]
    configs.append(RuleConfig(name="neg", query="lang:en -word3"))
    rules = compile_rules(configs, {})
    assert rules.rule_names[:2] == ["r0", "r1"]
    assert [m.rule for m in rules.match(Document("", "word7 word3"))] == ["r3", "r7"]
    assert [m.rule for m in rules.match(Document("", "word7", lang="en"))] == ["r7", "neg"]
    assert len(rules.match(Document("", "common"))) == 50


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        ("@APEC", "第3回APEC首脳会議", ["APEC"]),
        ("首脳", "第3回APEC首脳会議", ["首脳"]),
        ('@"rare earths"', "中国のレアアース輸出", ["レアアース"]),
        ('@"united states"', "Talks in the U.S. and Japan's US office", ["U.S.", "US"]),
        ("@japan", "Japan's exports and Japanese firms", ["Japan", "Japanese"]),
        ('"rare earth"', "rare-earths,\nrare\tearth", ["rare-earths", "rare\tearth"]),
        ("élysée", "l'Élysée said", ["Élysée"]),
    ],
)
def test_hit_offsets_point_at_the_words(query: str, text: str, found: list[str]) -> None:
    (match,) = compile_rules([RuleConfig(name="r", query=query)], ENTITIES).match(Document("", text))
    assert [text[h.start : h.end] for h in match.hits] == found


PIECES = st.sampled_from(
    ["gold", "Gold's", "U.S.", "US", "rare-earth", "レアアース", "APEC首脳会議", "É", "mine", "\n\n", "_", "'", "日本"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECES, max_size=30).map(" ".join), st.lists(PIECES, max_size=6).map(" ".join))
def test_hits_point_inside_their_field(text: str, title: str) -> None:
    queries = ["gold", "mine*", '@"united states"', "@APEC", "lead:@japan", "レアアース NEAR/3 gold", '"rare earth"']
    rules = compile_rules([RuleConfig(name=f"r{i}", query=q) for i, q in enumerate(queries)], ENTITIES)
    for found in rules.match(Document(title=title, text=text)):
        for hit in found.hits:
            source = text if hit.field == "text" else title
            assert 0 <= hit.start < hit.end <= len(source)
            assert source[hit.start : hit.end].strip()
        for start, end in found.highlights:
            assert 0 <= start < end <= len(found.snippet)


def test_matches_are_the_frozen_dataclasses_they_would_be_if_built_by_their_constructors() -> None:
    """The engine fills slotted twins of Hit and Match and assigns their __class__, for speed: the objects
    must not differ in any way, whether a match has several hits or one."""
    rules = compile_rules([RuleConfig(name="r", query="gold", priority="high")], ENTITIES)
    (found,) = rules.match(Document(title="Gold", text="Gold and more gold."))
    (single,) = rules.match(Document(title="", text="Some gold."))
    assert single == Match("r", (Hit("gold", "text", 5, 9),), "Some gold.", ((5, 9),), "high")
    assert pickle.loads(pickle.dumps(found)) == found
    rebuilt = Match(
        found.rule,
        tuple(Hit(h.term, h.field, h.start, h.end, h.entity) for h in found.hits),
        found.snippet,
        found.highlights,
        found.priority,
    )
    assert type(found) is Match and all(type(h) is Hit for h in found.hits)
    assert found == rebuilt and hash(found) == hash(rebuilt) and repr(found) == repr(rebuilt)
    assert found.priority == "high" and [h.field for h in found.hits] == ["title", "text", "text"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.hits[0].start = 1  # type: ignore[misc]


def test_tokens_are_the_same_with_the_bmp_table_as_with_w() -> None:
    """split_gaps() looks word characters up in a table built from str.isalnum for text below U+10000 and uses
    \\w otherwise: both must cut every character the same way (accents, CJK, Arabic digits, symbols, emoji and
    letters above U+FFFF, which send the text to \\w)."""
    from monitor.match.text import _GAPS, split_gaps

    codes = [*range(0, 0xD800, 3), *range(0xE000, 0x10000, 3), 0x1D400, 0x10400, 0x1F600, 0x20000, 0xE0041]
    for code in codes:
        char = chr(code)
        text = f"a{char}b {char} {char}{char}x U.{char}. it’{char} A.B{char}'s"
        assert split_gaps(text) == _GAPS.split(text), hex(code)
