"""Feed bytes → ``ParsedFeed``: feedparser for RSS/Atom/RDF, our own reader for JSON Feed. Pure.

Also OPML import/export and feed discovery from an HTML page's ``<link rel="alternate">`` tags.

The bozo policy (which of feedparser's complaints a feed survives) lives here and only here: see
``SURVIVABLE`` and ``_check_bozo``. Nothing in this module touches the network: feedparser gets a byte
stream (a bare ``bytes`` argument would be tried as a file name first) and never a URL.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import io
import json
import re
import time
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]
from feedparser.datetimes import _parse_date  # feedparser's own: the slimmed items' dates agree

from monitor.dedupe import canonical_url, text_print
from monitor.errors import ParseError
from monitor.types import Entry, ParsedFeed

# feedparser complaints that leave a usable feed: a wrong charset label (the bytes were decoded anyway),
# a feed served as text/plain or text/html, an undeclared namespace prefix. XML that is not well-formed
# (a SAX error: truncated, stray "&", undefined entity) is reparsed by feedparser's loose parser; it
# survives when that parse recovered a feed format, and its entries lacking both GUID and link are dropped
# (a truncated last item must not be stored half, under a key that changes once it is complete).
SURVIVABLE: tuple[type[Exception], ...] = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
    feedparser.UndeclaredNamespace,
)
ILL_FORMED: tuple[type[Exception], ...] = (xml.sax.SAXException,)

NOT_A_FEED = "not a feed"

_JSON_FEED_TYPES = ("application/feed+json", "application/json")
# The first tag of the document, after an optional BOM, XML declaration, comments, PIs and DOCTYPE.
_PROLOG = re.compile(rb"\A(?>\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*+<([A-Za-z][\w:.-]*)", re.S | re.I)
_HTML_ROOTS = frozenset({b"html", b"head", b"body", b"div", b"p", b"table", b"meta", b"script", b"title"})
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?=$|[-_])")


def parse_feed(
    body: bytes,
    url: str,
    content_type: str | None = None,
    archive: datetime | None = None,
    feed_url: str | None = None,
) -> ParsedFeed:
    """Parse one feed document. Raises ``ParseError`` ("not a feed" for HTML pages and other documents).
    ``archive``: entries dated before it (with a GUID or link) come without title and summary text.
    ``feed_url``: also fingerprint every other entry's summary for that feed (in the worker, off the daemon's
    process; the pipeline asks where the summary is the article's text)."""
    parsed = _parse(body, url, content_type, archive)
    if feed_url is None:
        return parsed
    prints = tuple(None if _archived(e, archive) else text_print(feed_url, e.summary) for e in parsed.entries)
    return replace(parsed, prints=prints)


def _parse(body: bytes, url: str, content_type: str | None, archive: datetime | None) -> ParsedFeed:
    if not body.strip():
        raise ParseError("empty document", url=url)
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, url)
    if _looks_like_html(body):
        raise ParseError(NOT_A_FEED, url=url)
    body = _defuse_doctype(body)
    if archive is not None:
        slim = _slim_archive(body, content_type, archive)
        if slim is not None:
            parsed = _parse_xml(slim, url, content_type, archive, slimmed=True)
            if parsed is not None:
                return parsed
    parsed = _parse_xml(body, url, content_type, archive)
    assert parsed is not None  # only a slimmed document can be refused
    return parsed


