"""parse.parse_feed over the corpora and over hand-made hostile feeds."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import parse as parse_module
from monitor.dedupe import text_print
from monitor.errors import ParseError
from monitor.parse import (
    NOT_A_FEED,
    OpmlFeed,
    _slim_archive,
    discover_feeds,
    export_opml,
    html_to_text,
    parse_feed,
    parse_opml,
)
from monitor.types import ParsedFeed
from tests.conftest import corpus_path

URL = "https://feeds.example.org/news.xml"


def _rss(items: str, *, decl: str = '<?xml version="1.0" encoding="utf-8"?>', extra: str = "") -> bytes:
    return (
        f'{decl}<rss version="2.0"><channel><title>Example</title><link>https://example.org/</link>'
        f"<language>en-GB</language>{extra}{items}</channel></rss>"
    ).encode()


def _item(n: int, *, guid: bool = True, link: bool = True) -> str:
    return (
        f"<item><title>Story {n}</title>"
        + (f"<guid isPermaLink='false'>id-{n}</guid>" if guid else "")
        + (f"<link>https://example.org/story/{n}?utm_source=rss</link>" if link else "")
        + f"<description>Body of story {n}.</description>"
        "<pubDate>Tue, 28 Oct 2025 09:30:00 +0900</pubDate></item>"
    )


def _classify(path: Path, content_type: str | None) -> str:
    try:
        feed = parse_feed(path.read_bytes(), f"http://127.0.0.1/{path.name}", content_type)
    except ParseError:
        return "error"
    for entry in feed.entries:
        assert entry.key
        assert entry.published is None or entry.published.tzinfo is not None
    return "bozo" if feed.bozo else "parsed"


def _report(name: str, counts: Counter[str]) -> None:
    # The lead's figures: parsed, bozo-but-usable, errors (shown with pytest -s, or in the -ra summary).
    print(f"\n{name}: parsed={counts['parsed']} bozo_usable={counts['bozo']} errors={counts['error']}")


def test_news_feeds_corpus() -> None:
    root = corpus_path("news_feeds")
    manifest = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line]
    counts: Counter[str] = Counter(_classify(root / m["file"], None) for m in manifest)
    _report("news_feeds", counts)
    assert sum(counts.values()) == len(manifest) == 50
    # Every real publisher feed yields entries, the deliberately broken Reuters one included (bozo).
    assert counts["error"] == 0
    total = sum(len(parse_feed((root / m["file"]).read_bytes(), URL).entries) for m in manifest)
    assert total >= 700


def test_feedparser_corpus() -> None:
    root = corpus_path("feedparser_tests")
    index = [json.loads(line) for line in (root / "index.jsonl").read_text().splitlines() if line]
    counts: Counter[str] = Counter()
    for item in index:
        headers = {k.lower(): v for k, v in (item["http_headers"] or {}).items()}
        counts[_classify(root / item["path"], headers.get("content-type"))] += 1
    _report("feedparser_tests", counts)
    assert sum(counts.values()) == len(index)
    assert counts["parsed"] > 500
    assert counts["error"] <= 10


def test_feed_fields() -> None:
    feed = parse_feed(_rss(_item(1) + _item(2), extra="<ttl>30</ttl>"), URL)
    assert (feed.title, feed.link, feed.language, feed.ttl_minutes, feed.bozo) == (
        "Example",
        "https://example.org/",
        "en",
        30,
        None,
    )
    first = feed.entries[0]
    assert first.key == "id-1"
    assert first.title == "Story 1"
    assert first.summary == "Body of story 1."
    assert first.published == datetime(2025, 10, 28, 0, 30, tzinfo=UTC)
    assert first.language == "en"


def test_keys_fall_back_to_canonical_link_then_hash() -> None:
    feed = parse_feed(_rss(_item(1, guid=False) + _item(2, guid=False, link=False)), URL)
    assert feed.entries[0].key == "https://example.org/story/1"  # tracking parameter dropped
    assert feed.entries[0].link == "https://example.org/story/1?utm_source=rss"  # the link itself is kept
    assert feed.entries[1].key.startswith("sha256:")
    again = parse_feed(_rss(_item(1, guid=False) + _item(2, guid=False, link=False)), URL)
    assert [e.key for e in again.entries] == [e.key for e in feed.entries]


def test_duplicate_guids_keep_first() -> None:
    feed = parse_feed(_rss(_item(1) + _item(1) + _item(2)), URL)
    assert [e.key for e in feed.entries] == ["id-1", "id-2"]


def test_truncated_xml_keeps_complete_items() -> None:
    body = _rss(_item(1) + _item(2))
    cut = body[: body.index(b"<item><title>Story 2") + len(b"<item><title>Story 2</title>")]
    feed = parse_feed(cut, URL)
    assert feed.bozo is not None
    assert [e.key for e in feed.entries] == ["id-1"]


def test_latin1_declared_utf8() -> None:
    body = _rss("<item><guid>a</guid><title>Caf\xe9 M\xfcller</title></item>").replace(
        "Café Müller".encode(), "Café Müller".encode("latin-1")
    )
    feed = parse_feed(body, URL)
    assert feed.entries[0].title in ("Café Müller", "Caf\ufffd M\ufffdller")  # decoded or replaced
    assert feed.bozo is not None


def test_utf16_with_bom() -> None:
    text = _rss("<item><guid>a</guid><title>東京 rare earths</title></item>", decl='<?xml version="1.0"?>')
    feed = parse_feed(b"\xff\xfe" + text.decode().encode("utf-16-le"), URL)
    assert feed.entries[0].title == "東京 rare earths"


def test_http_charset_header_is_used() -> None:
    body = _rss("<item><guid>a</guid><title>Ærø</title></item>", decl="").replace(
        "Ærø".encode(), "Ærø".encode("latin-1")
    )
    feed = parse_feed(body, URL, "application/rss+xml; charset=iso-8859-1")
    assert feed.entries[0].title == "Ærø"


def test_script_and_handlers_become_plain_text() -> None:
    desc = (
        "<![CDATA[<p>Hello <b>world</b><img src=x onerror=alert(1)></p>"
        "<script>alert('x')</script><a href='javascript:evil()'>link</a>]]>"
    )
    feed = parse_feed(_rss(f"<item><guid>a</guid><title>T</title><description>{desc}</description></item>"), URL)
    summary = feed.entries[0].summary
    assert summary == "Hello world link"
    assert "<" not in summary and "alert" not in summary


def test_javascript_link_is_dropped() -> None:
    feed = parse_feed(_rss("<item><guid>a</guid><title>T</title><link>javascript:alert(1)</link></item>"), URL)
    assert feed.entries[0].link is None


def test_atom_and_relative_links() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de-DE"><title type="html">A &lt;b&gt;News</title>
<entry><id>urn:x:1</id><title>Eins</title><link href="/a/1"/><updated>2025-10-28T00:30:00Z</updated>
<content type="html">&lt;p&gt;Text&lt;/p&gt;</content></entry></feed>"""
    feed = parse_feed(body, URL, "application/atom+xml")
    entry = feed.entries[0]
    assert feed.title == "A News"
    assert entry.link == "https://feeds.example.org/a/1"
    assert entry.summary == "Text"
    assert entry.language == "de"
    assert entry.published == datetime(2025, 10, 28, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>hi</p></body></html>",
        b"\n<html lang='en'><body><item><title>x</title></item></body></html>",
        b"<?xml version='1.0'?><urlset><url><loc>https://e.org/</loc></url></urlset>",
        b"just some text",
        b'{"hello": "world"}',
    ],
)
def test_not_a_feed(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(body, URL, "text/html")
    assert info.value.message == NOT_A_FEED
    assert URL in str(info.value)


def test_feed_served_as_text_html_still_parses() -> None:
    feed = parse_feed(_rss(_item(1)), URL, "text/html; charset=utf-8")
    assert [e.key for e in feed.entries] == ["id-1"]


def test_json_feed() -> None:
    root = corpus_path("feedparser_tests")
    feed = parse_feed((root / "json" / "example.json").read_bytes(), URL, "application/feed+json")
    assert feed.title == "My Example Feed"
    assert [e.key for e in feed.entries] == ["2", "1"]
    assert feed.entries[1].summary == "Hello, world!"  # the <script> is gone
    assert feed.entries[0].link == "https://example.org/second-item"
    assert feed.entries[0].canonical == "https://example.org/second-item"


def test_json_feed_dates_and_language() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "language": "ja-JP",
        "items": [{"id": "x", "content_text": "本文", "date_published": "2025-10-28T09:30:00+09:00"}, 5],
    }
    feed = parse_feed(json.dumps(doc).encode(), URL)
    assert feed.entries[0].published == datetime(2025, 10, 28, 0, 30, tzinfo=UTC)
    assert feed.entries[0].language == "ja"
    assert len(feed.entries) == 1


