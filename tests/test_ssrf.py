"""Address guard (RELIABILITY.md part B): untrusted links never reach the canary on 127.0.0.1.

The canary counts every accepted connection. A stand-in "public" server listens on 127.0.0.2 (opened with
``allow_networks: [127.0.0.2/32]``) so redirects and DNS answers can come from an allowed host while all
traffic stays on loopback. Vectors that name non-loopback addresses (metadata, 10/8, 6to4...) are checked
without connecting: the guard refuses them before any socket exists.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import pytest

from monitor.config import FetchConfig
from monitor.errors import BlockedAddressError, FetchError
from monitor.fetch import GuardedResolver, Http, blocked_reason, check_untrusted_url
from tests.hostile.cases import FakeResolver
from tests.hostile.server import Server, redirect_to, serving

PUBLIC = "127.0.0.2"  # stands in for a public address: the only network the tests open

SPELLINGS = [
    "http://127.0.0.1:{p}/",
    "http://localhost:{p}/",
    "http://localhost.:{p}/",
    "http://LOCALHOST:{p}/",
    "HTTP://127.0.0.1:{p}/",
    "https://127.0.0.1:{p}/",
    "http://127.127.127.127:{p}/",
    "http://0.0.0.0:{p}/",
    "http://0:{p}/",
    "http://[::1]:{p}/",
    "http://[::]:{p}/",
    "http://[::ffff:127.0.0.1]:{p}/",
    "http://[::ffff:7f00:1]:{p}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/",
    "http://[::127.0.0.1]:{p}/",
    "http://2130706433:{p}/",
    "http://0x7f000001:{p}/",
    "http://017700000001:{p}/",
    "http://127.1:{p}/",
    "http://127.0.1:{p}/",
    "http://0177.0.0.1:{p}/",
    "http://0x7f.0.0.1:{p}/",
    "http://127.000.000.001:{p}/",
    "http://127.0.0.1:{p}\\@example.com/",
    "http://example.com@127.0.0.1:{p}/",
    "http://user:pass@127.0.0.1:{p}/",
    "http://%31%32%37.0.0.1:{p}/",
    "http://127.0.0.1:{p}/%2e%2e/",
    "http://internal.test:{p}/",  # fake DNS: 127.0.0.1
    "http://mixed.test:{p}/",  # fake DNS: one allowed and one loopback address
    "http://v6.test:{p}/",  # fake DNS: ::ffff:127.0.0.1
]

REDIRECTS = [
    "http://127.0.0.1:{p}/",
    "http://localhost:{p}/",
    "http://2130706433:{p}/",
    "http://[::ffff:127.0.0.1]:{p}/",
    "//127.0.0.1:{p}/",
    "http://internal.test:{p}/",
    "http://127.0.0.1:{p}\\@public.test/",
]


def dns() -> FakeResolver:
    return FakeResolver(
        {
            "localhost": ["127.0.0.1", "::1"],
            "localhost.": ["127.0.0.1", "::1"],
            "internal.test": ["127.0.0.1"],
            "mixed.test": [PUBLIC, "127.0.0.1"],
            "v6.test": ["::ffff:127.0.0.1"],
            "public.test": [PUBLIC],
        }
    )


def run_with_servers(body: Callable[[Server, Server], Awaitable[None]]) -> None:
    async def go() -> None:
        async with serving() as canary, serving(host=PUBLIC, port=canary.port) as public:
            await body(canary, public)

    asyncio.run(go())


def http(allow: list[str], resolver: FakeResolver | None = None) -> Http:
    cfg = FetchConfig(allow_networks=allow, max_redirects=3)
    return Http(cfg, timeout=2.0, concurrency=4, resolver=resolver or dns())


def test_spellings_and_userinfo_tricks_never_reach_the_canary() -> None:
    assert len(SPELLINGS) + len(REDIRECTS) + 1 >= 25
    refused: list[str] = []

    async def body(canary: Server, public: Server) -> None:
        async with http([f"{PUBLIC}/32"]) as client:
            for template in SPELLINGS:
                url = template.format(p=canary.port)
                with pytest.raises(FetchError) as info:
                    await client.fetch_page(url)
                assert info.value.permanent, (url, info.value)
                refused.append(url)
        assert canary.hits == 0

    run_with_servers(body)
    assert len(refused) == len(SPELLINGS)


@pytest.mark.parametrize("location", REDIRECTS)
def test_redirect_hops_are_checked(location: str) -> None:
    async def body(canary: Server, public: Server) -> None:
        public.routes["/r"] = redirect_to(location.format(p=canary.port))
        async with http([f"{PUBLIC}/32"]) as client:
            with pytest.raises(FetchError) as info:  # blocked, or (backslash) refused as an invalid Location
                await client.fetch_page(f"http://public.test:{public.port}/r")
            assert info.value.permanent
        assert public.hits == 1  # the first hop was allowed and made
        assert canary.hits == 0

    run_with_servers(body)


def test_dns_rebinding_is_blocked_at_connect() -> None:
    """The first answer is allowed, later ones point at loopback (TTL 0): the address connected to is the
    one checked, because the checking resolver is the one the connector uses."""
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"]])

    class Rebinding(FakeResolver):
        async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):  # type: ignore[no-untyped-def]
            self.table[host] = next(answers)
            return await super().resolve(host, port, family)

    async def body(canary: Server, public: Server) -> None:
        resolver = Rebinding({})
        async with http([f"{PUBLIC}/32"], resolver) as client:
            first = await client.fetch_page(f"http://rebind.test:{canary.port}/")
        assert first.body == b"canary" and public.hits == 1
        async with http([f"{PUBLIC}/32"], resolver) as client:  # a fresh connector: no DNS cache
            with pytest.raises(BlockedAddressError):
                await client.fetch_page(f"http://rebind.test:{canary.port}/")
        assert canary.hits == 0

    run_with_servers(body)


def test_system_resolver_for_localhost() -> None:
    """The same vectors through the system resolver (/etc/hosts; no name leaves the machine)."""

    async def body(canary: Server, public: Server) -> None:
        cfg = FetchConfig(allow_networks=[f"{PUBLIC}/32"])
        async with Http(cfg, timeout=2.0, concurrency=4) as client:
            for host in ("localhost", "localhost.", "127.1", "2130706433", "[::ffff:127.0.0.1]"):
                with pytest.raises(FetchError):  # blocked, or (localhost.) not resolvable here
                    await client.fetch_page(f"http://{host}:{canary.port}/")
        assert canary.hits == 0

    run_with_servers(body)


def test_allow_networks_opens_loopback_explicitly() -> None:
    async def body(canary: Server, public: Server) -> None:
        async with http(["127.0.0.0/8"]) as client:
            page = await client.fetch_page(f"http://127.0.0.1:{canary.port}/")
            assert page.body == b"canary"
            page = await client.fetch_page(f"http://internal.test:{canary.port}/x")
            assert page.body == b"canary"
        assert canary.hits == 2

    run_with_servers(body)


def test_feed_urls_from_the_config_are_trusted() -> None:
    async def body(canary: Server, public: Server) -> None:
        async with http([]) as client:
            feed = await client.fetch_feed(f"http://127.0.0.1:{canary.port}/feed")
        assert canary.hits == 1 and feed.status == 200  # type: ignore[union-attr]

    run_with_servers(body)


# -- without connecting: addresses that must never be a test's target -------------------------------------

BLOCKED = [
    "169.254.169.254",  # cloud metadata
    "fd00:ec2::254",  # AWS metadata over IPv6
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.254",
    "224.0.0.1",  # multicast
    "198.18.0.1",  # benchmarking
    "192.0.0.1",
    "192.0.2.1",  # TEST-NET-1
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "0.0.0.0",
    "fd00::1",
    "fe80::1",
    "ff02::1",
    "::",
    "::1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "2002:a9fe:a9fe::1",  # 6to4 around 169.254.169.254
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around the metadata address
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_addresses(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(BlockedAddressError):
        check_untrusted_url(f"http://{host}/latest/meta-data/")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_allow_networks_is_exact() -> None:
    allow = [ipaddress.ip_network("10.1.0.0/16")]
    assert blocked_reason(ipaddress.ip_address("10.1.2.3"), allow) is None
    assert blocked_reason(ipaddress.ip_address("10.2.0.1"), allow) is not None
    assert blocked_reason(ipaddress.ip_address("::ffff:10.1.2.3"), allow) is None


@pytest.mark.parametrize("answers", [["10.0.0.5"], ["93.184.216.34", "169.254.169.254"], ["fd00:ec2::254"]])
def test_resolver_refuses_any_private_answer(answers: list[str]) -> None:
    guarded = GuardedResolver(FakeResolver({"evil.test": answers}), [])
    with pytest.raises(BlockedAddressError):
        asyncio.run(guarded.resolve("evil.test", 80))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "data:text/html,x", "gopher://x/"])
def test_only_http_schemes(url: str) -> None:
    with pytest.raises(FetchError) as info:
        check_untrusted_url(url)
    assert info.value.permanent