def _parse_xml(
    body: bytes, url: str, content_type: str | None, archive: datetime | None, *, slimmed: bool = False
) -> ParsedFeed | None:
    """feedparser's reading of an XML feed. ``slimmed``: the output of ``_slim_archive``; None when an entry of
    it may be an item slimmed for nothing (the caller parses the whole document)."""
    # Without a Content-Type feedparser flags every document bozo; XML rules then decide the charset. No
    # Content-Location: feedparser would resolve every link against it (a quarter of its time); _clean_link
    # resolves the few relative ones against the feed's URL instead.
    headers = {"content-type": content_type or "application/xml"}
    try:
        # sanitize/resolve off: ~40 % less CPU, and we keep plain text only (tags are stripped below).
        result = feedparser.parse(
            io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except (ValueError, LookupError, RecursionError, UnicodeError, AssertionError) as e:
        # feedparser's loose parser and date handlers raise these on some hostile inputs.
        raise ParseError("feedparser failed", url=url) from e
    bozo = _check_bozo(result, url)
    feed = result.get("feed", {})
    feed_lang = _language(feed.get("language"))
    ill_formed = isinstance(result.get("bozo_exception"), ILL_FORMED)
    entries = []
    for raw in result.get("entries", []):
        entry = _entry(raw, url, feed_lang, require_id=ill_formed, archive=archive)
        if slimmed and (entry is None or not (entry.title or entry.summary or _archived(entry, archive))):
            return None
        if entry is not None:
            entries.append(entry)
    return ParsedFeed(
        title=_text(feed.get("title_detail") or feed.get("title")) or None,
        link=_clean_link(feed.get("link"), url),
        entries=tuple(_unique(entries)),
        bozo=bozo,
        ttl_minutes=_ttl(feed.get("ttl")),
        language=feed_lang,
    )


# A new feed's archive (see parse_feed's ``archive``) is most of its first poll, and feedparser's time goes
# into the text it converts. So the items that are certainly archive lose everything but their ids, links and
# dates before feedparser reads the document; feedparser still decides every key, link and date. An entry of
# the slimmed document that comes out neither as an archive entry nor with any text (so perhaps an item that
# feedparser dates otherwise) sends the whole document through again.
_ITEMS = (
    "item",
    "{http://purl.org/rss/1.0/}item",
    "{http://www.w3.org/2005/Atom}entry",
    "{http://purl.org/atom/ns#}entry",
)
_KEEP = frozenset({"guid", "id", "link"})
# feedparser's entry dates (it reads element names in lower case): RSS, Atom 0.3/1.0, Dublin Core
_DATES = frozenset({"pubdate", "published", "updated", "date", "issued", "modified", "created", "lastbuilddate"})
_KEPT = _KEEP | _DATES
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.I)


def _slim_archive(body: bytes, content_type: str | None, archive: datetime) -> bytes | None:
    """The document without the text of its items dated (every date given) before ``archive``, in its own
    encoding, or None when there are none, or when the document is not well-formed XML, has a DOCTYPE, or
    its encoding disagrees with the HTTP charset (feedparser's own handling of those is left alone)."""
    try:
        root = lxml.etree.fromstring(body, _safe_xml_parser())
    except (lxml.etree.XMLSyntaxError, ValueError):
        return None
    tree = root.getroottree()
    encoding = tree.docinfo.encoding or "UTF-8"
    declared = _CHARSET.search(content_type or "")
    if tree.docinfo.doctype or (declared and _codec(declared.group(1)) != _codec(encoding)):
        return None
    cutoff = archive.timestamp()
    slimmed = False
    for item in root.iter(*_ITEMS):
        if _is_archive_item(item, cutoff):
            for child in list(item):
                if not isinstance(child.tag, str) or _localname(child.tag) not in _KEPT:
                    item.remove(child)
            slimmed = True
    if not slimmed:
        return None
    try:
        out: bytes = lxml.etree.tostring(tree, encoding=encoding, xml_declaration=True)
    except LookupError:
        return None
    return out


def _is_archive_item(item: lxml.etree._Element, cutoff: float) -> bool:
    """Every date the item gives is before ``cutoff`` (by feedparser's date parser), and it has an id or link."""
    dated = identified = False
    for child in item:
        if not isinstance(child.tag, str):
            continue
        name = _localname(child.tag)
        if name in _DATES:
            parsed = _parse_date((child.text or "").strip())
            if parsed is None or calendar.timegm(parsed) >= cutoff:
                return False
            dated = True
        elif name in _KEEP:
            identified = identified or bool((child.text or "").strip() or child.get("href", "").strip())
    return dated and identified


def _localname(tag: str) -> str:
    return tag[tag.find("}") + 1 :].lower()


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


# A DOCTYPE's internal subset: markup declarations, with quoted strings that may hold ] and >.
_DOCTYPE = re.compile(rb"<!DOCTYPE\s[^\[>]*+(?:\[((?:[^\]\"']|\"[^\"]*\"|'[^']*')*+)\])?\s*>", re.I)
# atomic: with plain groups, a failed look-ahead (no DOCTYPE, nearly every feed) sent the lazy <?...?> on to
# look for another "?>" through the whole document (286 µs a 45 KB feed; 0.5 µs so)
_DOCTYPE_AT = re.compile(rb"\A(?:\xef\xbb\xbf)?(?>\s+|<\?.*?\?>|<!--.*?-->)*+(?=<!DOCTYPE\s)", re.S | re.I)
_ENTITY = re.compile(rb"<!ENTITY\s+([A-Za-z_][\w.-]*)\s")
# An entity that expands to plain text or one character reference (what feedparser keeps), briefly.
_SAFE_ENTITY = re.compile(
    rb"<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(?:\"(?:&#\w+;|[^&%\"<]{0,64})\"|'(?:&#\w+;|[^&%'<]{0,64})')\s*>"
)
_REFERENCE = re.compile(rb"&([A-Za-z_][\w.-]*);")