def test_empty_body() -> None:
    with pytest.raises(ParseError):
        parse_feed(b"  \n", URL)


def test_xxe_is_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t</title><item><guid>a</guid><title>&x;</title></item>'
        "</channel></rss>"
    ).encode()
    try:
        feed = parse_feed(body, URL)
    except ParseError:
        return
    assert all("TOPSECRET" not in e.title + e.summary for e in feed.entries)


def test_html_to_text() -> None:
    assert html_to_text("a &amp; b<br>c<style>p{}</style>") == "a & b c"
    assert html_to_text("") == ""


_PREFIXES = [
    b"",
    b"<?xml version='1.0'?>",
    b"<rss version='2.0'><channel><item>",
    b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>",
    b"\xff\xfe",
    b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
    b"<html>",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_PREFIXES),
    st.binary(max_size=300),
    st.one_of(st.none(), st.sampled_from(["text/html", "application/json", "text/xml; charset=bogus"])),
)
def test_arbitrary_bytes_raise_only_parse_error(prefix: bytes, data: bytes, content_type: str | None) -> None:
    try:
        feed = parse_feed(prefix + data, URL, content_type)
    except ParseError:
        return
    assert all(e.key for e in feed.entries)


# ---------------------------------------------------------------------------------------------------------
# OPML and discovery

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Japan">
      <outline type="rss" text="Example Business" title="Example Business &amp; Markets"
               xmlUrl="https://www.example-news.jp/rss/business.xml" htmlUrl="https://www.example-news.jp/"/>
      <outline text="Minerals">
        <outline type="rss" text="Mining" xmlURL="https://mining.example.com/feed/" category="/metals,energy"/>
      </outline>
    </outline>
    <outline type="rss" text="No folder" xmlUrl="http://plain.example.org/rss"/>
    <outline type="rss" text="Again" xmlUrl="http://plain.example.org/rss"/>
    <outline type="rss" text="Local file" xmlUrl="file:///etc/passwd"/>
    <outline type="rss" text="Podcast" xmlUrl="feed://example.org/x"/>
    <outline text="Empty folder"/>
  </body>
