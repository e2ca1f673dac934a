"""extract.extract_article on the seed page, on corpus pages against bare trafilatura, and on hostile bytes."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from bench.bench_extract import _cascade, bare, load_news, load_zyte, ours, prf
from monitor.errors import ExtractError
from monitor.extract import _extract, decode_html, extract_article
from tests.conftest import corpus_path

URL = "https://news.example.org/2025/10/28/story.html"
PARAGRAPH = (
    "Tokyo and Washington agreed on Tuesday to cooperate on rare earths and critical minerals, "
    "officials said, in a pact meant to reduce reliance on Chinese supply chains."
)


def _page(body: str, *, head: str = '<meta charset="utf-8">', lang: str = "") -> str:
    return (
        f"<!DOCTYPE html><html{lang}><head>{head}<title>Headline here | Site</title></head><body>"
        f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article><h1>Headline here</h1>{body}"
        "</article><footer>All rights reserved. Privacy policy.</footer></body></html>"
    )


def test_seed_page_headline_and_paragraphs_without_boilerplate() -> None:
    seed = corpus_path("seed")
    story = [line.strip() for line in (seed / "story.txt").read_text(encoding="utf-8").splitlines()]
    article = extract_article((seed / "page.html").read_bytes(), URL)
    assert article.title == "Japan and U.S. to Sign Landmark Deal on Rare Earth Cooperation Amid China Tensions"
    paragraphs = [line for line in story if len(line) > 60]
    assert len(paragraphs) >= 8
    for paragraph in paragraphs:
        assert paragraph in article.text
    for boilerplate in ("Kindly share this story", "whatsapp", "Related Articles", "Markets close higher",
                        "Football: late winner", "All rights reserved", "Privacy"):  # fmt: skip
        assert boilerplate not in article.text
    assert article.published == datetime(2025, 10, 28, 6, 30, tzinfo=UTC)
    assert article.language == "en"


def test_ours_not_worse_than_bare_trafilatura_on_30_zyte_pages() -> None:
    corpus_path("article_extraction_benchmark")
    pages = load_zyte(limit=30)
    mine = statistics.mean(prf(p.expected, ours(p.html, p.url), 1)[2] for p in pages)
    theirs = statistics.mean(prf(p.expected, bare(p.html, p.url), 1)[2] for p in pages)
    assert mine >= theirs, (mine, theirs)
    assert mine > 0.9


def test_declared_latin1_charset() -> None:
    html = _page(f"<p>{PARAGRAPH} Café Müller in Zürich.</p>", head='<meta charset="iso-8859-1">')
    article = extract_article(html.encode("latin-1"), URL)
    assert "Café Müller in Zürich" in article.text


def test_http_equiv_shift_jis_and_script_language() -> None:
    text = "東京とワシントンはレアアースの協力で合意した。" * 5
    html = _page(f"<p>{text}</p>", head='<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">')
    article = extract_article(html.encode("shift_jis"), URL)
    assert "レアアース" in article.text
    assert article.language == "ja"


def test_undeclared_utf8_and_cp1252() -> None:
    html = _page(f"<p>{PARAGRAPH} “Quoted” — naïve.</p>", head="")
    assert "“Quoted” — naïve" in decode_html(html.encode("utf-8"))
    # Undeclared legacy bytes: a detector guesses; short samples may come out wrong but never raise.
    text = extract_article(html.encode("cp1252"), URL).text
    assert PARAGRAPH in text
    assert "Quoted" in text


def test_utf16_bom() -> None:
    html = _page(f"<p>{PARAGRAPH} Ärger.</p>", head="")
    assert "Ärger" in extract_article(b"\xff\xfe" + html.encode("utf-16-le"), URL).text


def test_declared_language_wins() -> None:
    html = _page(f"<p>{PARAGRAPH}</p>", lang=' lang="de-AT"')
    assert extract_article(html.encode(), URL).language == "de"


def test_decomposed_accents_are_composed() -> None:
    html = _page(f"<p>{PARAGRAPH} Cafe\u0301 in Zu\u0308rich.</p>")
    assert "Café in Zürich" in extract_article(html.encode(), URL).text


@pytest.mark.parametrize(
    "html",
    [
        b"",
        b"\x00\x01\x02",
        b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
        b'{"json": true}',
    ],
)
def test_no_usable_text(html: bytes) -> None:
    with pytest.raises(ExtractError):
        extract_article(html, URL)


def test_never_fetches_anything(httpserver: HTTPServer) -> None:
    base = httpserver.url_for("/")
    html = _page(
        f"<p>{PARAGRAPH}</p><img src='{base}img.png'><iframe src='{base}frame'></iframe>",
        head=f"<meta charset='utf-8'><link rel='canonical' href='{base}canonical'><base href='{base}'>",
    )
    article = extract_article(html.encode(), httpserver.url_for("/article"))
    assert PARAGRAPH in article.text
    assert httpserver.log == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([b"", b"<html><body><p>", b'<meta charset="bogus">', b"\xff\xfe"]), st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_extract_error(prefix: bytes, data: bytes) -> None:
    try:
        article = extract_article(prefix + data, URL)
    except ExtractError:
        return
    assert article.text


def test_without_metadata_the_same_text_and_no_title_or_date() -> None:
    page = corpus_path("seed", "page.html").read_bytes()
    full = extract_article(page, URL)
    lean = extract_article(page, URL, False)
    assert lean.text == full.text and full.title
    assert lean.title == "" and lean.published is None


SENTENCES = [f"Sentence {i} of the story says the council voted on the harbour plan after a debate." for i in range(30)]
# Layouts trafilatura's fast mode cuts short (no readability/justext comparison): a one-paragraph <article>
# with the story in plain divs after it, and text in <font> with <br> breaks (no block elements at all).
NEEDS_FULL_CASCADE = {
    "short article, story in divs": f"<article><p>{SENTENCES[0]}</p></article><div class='body'>"
    + "".join(f"<div class='x'>{s}</div>" for s in SENTENCES[1:])
    + "</div>",
    "font and br": "<center><font>" + "<br><br>".join(SENTENCES) + "</font></center>",
}


@pytest.mark.parametrize("body", NEEDS_FULL_CASCADE.values(), ids=NEEDS_FULL_CASCADE.keys())
@pytest.mark.parametrize("metadata", [True, False])
def test_layout_fast_mode_cuts_short_gets_the_full_cascade(body: str, metadata: bool) -> None:
    from trafilatura import bare_extraction
    from trafilatura.utils import load_html

    html = f"<html><head><title>T</title></head><body><nav><a href='/'>Home</a></nav>{body}</body></html>"
    fast = bare_extraction(load_html(html), fast=True, include_comments=False, favor_precision=True)
    assert fast is None or SENTENCES[-1] not in fast.text  # the layout does need the fallback
    article = extract_article(html.encode(), URL, metadata)
    for sentence in SENTENCES[1:]:  # the full cascade (readability) may drop the lone <article> paragraph
        assert sentence in article.text
    assert article.title == ("T" if metadata else "")


def test_fast_run_kept_on_an_ordinary_article() -> None:
    from trafilatura.utils import load_html

    tree = load_html(decode_html(corpus_path("seed", "page.html").read_bytes()))
    doc, full_ran = _extract(tree, URL, True)
    assert not full_ran
    assert "Japan" in doc.title and len(doc.text) > 2000


# Corpus pages where fast mode alone loses text (bench_extract --variants): the result must be the full cascade's.
_CUT_SHORT = {
    "html/axios.com.future.html.gz",
    "html/badische-zeitung.de-Wohnungssuche.html.gz",
    "html/economictimes.indiatimes.com.slideshow.html.gz",
    "html/spiegel.de.albtraum.html.gz",
    "html/zdf.de.corona.html.gz",
}


def test_corpus_pages_fast_mode_cuts_short_get_the_full_cascades_text() -> None:
    corpus_path("article_extraction_trafilatura_news")
    corpus_path("article_extraction_benchmark")
    pages = [p for p in load_news() if p.key in _CUT_SHORT]
    pages += [p for p in load_zyte() if p.key.startswith("e372e42c")]
    assert len(pages) == len(_CUT_SHORT) + 1
    full, fast = _cascade(fast=False), _cascade(fast=True)
    for page in pages:
        expected = full(page.html, page.url)
        assert len(fast(page.html, page.url)) < len(expected) / 1.5, page.key
        assert extract_article(page.html, page.url, False).text == expected, page.key