def _defuse_doctype(body: bytes) -> bytes:
    """The document with its DOCTYPE's internal subset reduced to the entities that expand to plain text
    (at most 64 characters), and references to the others removed: they are never expanded.

    feedparser means to do this (sanitizer.replace_doctype) but finds declarations only at the start of a
    line: a one-line DTD keeps entities that expand to entities, and expat then emits the billion laughs
    (9 levels of 10: 867,000 callbacks, 2 s, before its amplification limit stops it). Wide encodings
    (UTF-16/32) are left to feedparser and the worker's budget."""
    start = _DOCTYPE_AT.match(body)
    if start is None:
        return body
    doctype = _DOCTYPE.match(body, start.end())
    if doctype is None or doctype.group(1) is None:
        return body
    declarations = doctype.group(1)
    safe = list(_SAFE_ENTITY.finditer(declarations))
    dropped = {m.group(1) for m in _ENTITY.finditer(declarations)} - {m.group(1) for m in safe}
    # the DOCTYPE and each declaration on a line of its own, as feedparser's own pass reads them (it then
    # declares them again); the DOCTYPE's name and ids stay
    subset = b"[" + b"".join(b"\n" + m.group(0) for m in safe) + b"\n]" if safe else b""
    rest = body[doctype.end() :]
    if dropped:  # left in, they would make the document ill-formed and feedparser's loose parser garbles text
        rest = _REFERENCE.sub(lambda m: b"" if m.group(1) in dropped else m.group(0), rest)
    head = body[: doctype.start()].rstrip(b" \t") + b"\n"
    return (
        head + body[doctype.start() : doctype.start(1) - 1] + subset + body[doctype.end(1) + 1 : doctype.end()] + rest
    )


def _check_bozo(result: Mapping[str, Any], url: str) -> str | None:
    """The one place that decides whether a feedparser complaint is fatal. Returns the survivable note."""
    # A known format, some entries, or channel metadata (old formats such as CDF carry no version).
    feed = result.get("feed") or {}
    recognised = bool(result.get("version") or result.get("entries") or feed.get("title") or feed.get("link"))
    if not result.get("bozo"):
        if not recognised:
            raise ParseError(NOT_A_FEED, url=url)
        return None
    exc = result.get("bozo_exception")
    if recognised and isinstance(exc, SURVIVABLE + ILL_FORMED):
        return f"{type(exc).__name__}: {_short(str(exc))}"
    cause = exc if isinstance(exc, BaseException) else None
    raise ParseError(NOT_A_FEED if not recognised else "unusable feed", url=url) from cause


def _short(text: str, limit: int = 200) -> str:
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    if content_type and content_type.split(";")[0].strip().lower() in _JSON_FEED_TYPES:
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _looks_like_html(body: bytes) -> bool:
    """An HTML page where a feed was expected: its first element is an HTML one."""
    if body.startswith(_UTF16_32_BOMS):
        return False  # wide encodings: let feedparser decode and judge (no version → "not a feed")
    head = body[:4096].removeprefix(b"\xef\xbb\xbf")
    m = _PROLOG.match(head)
    if m:
        return m.group(1).lower() in _HTML_ROOTS
    return head.lstrip()[:14].lower().startswith(b"<!doctype html")


def _entry(
    raw: Mapping[str, Any], feed_url: str, feed_lang: str | None, *, require_id: bool, archive: datetime | None
) -> Entry | None:
    guid = _plain(raw.get("id")) or None
    link = _clean_link(raw.get("link"), feed_url)
    canonical = canonical_url(link) if link else None
    published = _datetime(raw.get("published_parsed") or raw.get("updated_parsed"))
    if _is_archive(published, guid, link, archive):
        # the pipeline records it as seen and reads nothing else: no text to convert (a quarter of a parse)
        return Entry(
            key=entry_key(guid, canonical, "", ""),
            feed_url=feed_url,
            title="",
            link=link,
            summary="",
            published=published,
            guid=guid,
            canonical=canonical,
        )
    title = _text(raw.get("title_detail") or raw.get("title"))
    summary = _summary(raw)
    if require_id and not guid and not link:
        return None
    if not (guid or link or title or summary):  # RSS 2.0 allows an item with only a description
        return None
    lang = _language((raw.get("summary_detail") or raw.get("title_detail") or {}).get("language"))
    return Entry(
        key=entry_key(guid, canonical, title, summary),
        feed_url=feed_url,
        title=title,
        link=link,
        summary=summary,
        published=published,
        author=_plain(raw.get("author")) or None,
        guid=guid,
        language=lang or feed_lang,
        canonical=canonical,
    )