</opml>"""


def test_parse_opml_folders_categories_and_bad_urls() -> None:
    feeds = parse_opml(OPML)
    assert feeds == [
        OpmlFeed("https://www.example-news.jp/rss/business.xml", "Example Business & Markets", ("Japan",)),
        OpmlFeed("https://mining.example.com/feed/", "Mining", ("Japan", "Minerals", "metals", "energy")),
        OpmlFeed("http://plain.example.org/rss", "No folder", ()),
    ]


def test_export_then_parse_round_trips() -> None:
    feeds = [
        OpmlFeed("https://a.example.org/feed?x=1&y=2", 'A "quoted" <name> & co', ("news", "japan")),
        OpmlFeed("https://b.example.org/rss", None, ("news",)),
        OpmlFeed("https://c.example.org/atom", "C", ()),
    ]
    text = export_opml(feeds)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    back = parse_opml(text.encode())
    assert [(f.url, f.tags) for f in back] == [(f.url, f.tags) for f in feeds]
    assert back[0].name == feeds[0].name
    assert back[1].name == "https://b.example.org/rss"  # a feed without a name is labelled by its URL


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>hi</body></html>", b"<opml><body><outline", _rss(_item(1)), b"\xff\xfe\x00"],
)
def test_parse_opml_rejects_other_documents(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_opml(body)


@pytest.mark.parametrize("attack", ["xxe", "laughs"])
def test_parse_opml_does_not_expand_entities(tmp_path: Path, attack: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    if attack == "xxe":
        dtd, ref = f'<!ENTITY x SYSTEM "file://{secret}">', "&x;"
    else:
        dtd = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        ref = "&l9;"
    body = (
        f'<?xml version="1.0"?><!DOCTYPE opml [{dtd}]><opml version="2.0"><body>'
        f'<outline text="a {ref}" xmlUrl="https://e.org/a"/><outline text="x">{ref}</outline></body></opml>'
    ).encode()
    try:
        feeds = parse_opml(body)
    except ParseError:
        return
    assert all("TOPSECRET" not in (f.name or "") and len(f.name or "") < 100 for f in feeds)


def test_discover_feeds() -> None:
    page = b"""<!DOCTYPE html><html><head><meta charset="utf-8">
    <link rel="alternate" type="application/rss+xml" title="RSS" href="/rss.xml">
    <link rel="Alternate" type="application/atom+xml; charset=utf-8" href="https://other.example.org/atom">
    <link rel="alternate feed" type="application/feed+json" href="feed.json">
    <link rel="alternate" type="application/rss+xml" href="/rss.xml">
    <link rel="alternate" type="text/html" hreflang="de" href="/de/">
    <link rel="stylesheet" type="text/css" href="/s.css">
    <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head><body><a rel="alternate" type="application/rss+xml" href="/not-a-link-tag.xml">x</a></body></html>"""
    assert discover_feeds(page, "https://www.example.org/news/today") == [
        "https://www.example.org/rss.xml",
        "https://other.example.org/atom",
        "https://www.example.org/news/feed.json",
    ]


def test_discover_feeds_respects_base_and_handles_garbage() -> None:
    page = (
        b'<html><head><base href="https://cdn.example.org/site/">'
        b"<link rel=alternate type=application/rss+xml href=f.xml></head></html>"
    )
    assert discover_feeds(page, "https://www.example.org/") == ["https://cdn.example.org/site/f.xml"]
    assert discover_feeds(b"", "https://e.org/") == []
    assert discover_feeds(b"\x00\xff garbage", "https://e.org/") == []
    assert discover_feeds(b"<html><body><p>no feeds</p></body></html>", "https://e.org/") == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_opml_and_discovery_never_raise_unexpected(data: bytes) -> None:
    assert isinstance(discover_feeds(b"<html><head><link rel=alternate " + data, "https://e.org/"), list)
    with contextlib.suppress(ParseError):
        parse_opml(b"<opml><body><outline " + data)


def test_archive_entries_come_with_their_keys_and_dates_only() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>
<item><title>Old</title><link>http://127.0.0.1/old?utm_source=x</link><pubDate>Mon, 02 Nov 2026 06:00:00 GMT</pubDate>
<description>&lt;p&gt;old text&lt;/p&gt;</description></item>
<item><title>Old, no id</title><pubDate>Mon, 02 Nov 2026 06:00:00 GMT</pubDate>
<description>kept whole</description></item>
<item><guid>n1</guid><title>New</title><pubDate>Sun, 29 Nov 2026 06:00:00 GMT</pubDate>
<description>new text</description></item>
<item><guid>u1</guid><title>Undated</title><description>undated text</description></item>
</channel></rss>"""
    whole = parse_feed(body, "http://127.0.0.1/feed.xml")
    light = parse_feed(body, "http://127.0.0.1/feed.xml", archive=datetime(2026, 11, 28, tzinfo=UTC))
    assert [e.key for e in light.entries] == [e.key for e in whole.entries]
    assert [e.published for e in light.entries] == [e.published for e in whole.entries]
    old, no_id, new, undated = light.entries
    assert (old.title, old.summary, old.link) == ("", "", whole.entries[0].link)  # the link is still resolved
    assert old.canonical == whole.entries[0].canonical == old.key == "http://127.0.0.1/old"  # no utm_source
    assert (no_id.title, no_id.summary) == ("Old, no id", "kept whole")  # its key is a hash of its text
    assert new == whole.entries[2] and undated == whole.entries[3]


