"""Http against a real loopback server: headers, conditional GET, limits; and the pure helpers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch import Http, parse_max_age, parse_retry_after
from monitor.types import FeedState, Fetched, NotModified
from tests.hostile.server import Request, Server, response, serving

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Thu, 01 Jan 2026 12:05:00 GMT", 300.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=300", 300.0),
        ("public, max-age=60, must-revalidate", 60.0),
        ("no-cache, max-age=60", None),
        ("no-store", None),
        ("private", None),
        ("max-age=abc", None),
        (None, None),
    ],
)
def test_parse_max_age(value: str | None, expected: float | None) -> None:
    assert parse_max_age(value) == expected


def run(body, cfg: FetchConfig | None = None, **routes):  # type: ignore[no-untyped-def]
    async def go() -> object:
        async with serving({f"/{k}": v for k, v in routes.items()}) as server:
            cfg_ = cfg or FetchConfig(user_agent="test-agent/1.0 (+contact)", allow_networks=["127.0.0.0/8"])
            async with Http(cfg_, timeout=2.0, concurrency=8) as http:
                return await body(http, server)

    return asyncio.run(go())


def test_user_agent_and_conditional_headers_are_sent() -> None:
    async def feed(req: Request, w: asyncio.StreamWriter) -> None:
        w.write(response(200, b"<rss/>", {"ETag": '"new"', "Last-Modified": "Wed, 31 Dec 2025 00:00:00 GMT"}))

    async def body(http: Http, server: Server) -> object:
        state = FeedState(url="x", etag='"old"', last_modified="Tue, 30 Dec 2025 00:00:00 GMT")
        result = await http.fetch_feed(server.base + "/feed", state)
        (req,) = server.requests
        assert req.headers["user-agent"] == "test-agent/1.0 (+contact)"
        assert req.headers["if-none-match"] == '"old"'
        assert req.headers["if-modified-since"] == "Tue, 30 Dec 2025 00:00:00 GMT"
        assert "gzip" in req.headers["accept-encoding"]
        return result

    result = run(body, feed=feed)
    assert isinstance(result, Fetched)
    assert result.etag == '"new"' and result.last_modified == "Wed, 31 Dec 2025 00:00:00 GMT"


def test_not_modified_keeps_validators_from_state() -> None:
    async def body(http: Http, server: Server) -> object:
        return await http.fetch_feed(server.base + "/nm", FeedState(url="x", etag='"e"'))

    result = run(body, nm=_send(response(304)))
    assert result == NotModified(url=result.url, etag='"e"', last_modified=None, max_age=None)  # type: ignore[union-attr]


def test_redirect_final_url() -> None:
    async def body(http: Http, server: Server) -> object:
        return await http.fetch_page(server.base + "/a")

    result = run(body, a=_send(response(301, b"", {"Location": "/b?x=1"})), b=_send(response(200, b"page")))
    assert isinstance(result, Fetched) and result.final_url.endswith("/b?x=1") and result.body == b"page"


def test_per_host_and_global_limits() -> None:
    async def slow(req: Request, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        w.write(response(200, b"ok"))

    async def body(http: Http, server: Server) -> object:
        await asyncio.gather(*(http.fetch_feed(server.base + f"/slow?{i}") for i in range(6)))
        return server.max_active

    cfg = FetchConfig(per_host=2)
    assert run(body, cfg, slow=slow) == 2

    async def body_global(http: Http, server: Server) -> object:
        # per_host is high here, so the global limit (concurrency=3) is the one that binds
        async with Http(FetchConfig(per_host=10), timeout=2.0, concurrency=3) as limited:
            await asyncio.gather(*(limited.fetch_feed(server.base + f"/slow?{i}") for i in range(9)))
        return server.max_active

    assert run(body_global, slow=slow) == 3


def test_cancelled_while_waiting_for_a_host_slot_keeps_the_limit_and_leaves_no_slot() -> None:
    async def slow(req: Request, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        w.write(response(200, b"ok"))

    async def body(http: Http, server: Server) -> object:
        first = asyncio.create_task(http.fetch_feed(server.base + "/slow?first"))
        queued = asyncio.create_task(http.fetch_feed(server.base + "/slow?queued"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while server.active < 1 and loop.time() < deadline:  # the first holds the host's only slot
            await asyncio.sleep(0.01)
        assert server.active == 1
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        # while the first still holds the slot: a cancelled waiter must not have freed a second one
        await asyncio.gather(first, *(http.fetch_feed(server.base + f"/slow?{i}") for i in range(3)))
        assert not http._hosts._slots  # type: ignore[union-attr]  # idle hosts are forgotten
        return server.max_active

    assert run(body, FetchConfig(per_host=1), slow=slow) == 1


def test_parsed_feed_urls_are_reused_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.fetch._TRUSTED_URLS", 2)

    async def body(http: Http, server: Server) -> object:
        statuses = []
        for path in ("/a", "/b", "/a", "/c", "/d"):
            result = await http.fetch_feed(server.base + path)
            assert isinstance(result, Fetched)
            statuses.append(result.status)
            assert len(http._trusted_urls) <= 2  # a reload that drops feeds cannot grow it without bound
        return statuses

    assert run(body) == [200] * 5


@pytest.mark.parametrize("url", ["", "not a url", "http://", "mailto:x@example.com", "http://[::1", "http://a b/"])
def test_bad_urls_are_fetch_errors(url: str) -> None:
    async def body(http: Http, server: Server) -> object:
        with pytest.raises(FetchError):
            await http.fetch_feed(url)
        with pytest.raises(FetchError):
            await http.fetch_page(url)
        return True

    assert run(body)


def test_close_is_idempotent_and_sessions_are_lazy() -> None:
    async def go() -> None:
        http = Http(FetchConfig(), timeout=1.0, concurrency=1)
        await http.close()
        await http.close()

    asyncio.run(go())


def _send(data: bytes):  # type: ignore[no-untyped-def]
    async def handler(_req: Request, w: asyncio.StreamWriter) -> None:
        w.write(data)

    return handler