def _is_archive(published: datetime | None, guid: str | None, link: str | None, archive: datetime | None) -> bool:
    """A new feed's archive entry: dated before ``archive`` and known by a GUID or link."""
    return archive is not None and published is not None and published < archive and bool(guid or link)


def _archived(entry: Entry, archive: datetime | None) -> bool:
    return _is_archive(entry.published, entry.guid, entry.link, archive)


def entry_key(guid: str | None, canonical: str | None, title: str, summary: str) -> str:
    """GUID, else the canonical link (``canonical_url(link)``), else a hash of title and summary (stable across
    polls)."""
    if guid:
        return guid
    if canonical:
        return canonical
    digest = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()
    return f"sha256:{digest}"


def _unique(entries: list[Entry]) -> list[Entry]:
    """A feed that repeats a GUID lists one item twice: keep the first (feeds list newest first)."""
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry.key not in seen:
            seen.add(entry.key)
            out.append(entry)
    return out


def _summary(raw: Mapping[str, Any]) -> str:
    detail = raw.get("summary_detail")
    if detail and detail.get("value"):
        return _text(detail)
    for content in raw.get("content") or ():
        if content.get("value"):
            return _text(content)
    return _text(raw.get("summary"))


def _text(value: Any) -> str:
    """A feedparser text construct (or a bare string) → plain text; HTML types have their tags dropped."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        kind = str(value.get("type") or "text/html")
        text = str(value.get("value") or "")
        return html_to_text(text) if "html" in kind else _plain(text)
    return html_to_text(str(value))


def _plain(value: Any) -> str:
    if not value:
        return ""
    text = str(value)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return " ".join(text.split())  # str.split() knows the same whitespace as \s, at a fraction of re.sub's cost


def html_to_text(markup: str) -> str:
    """HTML fragment → one line of plain text: scripts and styles dropped, tags removed, entities decoded."""
    markup = _CONTROL.sub("", markup)
    if "<" not in markup:
        return _plain(html.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return _plain(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    for bad in root.xpath(".//script|.//style|.//noscript|.//template"):
        bad.drop_tree()
    for block in root.xpath(".//br|.//p|.//div|.//li|.//h1|.//h2|.//h3|.//h4|.//tr"):
        block.tail = " " + (block.tail or "")
    return _plain(root.text_content())


def _clean_link(value: Any, base: str) -> str | None:
    """An absolute http(s) link or None (``javascript:``, ``data:`` and other schemes are dropped)."""
    if not value or not isinstance(value, str):
        return None
    link = value.strip()
    try:
        parts = urlsplit(link)
        if not parts.scheme:
            parts = urlsplit(urljoin(base, link))
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit(parts)


def _datetime(value: Any) -> datetime | None:
    """feedparser's UTC struct_time → aware UTC datetime (None when absent or out of range)."""
    if not isinstance(value, time.struct_time | tuple):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _ttl(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if 0 < minutes <= 60 * 24 * 365 else None


def _language(value: Any) -> str | None:
    """``en-US`` → ``en`` (rules filter on the primary language subtag)."""
    m = _LANG.match(str(value).strip()) if value else None
    return m.group(0).lower() if m else None


# ---------------------------------------------------------------------------------------------------------
# JSON Feed (feedparser 6.0 does not read it)


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as e:
        raise ParseError(NOT_A_FEED, url=url) from e
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise ParseError(NOT_A_FEED, url=url)
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed without items", url=url)
    feed_lang = _language(doc.get("language"))
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        guid = _plain(item.get("id")) or None
        link = _clean_link(item.get("url"), url) or _clean_link(item.get("external_url"), url)
        title = _plain(_str_or_none(item.get("title")))
        if _str_or_none(item.get("content_text")):
            summary = _plain(item["content_text"])
        else:
            summary = html_to_text(
                str(_str_or_none(item.get("summary")) or _str_or_none(item.get("content_html")) or "")
            )
        if not (guid or link or title):
            continue
        canonical = canonical_url(link) if link else None
        entries.append(
            Entry(
                key=entry_key(guid, canonical, title, summary),
                feed_url=url,
                title=title,
                link=link,
                summary=summary,
                published=_iso_datetime(item.get("date_published") or item.get("date_modified")),
                author=_json_author(item),
                guid=guid,
                language=_language(item.get("language")) or feed_lang,
                canonical=canonical,
            )
        )
    return ParsedFeed(
        title=_plain(_str_or_none(doc.get("title"))) or None,
        link=_clean_link(doc.get("home_page_url"), url),
        entries=tuple(_unique(entries)),
        language=feed_lang,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _json_author(item: Mapping[str, Any]) -> str | None:
    authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
    names = [_plain(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")]
    return ", ".join(names) or None


def _iso_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------------------
# OPML and discovery

_FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json", "application/json"}
)


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed of an OPML subscription list. ``tags`` are its folder names and ``category`` entries."""

    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()


def _safe_xml_parser() -> lxml.etree.XMLParser:
    # No entity expansion (XXE, billion laughs), no DTD loading, no network.
    return lxml.etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)


def parse_opml(body: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order, each URL once. Outlines whose ``xmlUrl`` is not
    an http(s) URL are left out. Raises ``ParseError`` when the bytes are not OPML."""
    try:
        root = lxml.etree.fromstring(body, _safe_xml_parser())
    except (lxml.etree.XMLSyntaxError, ValueError) as e:
        raise ParseError("invalid OPML (XML refused)") from e
    if root is None or not isinstance(root.tag, str) or lxml.etree.QName(root).localname.lower() != "opml":
        raise ParseError("not an OPML document")
    feeds: dict[str, OpmlFeed] = {}
    body_el = next((el for el in root if isinstance(el.tag, str) and el.tag.lower() == "body"), None)
    if body_el is not None:
        _walk_outlines(body_el, (), feeds)
    return list(feeds.values())


def _walk_outlines(parent: lxml.etree._Element, folders: tuple[str, ...], out: dict[str, OpmlFeed]) -> None:
    for outline in parent:
        if not isinstance(outline.tag, str) or outline.tag.lower() != "outline":
            continue
        attrs = {k.lower(): v for k, v in outline.attrib.items()}
        label = _plain(attrs.get("title") or attrs.get("text")) or None
        url = (attrs.get("xmlurl") or "").strip()
        if not url:
            _walk_outlines(outline, (*folders, label) if label else folders, out)
            continue
        link = _clean_link(url, "")
        if link is None or link in out:
            continue
        categories = [c.strip().strip("/") for c in (attrs.get("category") or "").split(",")]
        tags = dict.fromkeys([*folders, *(c for c in categories if c)])
        out[link] = OpmlFeed(url=link, name=label, tags=tuple(tags))


def export_opml(feeds: Iterable[OpmlFeed], title: str = "news-monitor feeds") -> str:
    """An OPML 2.0 document: feeds grouped in a folder per first tag, every tag also in ``category``."""
    root = lxml.etree.Element("opml", version="2.0")
    head = lxml.etree.SubElement(root, "head")
    lxml.etree.SubElement(head, "title").text = title
    body = lxml.etree.SubElement(root, "body")
    folders: dict[str, lxml.etree._Element] = {}
    for feed in feeds:
        parent = body
        if feed.tags:
            if feed.tags[0] not in folders:
                folders[feed.tags[0]] = lxml.etree.SubElement(body, "outline", text=feed.tags[0])
            parent = folders[feed.tags[0]]
        name = feed.name or feed.url
        outline = lxml.etree.SubElement(parent, "outline", type="rss", text=name, title=name, xmlUrl=feed.url)
        if len(feed.tags) > 1:
            outline.set("category", ",".join(feed.tags[1:]))
    text: str = lxml.etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text


def discover_feeds(html: bytes, base_url: str) -> list[str]:
    """Feed URLs a page announces with ``<link rel="alternate" type="application/rss+xml|atom+xml|json">``,
    absolute (``<base href>`` respected), http(s) only, in page order, each once."""
    if not html.strip():
        return []
    try:
        doc = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return []
    base = base_url
    for href in doc.xpath("//base/@href"):
        base = urljoin(base_url, str(href).strip())
        break
    found: dict[str, None] = {}
    for link in doc.xpath("//link[@href]"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" in rels and kind in _FEED_TYPES:
            url = _clean_link(urljoin(base, link.get("href").strip()), base)
            if url:
                found.setdefault(url)
    return list(found)