def _corpus_feeds() -> list[tuple[str, bytes, str | None]]:
    """(name, body, Content-Type) of every feed in news_feeds and feedparser_tests."""
    out = []
    news = corpus_path("news_feeds")
    for line in (news / "manifest.jsonl").read_text().splitlines():
        name = json.loads(line)["file"]
        out.append((name, (news / name).read_bytes(), None))
    tests = corpus_path("feedparser_tests")
    for line in (tests / "index.jsonl").read_text().splitlines():
        item = json.loads(line)
        headers = {k.lower(): v for k, v in (item["http_headers"] or {}).items()}
        out.append((item["path"], (tests / item["path"]).read_bytes(), headers.get("content-type")))
    return out


def _outcome(body: bytes, url: str, content_type: str | None, archive: datetime | None) -> ParsedFeed | str:
    try:
        return parse_feed(body, url, content_type, archive)
    except ParseError as e:
        return str(e)


def test_a_slimmed_archive_reads_as_the_whole_document_over_the_corpora(monkeypatch: pytest.MonkeyPatch) -> None:
    """The items a first poll slims (parse._slim_archive) come out as the whole document's archive entries do,
    and every other entry is unchanged, at cutoffs that make all, some or none of each feed's items archive."""
    cases = []
    for name, body, content_type in _corpus_feeds():
        url = f"http://127.0.0.1/{name}"
        whole = _outcome(body, url, content_type, None)
        dates = sorted(e.published for e in whole.entries if e.published) if isinstance(whole, ParsedFeed) else []
        for cutoff in [datetime(2100, 1, 1, tzinfo=UTC), *dates[len(dates) // 2 : len(dates) // 2 + 1]]:
            cases.append((name, body, url, content_type, cutoff))
    slimmed = [_slim_archive(body, ct, cutoff) is not None for _, body, _, ct, cutoff in cases]
    actual = [_outcome(body, url, ct, cutoff) for _, body, url, ct, cutoff in cases]
    monkeypatch.setattr(parse_module, "_slim_archive", lambda *_: None)  # every document read whole
    for (name, body, url, ct, cutoff), got in zip(cases, actual, strict=True):
        assert got == _outcome(body, url, ct, cutoff), (name, cutoff)
    assert len(cases) > 700
    assert sum(slimmed) > 60  # the slim path was taken, not only refused


def test_an_item_slimmed_for_nothing_sends_the_whole_document_through_again() -> None:
    # dated long ago and linked, so slimmed; but the link is dropped (javascript:) and there is no GUID, so it
    # is no archive entry: it must come back whole, keyed by its text, as without the slimming
    body = _rss(
        "<item><title>Kept</title><link>javascript:alert(1)</link><description>Its text.</description>"
        "<pubDate>Tue, 28 Oct 2025 09:30:00 +0900</pubDate></item>" + _item(2)
    )
    archive = datetime(2026, 1, 1, tzinfo=UTC)
    assert _slim_archive(body, None, archive) is not None
    kept, old = parse_feed(body, URL, None, archive).entries
    assert (kept.title, kept.summary, kept.key) == ("Kept", "Its text.", parse_feed(body, URL).entries[0].key)
    assert (old.key, old.title) == ("id-2", "")


def test_prints_fingerprint_the_summaries_of_the_entries_that_are_not_archive() -> None:
    old = _item(1)
    new = _item(2).replace("Tue, 28 Oct 2025", "Tue, 28 Oct 2031")
    feed = parse_feed(
        _rss(old + new), URL, None, datetime(2030, 1, 1, tzinfo=UTC), feed_url="https://feeds.example.org/x"
    )
    assert [e.key for e in feed.entries] == ["id-1", "id-2"]
    assert feed.prints == (None, text_print("https://feeds.example.org/x", "Body of story 2."))
    assert parse_feed(_rss(old + new), URL).prints == ()  # not asked for


def test_a_one_line_dtd_keeps_its_plain_entities_and_drops_the_rest() -> None:
    # feedparser's own DOCTYPE pass reads declarations only at line starts: on one line, entities that expand
    # to entities reached expat (the billion laughs: 867,000 text callbacks before expat's own limit)
    laughs = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    dtd = f'<!DOCTYPE rss [<!ENTITY auml "&#228;"><!ENTITY sys SYSTEM "file:///etc/passwd">{laughs}]>'
    items = "<item><guid>1</guid><title>M&auml;rz &lol9;&sys;&amp;</title><description>&lol0;</description></item>"
    feed = parse_feed(_rss(items, extra="").replace(b"<rss", dtd.encode() + b"<rss", 1), URL)
    assert feed.bozo is None  # read by the strict parser: nothing left undefined
    (entry,) = feed.entries
    assert (entry.title, entry.summary) == ("März &", "lol")


def test_a_dtd_without_entities_is_left_as_it_is() -> None:
    body = _rss(_item(1)).replace(
        b"<rss", b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "rss-0.91.dtd">\n<rss', 1
    )
    assert parse_module._defuse_doctype(body) == body
    assert [e.key for e in parse_feed(body, URL).entries] == ["id-1"]


_GUIDS = st.sampled_from(["", "id-1", " id&amp;2 ", "<![CDATA[id-3]]>", "http://e.org/a?b=1&amp;c=2"])
_LINKS = st.sampled_from(["", "https://e.org/x", " /rel/path ", "javascript:void(0)", "https://e.org/y?utm_source=z"])
_DATES = st.sampled_from(
    ["", "Tue, 28 Oct 2025 09:30:00 +0900", "2031-01-01T00:00:00Z", "not a date", "Mon, 1 Jan 2001"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_GUIDS, _LINKS, _DATES, _DATES, st.booleans()), max_size=6), st.booleans())
def test_a_slimmed_archive_reads_as_the_whole_document(
    items: list[tuple[str, str, str, str, bool]], atom: bool
) -> None:
    parts = []
    for n, (guid, link, published, updated, titled) in enumerate(items):
        children = [f"<title>Story {n} &amp; more</title>" if titled else "", f"<description>Text {n}</description>"]
        if atom:
            children += [f"<id>{guid}</id>" if guid else "", f'<link href="{link}"/>' if link else ""]
            children += [f"<published>{published}</published>" if published else ""]
            children += [f"<updated>{updated}</updated>" if updated else ""]
            parts.append("<entry>" + "".join(children) + "</entry>")
        else:
            children += [f"<guid>{guid}</guid>" if guid else "", f"<link>{link}</link>" if link else ""]
            children += [f"<pubDate>{published}</pubDate>" if published else ""]
            children += [f"<dc:date>{updated}</dc:date>" if updated else ""]
            parts.append("<item>" + "".join(children) + "</item>")
    if atom:
        body = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>{"".join(parts)}</feed>'.encode()
    else:
        ns = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'
        body = f'<rss version="2.0" {ns}><channel><title>R</title>{"".join(parts)}</channel></rss>'.encode()
    archive = datetime(2030, 1, 1, tzinfo=UTC)
    got = _outcome(body, URL, None, archive)
    original = parse_module._slim_archive
    try:
        parse_module._slim_archive = lambda *_: None  # type: ignore[assignment]  # the whole document
        assert got == _outcome(body, URL, None, archive)
    finally:
        parse_module._slim_archive = original
