"""The hostile corpus at the fetch and isolation level (RELIABILITY.md parts A and F).

Each case runs against a raw loopback server (``server.Server``) with a real ``Http`` and a real
``Isolator``, and ends in a result or a ``MonitorError``; ``expect`` names which (several are allowed where
the honest answer depends on the machine's speed: "bounded" means a result or ``BudgetExceeded``).
Used by tests/test_hostile.py and bench/bench_hostile.py.
"""

from __future__ import annotations

import asyncio
import socket
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.config import FetchConfig
from monitor.errors import FetchError, MonitorError
from monitor.fetch import Http
from monitor.isolate import Isolator
from monitor.parse import parse_feed
from monitor.types import FeedState, Fetched, NotModified, ParsedFeed
from tests.hostile import fixtures as fx
from tests.hostile import workloads
from tests.hostile.server import Handler, Request, Server, reset, response

MiB = 2**20
CAP = 1 * MiB  # fetch.max_bytes in the corpus
TIMEOUT = 1.0  # total deadline per fetch in the corpus
REDIRECTS = 3


@dataclass
class Harness:
    server: Server
    http: Http
    isolator: Isolator
    budget: float  # isolation budget for cases that must be killed
    workdir: Path
    full: bool = False  # full-size fixtures (bench, slow tests) instead of the small default run

    def url(self, path: str) -> str:
        return self.server.base + path

    async def parse(self, body: bytes, content_type: str = "application/rss+xml", budget: float = 5.0) -> ParsedFeed:
        return await self.isolator.run(parse_feed, body, "http://feed.invalid/", content_type, budget=budget)


Check = Callable[[object, Harness], bool]


@dataclass(frozen=True)
class Case:
    name: str
    part: str  # RELIABILITY.md item, e.g. "A9"
    expect: tuple[str, ...]  # "ok" and/or exception class names
    run: Callable[[Harness], Awaitable[object]]
    check: Check = lambda _r, _h: True
    routes: dict[str, Handler] = field(default_factory=dict)


def config() -> FetchConfig:
    return FetchConfig(max_bytes=CAP, max_redirects=REDIRECTS, per_host=4, allow_networks=["127.0.0.0/8"])


async def run_case(case: Case, harness: Harness) -> tuple[str, object]:
    """(outcome, result or error): outcome is "ok" or the MonitorError's class name. Bugs propagate."""
    try:
        return "ok", await case.run(harness)
    except MonitorError as e:
        return type(e).__name__, e


# ---------------------------------------------------------------------------------------------------------
# Server behaviours


def send(data: bytes) -> Handler:
    async def handler(_req: Request, w: asyncio.StreamWriter) -> None:
        w.write(data)

    return handler


