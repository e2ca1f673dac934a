"""Shared pieces of the benchmarks: corpus loading, a loopback feed server in its own process, CPU and memory
sampling from /proc, and a Markdown table printer.

The feed server runs in a separate process (aiohttp) so that serving does not take CPU from the process being
measured. It serves ``/feed/{i}.xml`` (RSS 2.0, ``items`` Reuters-21578 stories each, about 44 KB) and
``/a/{i}/{j}.html`` (the story as an article page). With validators on it sends ETag and Last-Modified and
answers 304 to a matching conditional request; with them off it sends the same bytes with neither header.
``GET /_mode?validators=0|1`` switches, ``GET /_stats`` returns request counts by status as JSON, and
``POST /_sink`` accepts alerts (apprise ``json://`` target) with 200.
"""

from __future__ import annotations

import html
import json
import multiprocessing
import os
import random
import socket
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
REUTERS = CORPUS / "reuters21578" / "reuters21578.jsonl"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class Story:
    id: int
    title: str
    body: str
    topics: tuple[str, ...]


def reuters(min_body: int = 300) -> list[Story]:
    """Reuters-21578 stories with a title and a body of at least ``min_body`` characters."""
    out = []
    with REUTERS.open(encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            body, title = d.get("body") or "", d.get("title") or ""
            if len(body) >= min_body and title:
                out.append(Story(d["id"], title.title(), body, tuple(d.get("topics") or ())))
    return out


def _paragraphs(body: str) -> list[str]:
    return [" ".join(p.split()) for p in body.split("\n    ") if p.strip()]


def build_site(base: str, feeds: int, items: int, stories: Sequence[Story]) -> tuple[list[bytes], dict[str, bytes]]:
    """``feeds`` distinct RSS documents and their article pages. Feed i takes stories i*items... (wrapping);
    every item has its own link, so the same wire story in two feeds is a syndicated copy, not the same URL."""
    docs: list[bytes] = []
    pages: dict[str, bytes] = {}
    epoch = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(feeds):
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>',
            f"<title>Wire {i}</title><link>{base}/</link><description>Bench feed {i}</description>",
        ]
        for j in range(items):
            story = stories[(i * items + j) % len(stories)]
            path = f"/a/{i}/{j}.html"
            stamp = format_datetime(epoch - timedelta(minutes=i + 37 * j))
            paras = _paragraphs(story.body)
            summary = html.escape(" ".join(paras)[:1400])
            out.append(
                f"<item><title>{html.escape(story.title)}</title><link>{base}{path}</link>"
                f'<guid isPermaLink="false">wire-{i}-{j}-{story.id}</guid><pubDate>{stamp}</pubDate>'
                f"<description>{summary}</description></item>"
            )
            body = "".join(f"<p>{html.escape(p)}</p>" for p in paras)
            pages[path] = (
                f"<html><head><title>{html.escape(story.title)}</title></head><body><nav><a href='/'>Home</a>"
                f"</nav><article><h1>{html.escape(story.title)}</h1>{body}</article><footer>Wire {i}</footer>"
                "</body></html>"
            ).encode()
        out.append("</channel></rss>")
        docs.append("".join(out).encode())
    return docs, pages


def _serve(conn: Any, feeds: int, items: int) -> None:
    """Server process: build the site, report the port, serve until killed."""
    import asyncio

    from aiohttp import web

    stories = reuters(min_body=1200)  # about 44 KB per 27-item feed
    state = {"validators": True}
    stats: dict[str, int] = {}
    last_modified = format_datetime(datetime(2026, 11, 1, tzinfo=UTC), usegmt=True)

    async def feed(request: web.Request) -> web.StreamResponse:
        i = int(request.match_info["i"])
        if not 0 <= i < len(docs):
            raise web.HTTPNotFound()
        etag = f'"wire-{i}-v1"'
        headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
        if state["validators"]:
            headers |= {"ETag": etag, "Last-Modified": last_modified}
            if request.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in request.headers and request.headers.get("If-Modified-Since") == last_modified
            ):
                stats["304"] = stats.get("304", 0) + 1
                return web.Response(status=304, headers={"ETag": etag, "Last-Modified": last_modified})
        stats["200"] = stats.get("200", 0) + 1
        return web.Response(body=docs[i], headers=headers)

    async def page(request: web.Request) -> web.StreamResponse:
        body = pages.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        stats["page"] = stats.get("page", 0) + 1
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    async def mode(request: web.Request) -> web.StreamResponse:
        state["validators"] = request.query.get("validators", "1") == "1"
        return web.json_response(state)

    async def get_stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(stats)

    async def sink(request: web.Request) -> web.StreamResponse:
        await request.read()
        stats["sink"] = stats.get("sink", 0) + 1
        return web.json_response({})

    async def main() -> None:
        nonlocal docs, pages
        app = web.Application()
        app.router.add_get("/feed/{i}.xml", feed)
        app.router.add_get("/a/{i}/{j}.html", page)
        app.router.add_get("/_mode", mode)
        app.router.add_get("/_stats", get_stats)
        app.router.add_post("/_sink", sink)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        docs, pages = build_site(f"http://127.0.0.1:{port}", feeds, items, stories)
        conn.send((port, sum(map(len, docs)) / len(docs)))
        await asyncio.Event().wait()

    docs: list[bytes] = []
    pages: dict[str, bytes] = {}
    asyncio.run(main())


