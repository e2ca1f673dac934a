"""Article page bytes → ``Extracted`` (title, text, publication date, language) via trafilatura. Pure.

trafilatura gets a parsed tree, never a URL to fetch (the URL is only a hint for metadata). Options, chosen
with ``bench/bench_extract.py --variants`` over the Zyte and trafilatura news pages: comments off (reader
comments are not the story) and ``favor_precision`` (fewer share/related lines that would match rules):
word F1 0.963 vs 0.950 for bare trafilatura on Zyte, and 9 vs 12 unwanted snippets on the news pages.

``fast`` first, the full cascade only when its text looks cut short. Fast mode skips the comparison with
readability and justext (and, alone, missed 22 must-contain snippets on the news pages instead of 9). Every
page where the full cascade did better had a fast text under 3,000 characters and under a tenth of the page's
visible text; the trigger is trafilatura's own for its recall retry (under 3,000 characters and under 20 % of
the page text: ``ESCALATION_MAX_LENGTH`` / ``ESCALATION_PAGE_SHARE`` in its core.py), twice that margin. It
reran 10 of 136 Zyte pages and 11 of 58 news pages, and gave the full cascade's text, title and date on 193
of the 194 pages (the other came out longer, no snippet changed): Zyte word F1 0.963, news 9 missed / 9
unwanted snippets, as before. Text only (``metadata=False``), ms per Zyte page in one run of
``bench_extract.py --variants``: 16.4 fast-first, 21.0 full cascade, 13.1 fast only, 20.0 bare trafilatura.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.dedupe import TextPrint, text_print
from monitor.errors import ExtractError

MIN_TEXT_CHARS = 20  # shorter than this is a stub, a cookie wall or an error page, not an article
_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "favor_precision": True,
    "with_metadata": True,
    # publication rather than modification date, with the time when the page gives one
    # (a date in the URL only when the page has none: it carries no time of day)
    "date_extraction_params": {
        "original_date": True,
        "deferred_url_extractor": True,
        "outputformat": "%Y-%m-%dT%H:%M:%S%z",
    },
}

# Without the page's title and date (htmldate): 27 % less time on the Zyte pages (25.9 -> 18.9 ms), spent for
# nothing when the feed entry has both; the same text on both corpora.
_TEXT_ONLY = {k: v for k, v in _OPTIONS.items() if k not in ("with_metadata", "date_extraction_params")}

# The fast text is suspect when shorter than both: trafilatura's own recall-retry trigger (core.py).
_SHORT_TEXT = 3000
_PAGE_SHARE = 0.2
# The page's visible text as trafilatura's html2txt counts it (median ratio 1.00 on both corpora) at half its
# cost: it copies and cleans the tree; this reads the text nodes outside the parts its basic_cleaning drops.
_VISIBLE_TEXT = (
    "//body//text()[not(ancestor::script or ancestor::style or ancestor::template or ancestor::svg"
    " or ancestor::noscript or ancestor::aside or ancestor::footer)]"
)

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG: these labels mean windows-1252 in browsers, and pages rely on it.
_CP1252_ALIASES = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "ascii", "us-ascii", "l1"})
_LANG = re.compile(r"^[A-Za-z]{2,3}(?=$|[-_])")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class Extracted:
    """The article as found on its page. ``published`` is aware UTC; ``language`` an ISO 639-1 code."""

    title: str
    text: str
    published: datetime | None
    language: str | None
    prints: TextPrint | None = None  # dedupe.text_print(feed_url, text) when asked for


def extract_article(html: bytes, url: str, metadata: bool = True, feed_url: str | None = None) -> Extracted:
    """Extract the main text of an article page. Raises ``ExtractError`` when there is no usable text.
    ``metadata=False``: skip the page's title and date (``title`` is then empty, ``published`` None).
    ``feed_url``: also fingerprint the text for that feed (in the worker, off the daemon's process)."""
    from trafilatura.utils import load_html

    text = decode_html(html)
    try:
        tree = load_html(text)
        if tree is None:
            raise ExtractError("not an HTML page", subject=url)
        language = _declared_language(tree)
        doc, _ = _extract(tree, url, metadata)
    except (ValueError, TypeError, RecursionError, AttributeError) as e:
        # lxml and trafilatura's heuristics raise these on some broken pages
        raise ExtractError("extraction failed", subject=url) from e
    # NFC as trafilatura.extract() does: composed and decomposed accents must match the same rules
    body = unicodedata.normalize("NFC", getattr(doc, "text", None) or "").strip()
    if len(body) < MIN_TEXT_CHARS:
        raise ExtractError("no article text found", subject=url)
    return Extracted(
        title=unicodedata.normalize("NFC", " ".join((getattr(doc, "title", None) or "").split())),
        text=body,
        published=_published(getattr(doc, "date", None)),
        language=language or _script_language(body),
        prints=text_print(feed_url, body) if feed_url is not None else None,
    )


def _extract(tree: Any, url: str, metadata: bool) -> tuple[Any, bool]:
    """trafilatura's document (or None) and whether the full cascade had to run after the fast one.
    ``bare_extraction`` works on its own copy of ``tree``, so the page is parsed once for both runs."""
    from trafilatura import bare_extraction

    options = _OPTIONS if metadata else _TEXT_ONLY
    doc: Any = bare_extraction(tree, url=url, fast=True, **options)  # a Document (as_dict is off) or None
    if doc is None:  # no text at all: nothing to keep from the fast run
        return bare_extraction(tree, url=url, **options), True
    size = len(doc.text or "")
    if size >= _SHORT_TEXT or size >= _PAGE_SHARE * _visible_chars(tree):
        return doc, False
    # metadata does not depend on fast mode when date_extraction_params are given: keep the fast run's
    full: Any = bare_extraction(tree, url=url, **_TEXT_ONLY)
    doc.text = full.text if full is not None else ""
    return doc, True


def _visible_chars(tree: Any) -> int:
    return len(" ".join(" ".join(tree.xpath(_VISIBLE_TEXT)).split()))


def decode_html(html: bytes) -> str:
    """Bytes → text: BOM, else the page's ``<meta charset>``, else UTF-8, else a detector's best guess."""
    for bom, encoding in _BOMS:
        if html.startswith(bom):
            return html[len(bom) :].decode(encoding, errors="replace")
    m = _META_CHARSET.search(html[:8192])
    if m:
        label = m.group(1).decode("ascii", errors="replace").lower()
        label = "cp1252" if label in _CP1252_ALIASES else label
        try:
            codec = codecs.lookup(label).name
        except LookupError:
            codec = None
        if codec and not codec.startswith("utf-16"):  # a page that says utf-16 in ASCII bytes is not
            return html.decode(codec, errors="replace")
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(html[:65536]).best()
    return html.decode(best.encoding if best else "cp1252", errors="replace")


def _declared_language(tree: Any) -> str | None:
    """The page's own statement: ``<html lang>``, Content-Language, or ``og:locale``."""
    candidates = [
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        *tree.xpath("//meta[translate(@http-equiv,'CONTENTLANGUAGE','contentlanguage')='content-language']/@content"),
        *tree.xpath("//meta[@property='og:locale']/@content"),
    ]
    for value in candidates:
        m = _LANG.match(str(value).strip()) if value else None
        if m:
            return m.group(0).lower()
    return None


def _script_language(text: str) -> str | None:
    """No declared language: tell Japanese, Korean and Chinese apart by script (cheap and reliable);
    other languages stay unknown rather than guessed (py3langid would pull in numpy in every worker)."""
    sample = text[:2000]
    if _KANA.search(sample):
        return "ja"
    if _HANGUL.search(sample):
        return "ko"
    if _HAN.search(sample):
        return "zh"
    return None


def _published(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