def redirect(location: str, status: int = 302, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    return send(response(status, body, {"Location": location, **(headers or {})}))


async def _drip_body(_req: Request, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):  # one byte every 0.3 s: no per-read timeout would ever fire
        w.write(b"x")
        await w.drain()
        await asyncio.sleep(0.3)


async def _drip_headers(_req: Request, w: asyncio.StreamWriter) -> None:
    for _ in range(100):
        w.write(b"X-Slow: y\r\n" if _ else b"HTTP/1.1 200 OK\r\n")
        await w.drain()
        await asyncio.sleep(0.2)


async def _silence(_req: Request, _w: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _headers_then_silence(_req: Request, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
    await w.drain()
    await asyncio.sleep(30)


async def _rst(_req: Request, w: asyncio.StreamWriter) -> None:
    reset(w)


async def _rst_mid_body(_req: Request, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    await w.drain()
    await asyncio.sleep(0.05)
    reset(w)


async def _close(_req: Request, w: asyncio.StreamWriter) -> None:
    w.close()


async def _endless(_req: Request, w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (MiB, b"a" * MiB)
    for _ in range(100):  # 100 MB at most, long after the client's cap
        w.write(chunk)
        await w.drain()


def _bomb_route(layers: int) -> Handler:
    body = fx.stacked_gzip(fx.gzip_bomb(100 * MiB), layers - 1)
    return send(response(200, body, {"Content-Encoding": ", ".join(["gzip"] * layers)}))


def _silent_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts into the backlog, never answers: a TLS handshake that stalls
    return sock, sock.getsockname()[1]


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class FakeResolver(AbstractResolver):
    """Answers from a table; ``None`` means NXDOMAIN, ``"hang"`` never answers."""

    def __init__(self, table: dict[str, list[str] | str | None]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append(host)
        answer = self.table.get(host)
        if answer == "hang":
            await asyncio.sleep(30)
        if not isinstance(answer, list):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        results: list[ResolveResult] = []
        for addr in answer:
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            results.append({"hostname": host, "host": addr, "port": port, "family": fam, "proto": 0, "flags": 0})
        return results

    async def close(self) -> None:
        return None


# ---------------------------------------------------------------------------------------------------------
# Checks


def is_fetched(body: bytes | None = None, length: int | None = None) -> Check:
    def check(r: object, _h: Harness) -> bool:
        if not isinstance(r, Fetched):
            return False
        return (body is None or r.body == body) and (length is None or len(r.body) == length)

    return check


def error_says(text: str, *, permanent: bool | None = None, status: int | None = None) -> Check:
    def check(r: object, _h: Harness) -> bool:
        if not isinstance(r, FetchError) or text not in str(r):
            return False
        return (permanent is None or r.permanent == permanent) and (status is None or r.status == status)

    return check


def retry_after(low: float, high: float, status: int) -> Check:
    def check(r: object, _h: Harness) -> bool:
        return (
            isinstance(r, FetchError)
            and r.status == status
            and r.retry_after is not None
            and low <= r.retry_after <= high
            and not r.permanent
        )

    return check


# ---------------------------------------------------------------------------------------------------------
# The cases


def _get(path: str) -> Callable[[Harness], Awaitable[object]]:
    async def run(h: Harness) -> object:
        return await h.http.fetch_feed(h.url(path))

    return run


def _page(path: str) -> Callable[[Harness], Awaitable[object]]:
    async def run(h: Harness) -> object:
        return await h.http.fetch_page(h.url(path))

    return run


def fetch_cases() -> list[Case]:
    small = b"<rss>" + b"news " * 2000 + b"</rss>"
    date_in_an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    cases = [
        Case(
            "gzip bomb 100 MB (1000:1)",
            "A9",
            ("FetchError",),
            _get("/bomb"),
            error_says("larger than"),
            {"/bomb": _bomb_route(1)},
        ),
        Case(
            "stacked gzip, gzip bomb",
            "A9",
            ("FetchError",),
            _get("/bomb2"),
            error_says("larger than"),
            {"/bomb2": _bomb_route(2)},
        ),
        Case("gzip bomb as an article page", "A9", ("FetchError",), _page("/bomb"), error_says("larger than")),
        Case(
            "four stacked gzip layers, small body",
            "A9",
            ("ok",),
            _get("/gz4"),
            is_fetched(small),
            {"/gz4": send(response(200, fx.stacked_gzip(small, 4), {"Content-Encoding": "gzip, gzip, gzip, gzip"}))},
        ),
        Case(
            "six stacked encodings",
            "A9",
            ("FetchError",),
            _get("/gz6"),
            error_says("stacked", permanent=True),
            {"/gz6": send(response(200, fx.stacked_gzip(small, 6), {"Content-Encoding": ", ".join(["gzip"] * 6)}))},
        ),
        Case(
            "deflate (zlib)",
            "A9",
            ("ok",),
            _get("/deflate"),
            is_fetched(small),
            {"/deflate": send(response(200, zlib.compress(small), {"Content-Encoding": "deflate"}))},
        ),
        Case(
            "raw deflate",
            "A9",
            ("ok",),
            _get("/rawdeflate"),
            is_fetched(small),
            {"/rawdeflate": send(response(200, _raw_deflate(small), {"Content-Encoding": "deflate"}))},
        ),
        Case(
            "bomb in a 302 body",
            "A9",
            ("ok",),
            _get("/bomb302"),
            is_fetched(b"canary"),
            {"/bomb302": redirect("/done", body=fx.gzip_bomb(50 * MiB), headers={"Content-Encoding": "gzip"})},
        ),
        Case(
            "corrupt gzip",
            "A9",
            ("FetchError",),
            _get("/badgz"),
            error_says("corrupt"),
            {"/badgz": send(response(200, b"\x1f\x8b\x08\x00garbage-not-gzip", {"Content-Encoding": "gzip"}))},
        ),
        Case(
            "truncated gzip",
            "A9",
            ("FetchError",),
            _get("/cutgz"),
            error_says("truncated"),
            {"/cutgz": send(response(200, fx.stacked_gzip(small * 20, 1)[:200], {"Content-Encoding": "gzip"}))},
        ),
        Case(
            "unsupported Content-Encoding br",
            "A9",
            ("FetchError",),
            _get("/br"),
            error_says("unsupported"),
            {"/br": send(response(200, b"\x0b\x02\x80hello\x03", {"Content-Encoding": "br"}))},
        ),
        Case(
            "100 MB streamed body",
            "A8",
            ("FetchError",),
            _get("/endless"),
            error_says("larger than"),
            {"/endless": _endless},
        ),
        Case(
            "Content-Length 100 MB declared",
            "A8",
            ("FetchError",),
            _get("/bigcl"),
            error_says("Content-Length"),
            {"/bigcl": send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nabc")},
        ),
        Case(
            "body longer than Content-Length (keep-alive)",
            "A8",
            ("ok", "FetchError"),  # the bytes past Content-Length are cut off, or read as a bad next response
            _get("/longbody"),
            lambda r, h: is_fetched(b"0123456789")(r, h) or "0123456789" not in str(r),
            {"/longbody": send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"0123456789" * 100)},
        ),
        Case(
            "body longer than Content-Length (Connection: close)",
            "A8",
            ("FetchError",),
            _get("/longclose"),
            lambda r, _h: "invalid HTTP response" in str(r) and "0123456789" not in str(r),
            {
                "/longclose": send(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n" + b"0123456789" * 100
                )
            },
        ),
        Case(
            "body shorter than Content-Length",
            "A8",
            ("FetchError",),
            _get("/shortbody"),
            error_says(""),
            {"/shortbody": send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nshort")},
        ),
        Case(
            "drip 1 byte / 0.3 s", "A10", ("FetchError",), _get("/drip"), error_says("timed out"), {"/drip": _drip_body}
        ),
        Case(
            "drip header lines forever",
            "A10",
            ("FetchError",),
            _get("/driphead"),
            error_says("timed out"),
            {"/driphead": _drip_headers},
        ),
        Case(
            "accept, then silence",
            "A11",
            ("FetchError",),
            _get("/silence"),
            error_says("timed out"),
            {"/silence": _silence},
        ),
        Case(
            "headers, then silence",
            "A11",
            ("FetchError",),
            _get("/halfsilence"),
            error_says("timed out"),
            {"/halfsilence": _headers_then_silence},
        ),
        Case("RST at once", "A11", ("FetchError",), _get("/rst"), error_says(""), {"/rst": _rst}),
        Case("RST mid-body", "A11", ("FetchError",), _get("/rstbody"), error_says(""), {"/rstbody": _rst_mid_body}),
        Case("close without a response", "A11", ("FetchError",), _get("/close"), error_says(""), {"/close": _close}),
        Case(
            "not HTTP at all",
            "A11",
            ("FetchError",),
            _get("/garbage"),
            error_says(""),
            {"/garbage": send(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")},
        ),
        Case(
            "100 KB header line",
            "A11",
            ("FetchError",),
            _get("/hugeheader"),
            error_says(""),
            {"/hugeheader": send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n")},
        ),
        Case("connection refused", "A11", ("FetchError",), _refused, error_says("cannot connect")),
        Case("TLS handshake stall", "A11", ("FetchError",), _tls_stall, error_says("timed out")),
        Case("NXDOMAIN", "A11", ("FetchError",), _nxdomain, error_says("resolve")),
        Case("DNS timeout", "A11", ("FetchError",), _dns_hang, error_says("timed out")),
        Case(
            "429 Retry-After: 120",
            "A12",
            ("FetchError",),
            _get("/429"),
            retry_after(120, 120, 429),
            {"/429": send(response(429, b"", {"Retry-After": "120"}))},
        ),
        Case(
            "429 Retry-After: HTTP-date",
            "A12",
            ("FetchError",),
            _get("/429date"),
            retry_after(3500, 3600, 429),
            {"/429date": send(response(429, b"", {"Retry-After": date_in_an_hour}))},
        ),
        Case(
            "503 Retry-After: 30",
            "A12",
            ("FetchError",),
            _get("/503"),
            retry_after(30, 30, 503),
            {"/503": send(response(503, b"", {"Retry-After": "30"}))},
        ),
        Case(
            "503 without Retry-After",
            "A12",
            ("FetchError",),
            _get("/503bare"),
            error_says("HTTP 503", permanent=False, status=503),
            {"/503bare": send(response(503))},
        ),
        Case(
            "304 with ETag (conditional GET)", "A12", ("ok",), _conditional, _not_modified, {"/304": _conditional_route}
        ),
        Case(
            "404",
            "A12",
            ("FetchError",),
            _get("/404"),
            error_says("HTTP 404", permanent=True, status=404),
            {"/404": send(response(404))},
        ),
        Case(
            "410",
            "A12",
            ("FetchError",),
            _get("/410"),
            error_says("HTTP 410", permanent=True, status=410),
            {"/410": send(response(410))},
        ),
        Case(
            "500",
            "A12",
            ("FetchError",),
            _get("/500"),
            error_says("HTTP 500", permanent=False, status=500),
            {"/500": send(response(500))},
        ),
        Case(
            "redirect loop",
            "A13",
            ("FetchError",),
            _get("/loop1"),
            error_says("redirect loop"),
            {"/loop1": redirect("/loop2"), "/loop2": redirect("/loop1")},
        ),
        Case(
            f"more than {REDIRECTS} redirects",
            "A13",
            ("FetchError",),
            _get("/hop0"),
            error_says("redirects"),
            {f"/hop{i}": redirect(f"/hop{i + 1}") for i in range(6)},
        ),
        Case(
            "redirect to file:",
            "A13",
            ("FetchError",),
            _get("/tofile"),
            error_says("non-HTTP", permanent=True),
            {"/tofile": redirect("file:///etc/passwd")},
        ),
        Case(
            "redirect to ftp:",
            "A13",
            ("FetchError",),
            _get("/toftp"),
            error_says("non-HTTP", permanent=True),
            {"/toftp": redirect("ftp://127.0.0.1/feed.xml")},
        ),
        Case(
            "redirect to data:",
            "A13",
            ("FetchError",),
            _get("/todata"),
            error_says("non-HTTP", permanent=True),
            {"/todata": redirect("data:text/xml,<rss/>")},
        ),
        Case(
            "3xx without Location",
            "A13",
            ("FetchError",),
            _get("/noloc"),
            error_says("without Location"),
            {"/noloc": send(response(302))},
        ),
        Case(
            "HTML page where a feed was expected",
            "A4",
            ("ParseError",),
            _html_as_feed,
            lambda r, _h: "not a feed" in str(r),
            {"/html": send(response(200, fx.html_page(), {"Content-Type": "text/html"}))},
        ),
    ]
    return cases


def _raw_deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


async def _refused(h: Harness) -> object:
    return await h.http.fetch_feed(f"http://127.0.0.1:{_closed_port()}/feed")


async def _tls_stall(h: Harness) -> object:
    sock, port = _silent_port()
    try:
        return await h.http.fetch_feed(f"https://127.0.0.1:{port}/feed")
    finally:
        sock.close()


async def _with_resolver(h: Harness, table: dict[str, list[str] | str | None], url: str) -> object:
    async with Http(config(), timeout=TIMEOUT, concurrency=4, resolver=FakeResolver(table)) as http:
        return await http.fetch_feed(url)


async def _nxdomain(h: Harness) -> object:
    return await _with_resolver(h, {}, "http://nxdomain.test/feed")


async def _dns_hang(h: Harness) -> object:
    return await _with_resolver(h, {"slow.test": "hang"}, "http://slow.test/feed")


async def _conditional_route(req: Request, w: asyncio.StreamWriter) -> None:
    if req.headers.get("if-none-match") == '"v1"':
        w.write(response(304, b"", {"ETag": '"v1"', "Cache-Control": "public, max-age=300"}))
    else:
        w.write(response(200, b"<rss/>", {"ETag": '"v1"'}))


async def _conditional(h: Harness) -> object:
    return await h.http.fetch_feed(h.url("/304"), FeedState(url=h.url("/304"), etag='"v1"', last_modified="x"))


def _not_modified(r: object, _h: Harness) -> bool:
    return isinstance(r, NotModified) and r.etag == '"v1"' and r.max_age == 300 and r.last_modified == "x"


async def _html_as_feed(h: Harness) -> object:
    fetched = await h.http.fetch_feed(h.url("/html"))
    assert isinstance(fetched, Fetched)
    return await h.parse(fetched.body, fetched.content_type or "")


# -- isolation ------------------------------------------------------------------------------------------


def isolate_cases() -> list[Case]:
    def parse_of(
        make: Callable[[Harness], bytes], budget: float | None = None
    ) -> Callable[[Harness], Awaitable[object]]:
        async def run(h: Harness) -> object:
            return await h.parse(make(h), budget=budget if budget is not None else h.budget)

        return run

    def extract_of(make: Callable[[Harness], bytes]) -> Callable[[Harness], Awaitable[object]]:
        async def run(h: Harness) -> object:
            return await h.isolator.run(workloads.extract_page, make(h), budget=h.budget)

        return run

    def entries(n: int, small: int | None = None) -> Check:
        def check(r: object, h: Harness) -> bool:
            return not isinstance(r, ParsedFeed) or len(r.entries) == (n if h.full or small is None else small)

        return check

    def secret_absent(r: object, h: Harness) -> bool:
        return not isinstance(r, ParsedFeed) or "TOP-SECRET" not in repr(r)

    def killed(r: object, _h: Harness) -> bool:
        return "budget" in str(r)

    bounded = ("ok", "BudgetExceeded")
    return [
        Case(
            "feedparser#562 huge <author> (160 KB)",
            "A3",
            ("BudgetExceeded",),
            parse_of(lambda h: fx.author_redos()),
            killed,
        ),
        Case(
            "billion laughs (9x10)",
            "A2",
            ("ok", "ParseError", "BudgetExceeded"),
            parse_of(lambda h: fx.billion_laughs(), 5.0),
            lambda r, _h: "lollollol" not in repr(r),
        ),
        Case("XXE file:// entity", "A1", ("ok", "ParseError"), parse_of(_xxe_body, 5.0), secret_absent),
        Case(
            "deep nesting",
            "A7",
            bounded,
            parse_of(lambda h: fx.deep_nesting(50_000 if h.full else 5_000), 5.0),
            entries(1),
        ),
        Case(
            "many items",
            "A7",
            bounded,
            parse_of(lambda h: fx.many_items(10_000 if h.full else 1_000), 5.0),
            entries(10_000, 1_000),
        ),
        Case("5 MB description", "A7", bounded, parse_of(lambda h: fx.huge_description(), 5.0), entries(1)),
        Case("trafilatura#704 huge table", "A15", ("BudgetExceeded",), extract_of(lambda h: fx.huge_table()), killed),
        Case(
            "trafilatura#657 huge colspan", "A15", bounded, extract_of(lambda h: fx.huge_colspan()), lambda r, _h: True
        ),
        Case("worker spins forever", "F39", ("BudgetExceeded",), _call(workloads.spin, 3600.0), killed),
        Case(
            "worker allocates past its memory budget",
            "A7",
            ("BudgetExceeded",),
            _call(workloads.allocate, 4096),
            killed,
        ),
        Case(
            "worker SIGSEGV, pool respawns",
            "F43",
            ("ok",),
            _crash_then_work(workloads.segfault),
            lambda r, _h: r is True,
        ),
        Case(
            "worker SIGKILL (OOM killer), pool respawns",
            "F43",
            ("ok",),
            _crash_then_work(workloads.kill_self),
            lambda r, _h: r is True,
        ),
    ]


def _xxe_body(h: Harness) -> bytes:
    secret = h.workdir / "secret.txt"
    secret.write_text("TOP-SECRET")
    return fx.xxe(str(secret))


def _call(fn: Callable[..., object], *args: object) -> Callable[[Harness], Awaitable[object]]:
    async def run(h: Harness) -> object:
        return await h.isolator.run(fn, *args, budget=h.budget)

    return run


def _crash_then_work(fn: Callable[[], None]) -> Callable[[Harness], Awaitable[object]]:
    async def run(h: Harness) -> object:
        try:
            await h.isolator.run(fn, budget=h.budget)
        except MonitorError as e:
            if "died" not in str(e):
                raise
        else:
            return False
        return await h.isolator.run(workloads.echo, True, budget=h.budget)

    return run


def all_cases() -> list[Case]:
    return fetch_cases() + isolate_cases()


def routes(cases: list[Case]) -> dict[str, Handler]:
    merged: dict[str, Handler] = {"/done": send(response(200, b"canary"))}
    for case in cases:
        merged.update(case.routes)
    return merged
