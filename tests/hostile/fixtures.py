"""Hostile documents, generated in code (nothing copied from the corpus)."""

from __future__ import annotations

import gzip
import zlib


def rss(items: str, extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'{extra}<rss version="2.0"><channel><title>Hostile</title><link>http://example.invalid/</link>'
        f"{items}</channel></rss>"
    ).encode()


def item(n: int, body: str = "") -> str:
    return (
        f"<item><title>Item {n}</title><link>http://example.invalid/{n}</link>"
        f"<guid>urn:item:{n}</guid><description>Text {n}</description>{body}</item>"
    )


def author_redos(size: int = 160_000) -> bytes:
    """feedparser#562: a huge ``<author>`` makes its e-mail regex quadratic (160 KB took 33.6 s)."""
    half = size // 2
    return rss(item(1, f"<author>{'a' * half}@{'b' * half}</author>"))


def billion_laughs(levels: int = 9, width: int = 10) -> bytes:
    ents = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels + 1):
        ents.append(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * width}">')
    doctype = "<!DOCTYPE rss [" + "".join(ents) + "]>"
    return rss(item(1, f"<category>&lol{levels};</category>"), extra=doctype)


def xxe(path: str) -> bytes:
    doctype = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{path}">]>'
    return rss(item(1, "<category>&xxe;</category>").replace("Text 1", "Text &xxe;"), extra=doctype)


def deep_nesting(depth: int = 50_000) -> bytes:
    return rss(item(1, "<x>" * depth + "</x>" * depth))


def many_items(count: int = 10_000) -> bytes:
    return rss("".join(item(i) for i in range(count)))


def huge_description(size: int = 5 * 2**20) -> bytes:
    return rss(item(1).replace("Text 1", "word " * (size // 5)))


def html_page(paragraphs: int = 5) -> bytes:
    text = "".join(f"<p>Paragraph {i} of an ordinary article about trade and minerals.</p>" for i in range(paragraphs))
    return (
        f"<!doctype html><html><head><title>Page</title></head><body><article>{text}</article></body></html>".encode()
    )


def huge_table(rows: int = 60_000) -> bytes:
    """trafilatura#704: a page that is one enormous table takes minutes."""
    cells = "".join(f"<tr><td>cell {i}</td><td>value {i} text here</td></tr>" for i in range(rows))
    return f"<html><body><article><p>{'word ' * 50}</p><table>{cells}</table></article></body></html>".encode()


def huge_colspan(cells: int = 2000) -> bytes:
    """trafilatura#657: huge colspan values."""
    row = "<td colspan='1000000'>x</td>" * cells
    return f"<html><body><table><tr>{row}</tr></table><p>{'word ' * 50}</p></body></html>".encode()


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes gzipped: about 1000:1."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * 2**20
    parts = [comp.compress(chunk) for _ in range(size // 2**20)]
    parts.append(comp.flush())
    return b"".join(parts)


def stacked_gzip(data: bytes, layers: int) -> bytes:
    for _ in range(layers):
        data = gzip.compress(data)
    return data
