"""canonical_url and the near-duplicate fingerprint (pure functions)."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.dedupe import (
    MAX_PARAGRAPHS,
    DedupePolicy,
    canonical_url,
    containment,
    fingerprint,
    paragraph_key,
    paragraphs,
    same_story,
    signature_from_bytes,
    text_print,
    tokens,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("HTTP://Example.COM/News/1", "http://example.com/News/1"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=x&gclid=y&mc_cid=1&mc_eid=2&p=5", "https://example.com/a?p=5"),
        ("https://example.com/a?igshid=1&_ga=2&yclid=3&msclkid=4&ref_src=twsrc", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%7euser/%e2%82%ac", "https://example.com/~user/%E2%82%AC"),
        ("https://example.com/€", "https://example.com/%E2%82%AC"),
        ("https://bücher.de/a", "https://xn--bcher-kva.de/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://example.com/a?UTM_Campaign=x", "https://example.com/a"),
    ],
)
def test_same_page_same_url(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b) == b


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/a", "https://example.com/a/"),  # could be two pages: left alone
        ("https://example.com/", "https://example.com/index.html"),
        ("https://example.com/a?id=1", "https://example.com/a?id=2"),
        ("https://example.com/a?p=1", "https://example.com/a"),
        ("https://example.com/a?ref=main", "https://example.com/a"),  # ref names a branch on some sites
        ("https://example.com/A", "https://example.com/a"),  # paths are case-sensitive
        ("http://example.com/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com/a"),
        ("https://example.com/a?a=1&a=2", "https://example.com/a?a=2&a=1"),
        ("https://example.com/a%2Fb", "https://example.com/a/b"),  # an escaped slash is not a slash
        ("https://example.com/#!/story/1", "https://example.com/#!/story/2"),
    ],
)
def test_different_pages_stay_apart(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


@pytest.mark.parametrize("junk", ["", "not a url", "mailto:x@example.com", "http://[::1", "http://h:99999/", "/a"])
def test_junk_comes_back_stripped(junk: str) -> None:
    assert canonical_url(f" {junk} ") == junk


_urls = st.builds(
    lambda scheme, host, port, path, query, frag: f"{scheme}://{host}{port}/{path}?{query}#{frag}",
    st.sampled_from(["http", "https", "HTTPS", "ftp"]),
    st.sampled_from(["example.com", "EXAMPLE.org.", "bücher.de", "[::1]", "127.0.0.1", "xn--bcher-kva.de"]),
    st.sampled_from(["", ":80", ":443", ":8080", ":0"]),
    st.text(max_size=30),
    st.text(max_size=30),
    st.text(max_size=10),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_urls, st.text(max_size=60)))
def test_canonical_url_is_idempotent_and_total(url: str) -> None:
    once = canonical_url(url)
    assert isinstance(once, str)
    assert canonical_url(once) == once


WIRE = (
    "Japan and the United States signed an agreement on Tuesday to secure supplies of rare earths and "
    "other critical minerals, as both countries seek to reduce their reliance on Chinese processing.\n"
    "The pact commits both governments to coordinate stockpiles, fund new mines and refineries, and "
    "share geological survey data, officials in Tokyo and Washington told reporters.\n"
    "Neodymium, dysprosium and terbium prices jumped after the announcement, traders in Singapore said."
)


def test_a_copy_with_new_furniture_is_the_same_story() -> None:
    story = fingerprint("Japan, US sign rare-earth pact", WIRE)
    copy_text = "Subscribe to our newsletter for daily alerts.\n" + WIRE.replace("Tuesday", "Tue.")
    copy = fingerprint("Tokyo and Washington agree on critical minerals", copy_text)
    assert containment(copy, story.minhash, story.words) >= 0.85
    assert same_story(copy, story.minhash, story.words, "Japan, US sign rare-earth pact", DedupePolicy())


def test_a_different_story_on_the_same_topic_is_not() -> None:
    story = fingerprint("Japan, US sign rare-earth pact", WIRE)
    other = fingerprint(
        "Australia opens rare earth refinery",
        "Australia opened its first heavy rare earths refinery in Western Australia on Friday, a step the "
        "government said would cut dependence on imports.\nThe plant will process concentrate from three "
        "mines and employ four hundred people when fully running next year, the operator said.",
    )
    assert same_story(other, story.minhash, story.words, "Japan, US sign rare-earth pact", DedupePolicy()) is None


def test_short_texts_need_agreeing_titles() -> None:
    a = fingerprint("Storm closes port of Rotterdam", "Storm closes port.")
    b = fingerprint("Quarterly results beat forecasts", "Storm closes port.")
    assert a.words < DedupePolicy().min_words
    assert same_story(b, a.minhash, a.words, "Storm closes port of Rotterdam", DedupePolicy()) is None
    same = fingerprint("Storm closes the port of Rotterdam", "Storm closes port.")
    assert same_story(same, a.minhash, a.words, "Storm closes port of Rotterdam", DedupePolicy())


def test_furniture_paragraphs_are_left_out() -> None:
    furniture = "Sign up for our newsletter and follow us for breaking news alerts every single day."
    with_it = fingerprint("t", WIRE + "\n" + furniture, furniture={furniture})
    assert with_it.minhash == fingerprint("t", WIRE).minhash
    only = fingerprint("t", furniture, furniture={furniture})  # nothing else left: kept
    assert only.words > 0


def test_fingerprint_is_stable_and_serialises() -> None:
    fp = fingerprint("Title", WIRE)
    assert fp == fingerprint("Title", WIRE)
    assert signature_from_bytes(fp.signature_bytes()) == fp.minhash
    assert len(fp.bands()) == 16 and len(set(fp.bands())) == 16
    assert fingerprint("", "").bands() == []
    assert paragraph_key("https://a.example/feed", "Hello, World") == paragraph_key(
        "https://a.example/feed", "hello world"
    )
    assert paragraph_key("https://a.example/feed", "x") != paragraph_key("https://b.example/feed", "x")


def test_cjk_text_has_tokens() -> None:
    fp = fingerprint("レアアース", "日本と米国はレアアースの協定に署名した。")
    assert fp.words > 5


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.text(max_size=20))
@settings(max_examples=300)
def test_text_print_is_the_fingerprint_and_the_paragraph_keys(text: str, title: str) -> None:
    prints = text_print("https://a.example/feed", text)
    assert prints.fingerprint(title) == fingerprint(title, text)
    assert list(prints.bands) == fingerprint(title, text).bands()
    assert prints.keys == tuple(paragraph_key("https://a.example/feed", p) for p in paragraphs(text)[:MAX_PARAGRAPHS])


@given(st.lists(st.text(min_size=1, max_size=12), max_size=60))
def test_minhash_is_the_column_minimum_of_each_words_shake_digest(words: list[str]) -> None:
    # stored signatures must keep their values: the reference is one big-endian unpack per distinct word
    text = "\n".join(words)
    distinct = set(tokens(text))
    rows = [struct.unpack(">64I", hashlib.shake_128(w.encode("utf-8")).digest(256)) for w in distinct]
    expected = tuple(map(min, zip(*rows, strict=True))) if rows else (0xFFFFFFFF,) * 64
    assert fingerprint("", text).minhash == expected