class _ChildServer:
    """A loopback server running in a child process (so it does not take the measured process's CPU)."""

    port = 0
    _process: multiprocessing.process.BaseProcess | None = None

    def _start(self, target: Any, args: tuple[Any, ...], timeout: float) -> Any:
        """Start ``target(child_conn, *args)``; return what it sends once it listens."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=target, args=(child, *args), daemon=True)
        self._process.start()
        if not parent.poll(timeout):
            self.close()
            raise RuntimeError(f"{type(self).__name__} did not start within {timeout:g} s")
        return parent.recv()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
            self._process = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class FeedServer(_ChildServer):
    """The loopback feed server in a child process; a context manager."""

    def __init__(self, feeds: int = 1000, items: int = 27) -> None:
        self.feeds = feeds
        self.items = items
        self.mean_bytes = 0.0

    def __enter__(self) -> FeedServer:
        self.port, self.mean_bytes = self._start(_serve, (self.feeds, self.items), 120)
        return self

    def feed_urls(self) -> list[str]:
        return [f"{self.base}/feed/{i}.xml" for i in range(self.feeds)]

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def validators(self, on: bool) -> None:
        self._get(f"/_mode?validators={int(on)}")

    def stats(self) -> dict[str, int]:
        return dict(self._get("/_stats"))


def _serve_static(conn: Any, files: dict[str, tuple[bytes, str]], port: int, cpu: int | None) -> None:
    """Static server process: ``files`` maps a path to (body, content type)."""
    import asyncio

    from aiohttp import web

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def handle(request: web.Request) -> web.StreamResponse:
        found = files.get(request.path)
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], headers={"Content-Type": found[1]})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        conn.send(port)
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    """A loopback port free right now (bodies that name the server's address are built before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StaticServer(_ChildServer):
    """Serve fixed files from a child process (optionally pinned to one CPU) on ``port`` (see free_port)."""

    def __init__(self, files: dict[str, tuple[bytes, str]], port: int, cpu: int | None = None) -> None:
        self.files = files
        self.cpu = cpu
        self.port = port

    def __enter__(self) -> StaticServer:
        self.port = self._start(_serve_static, (self.files, self.port, self.cpu), 60)
        return self


# ---------------------------------------------------------------------------------------------------------
# /proc sampling


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of one process in MB (0 when it is gone)."""
    rss = hwm = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, hwm


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parent_of[int(entry.name)] = ppid
    out: list[int] = []
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent_of.items() if pp == p]
        out.extend(kids)
        frontier.extend(kids)
    return out


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def generated_rules(n: int, seed: int = 8) -> list[str]:
    """YAML lines (``entities:`` and ``rules:``, every rule notifying ``sink``) for ``n`` watch rules built
    from Reuters vocabulary: words, phrases, prefixes, NEAR, entities and boolean mixes, in turn."""
    import itertools
    import re
    from collections import Counter

    rng = random.Random(seed)
    words: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for story in reuters()[:3000]:
        tokens = re.findall(r"[a-z]{4,}", story.body.lower())
        words.update(tokens)
        pairs.update(itertools.pairwise(tokens))
    # skip the commonest words (said, company...) and the rarest, as real watch rules name distinctive terms
    vocab = [w for w, c in words.most_common() if c >= 3][300:]
    phrases = [p for p, c in pairs.most_common() if c >= 3][300:]
    entities = max(10, n // 20)
    lines = ["entities:"]
    for i in range(entities):
        aliases = [rng.choice(vocab), " ".join(rng.choice(phrases)), f"E{i % 97}X"]
        lines.append(f"  ent{i}: {{aliases: {json.dumps(aliases)}}}")
    lines.append("rules:")
    for i in range(n):
        w1, w2, w3, w4 = (rng.choice(vocab) for _ in range(4))
        a, b = rng.choice(phrases)
        query = [
            w1,
            f'"{a} {b}"',
            f"{w1[: max(6, len(w1) - 2)]}*",
            f"{w1} NEAR/5 {w2}",
            f"@ent{i % entities} AND {w1}",
            f"({w1} OR {w2}) AND {w3} -{w4}",
        ][i % 6]
        lines.append(f"  - {{name: r{i}, query: {json.dumps(query)}, notify: [sink]}}")
    return lines
