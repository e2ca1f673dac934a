"""HTTP for feeds (trusted URLs) and article pages (untrusted links): the only module that opens sockets.

Every fetch has a total deadline (``asyncio.timeout`` around connect, redirects and the whole body read, so a
server that drips a byte every few seconds is cut off), a cap on *decompressed* bytes (gzip bombs, stacked
``Content-Encoding``), a redirect cap, and accepts only http/https targets. Untrusted links go through an
address guard: the URL is checked for parser tricks, IP literals are checked directly, and host names are
resolved by a resolver that refuses the whole answer if any address is not allowed. The connection is made to
exactly the addresses that resolver returned, so DNS rebinding between check and connect is impossible, and
every redirect hop is checked again.

``Http`` returns ``Fetched`` / ``NotModified`` or raises ``FetchError`` (``BlockedAddressError``); every
library or network exception is mapped in ``_fetch_error``, one place, like miniflux's response handler.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re
import socket
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from monitor.config import FetchConfig
from monitor.errors import BlockedAddressError, FetchError, MonitorError
from monitor.types import FeedState, Fetched, NotModified

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
_PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"
# Cloud metadata endpoints: already link-local / ULA, named here so the reason says so.
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_OK = re.compile(r"^[A-Za-z0-9.\-_:\[\]]+$")
_TRUSTED_URLS = 4096  # parsed feed URLs kept per Http (about 0.8 KB each with yarl's cached parts)

# ---------------------------------------------------------------------------------------------------------
# Pure helpers (also used by the pipeline for backoff and scheduling)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP-date; None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_max_age(value: str | None) -> float | None:
    """``Cache-Control: max-age=N`` in seconds; None when absent or when caching is forbidden."""
    if not value:
        return None
    max_age: float | None = None
    for part in value.lower().split(","):
        name, _, arg = part.strip().partition("=")
        if name in ("no-cache", "no-store"):
            return None
        if name == "max-age" and arg.strip().strip('"').isdigit():
            max_age = float(int(arg.strip().strip('"')))
    return max_age


def blocked_reason(ip: IPAddress, allow: Sequence[Network] = ()) -> str | None:
    """Why an untrusted link may not reach ``ip`` (None when it may). ``allow`` opens named networks.

    IPv4 addresses embedded in IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, NAT64, Teredo) are judged as the IPv4
    address they lead to."""
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            candidates.append(ip.sixtofour)
        if ip.teredo is not None:
            candidates.append(ip.teredo[1])
        if ip in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if any(c in net for c in candidates for net in allow if c.version == net.version):
        return None
    for c in candidates:
        reason = _special(c)
        if reason:
            return f"{reason} address {c}" if c == ip else f"{reason} address {c} (inside {ip})"
    return None


def _special(ip: IPAddress) -> str | None:
    if ip in _METADATA:
        return "cloud metadata"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return name
    if not ip.is_global:  # 100.64.0.0/10 (carrier-grade NAT) and other non-global ranges
        return "non-global"
    return None


def check_untrusted_url(url: str, allow: Sequence[Network] = ()) -> URL:
    """Refuse URL tricks before anything is resolved; IP-literal hosts are judged here.

    Rejected: non-http(s) schemes, userinfo (``http://example.com@127.0.0.1/``), backslashes (parsers
    disagree on the host: ``http://127.0.0.1:80\\@example.com/``), percent-escapes or odd characters in
    the host, and numeric host spellings that are not canonical (``2130706433``, ``0x7f000001``, ``127.1``)."""
    if "\\" in url or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise BlockedAddressError("backslash, space or control character in URL", url=url)
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as e:
        raise FetchError("invalid URL", url=url, permanent=True) from e
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"not an http(s) URL ({parsed.scheme or 'no scheme'})", url=url, permanent=True)
    authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0] if "://" in url else ""
    if "@" in authority or parsed.user is not None or parsed.password is not None:
        raise BlockedAddressError("credentials in URL", url=url)
    host = parsed.raw_host or ""
    if not host or not _HOST_OK.match(host):
        raise BlockedAddressError("invalid host", url=url)
    literal = _ip_literal(host)
    if literal is not None:
        reason = blocked_reason(literal, allow)
        if reason:
            raise BlockedAddressError(reason, url=url)
    elif _numeric_spelling(host):
        raise BlockedAddressError("numeric host that is not a dotted-quad address", url=url)
    return parsed


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _numeric_spelling(host: str) -> bool:
    """Hosts that inet_aton would turn into an address: ``2130706433``, ``0x7f.1``, ``017700000001``."""
    labels = host.rstrip(".").split(".")
    return all(re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", label, re.I) for label in labels)


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and refuses the whole answer if any address is not allowed.

    The connector connects only to what this returns, so the checked address is the connected one."""

    def __init__(self, inner: AbstractResolver, allow: Sequence[Network]) -> None:
        self._inner = inner
        self._allow = tuple(allow)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if _numeric_spelling(host):
            raise BlockedAddressError("numeric host that is not a dotted-quad address", url=host)
        answers = await self._inner.resolve(host, port, family)
        if not answers:
            raise OSError(f"no address for {host}")
        for answer in answers:
            reason = blocked_reason(ipaddress.ip_address(answer["host"]), self._allow)
            if reason:
                raise BlockedAddressError(f"{host} resolves to {reason}", url=host)
        return answers

    async def close(self) -> None:
        await self._inner.close()


# ---------------------------------------------------------------------------------------------------------
# Streaming decompression with a cap on the decoded size


class _Body:
    """Applies the response's Content-Encoding layers and counts decoded bytes against ``cap``."""

    def __init__(self, codings: Sequence[str], cap: int, url: str) -> None:
        self._layers = [_Layer(c) for c in reversed(codings)]  # last applied is first undone
        self._cap = cap
        self._url = url
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, raw: bytes) -> None:
        pieces = [raw]
        for layer in self._layers:
            pieces = [out for piece in pieces for out in layer.feed(piece, self._cap, self._url)]
        for piece in pieces:
            self._size += len(piece)
            if self._size > self._cap:
                raise FetchError(f"body larger than {self._cap} bytes (decoded)", url=self._url)
            self._parts.append(piece)

    def finish(self) -> bytes:
        for layer in self._layers:
            if not layer.complete:
                raise FetchError(f"truncated {layer.coding} body", url=self._url)
        return b"".join(self._parts)


class _Layer:
    """One decoding layer with its own output cap, so a bomb cannot grow between layers either."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._wbits = 47 if coding in ("gzip", "x-gzip") else 15
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False
        self._size = 0

    @property
    def complete(self) -> bool:
        return self._obj.eof or not self._started

    def feed(self, data: bytes, cap: int, url: str) -> list[bytes]:
        out: list[bytes] = []
        while data:
            if self._obj.eof:  # another gzip member follows
                self._obj = zlib.decompressobj(self._wbits)
            try:
                piece = self._obj.decompress(data, _CHUNK)
            except zlib.error:
                if self._started or self.coding != "deflate":
                    raise
                self._wbits = -15  # some servers send raw deflate
                self._obj = zlib.decompressobj(self._wbits)
                piece = self._obj.decompress(data, _CHUNK)
            self._started = True
            self._size += len(piece)
            if self._size > cap:
                raise FetchError(f"body larger than {cap} bytes (decoded)", url=url)
            if piece:
                out.append(piece)
            data = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
        return out


def _codings(header: str | None, url: str) -> list[str]:
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    for c in codings:
        if c not in ("gzip", "x-gzip", "deflate"):
            raise FetchError(f"unsupported Content-Encoding {c!r}", url=url, permanent=True)
    if len(codings) > 4:
        raise FetchError("too many stacked Content-Encodings", url=url, permanent=True)
    return codings


# ---------------------------------------------------------------------------------------------------------
# The client


class _HostSlots:
    """Per-host semaphores that disappear when idle (untrusted links name unbounded numbers of hosts).

    ``acquire``/``release`` rather than a generator-based context manager: this is on every request, and
    ``@asynccontextmanager`` costs about 5 µs of the ~100 µs a keep-alive 304 takes."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, _Slot] = {}

    async def acquire(self, host: str) -> None:
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = _Slot(asyncio.Semaphore(self._per_host))
        slot.users += 1
        try:
            await slot.sem.acquire()
        except BaseException:  # cancelled (deadline, shutdown) while waiting: not holding, not using
            self._leave(host, slot)
            raise

    def release(self, host: str) -> None:
        slot = self._slots[host]
        slot.sem.release()
        self._leave(host, slot)

    def _leave(self, host: str, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            del self._slots[host]


class _Slot:
    __slots__ = ("sem", "users")

    def __init__(self, sem: asyncio.Semaphore) -> None:
        self.sem = sem
        self.users = 0


class Http:
    """One per process; an async context manager. Sessions are created lazily inside the running loop.

    Two connection pools: trusted feed URLs (any address, default resolver) and untrusted links (guarded
    resolver). They never share a connection, so a pooled connection to an internal feed host cannot carry
    an untrusted request."""

    def __init__(
        self,
        cfg: FetchConfig,
        *,
        timeout: float,
        concurrency: int,
        resolver: AbstractResolver | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._cfg = cfg
        self._timeout = timeout
        self._concurrency = concurrency
        self._resolver = resolver
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._global: asyncio.Semaphore | None = None
        self._hosts: _HostSlots | None = None
        # Feed URLs come from the config and are fetched every cycle: one yarl URL each, reused, so its cached
        # parts (host, port, origin...) are not recomputed by aiohttp per request (about 13 µs of a 304).
        self._trusted_urls: dict[str, URL] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def fetch_feed(self, url: str, state: FeedState | None = None) -> Fetched | NotModified:
        """A trusted feed URL from the config: conditional GET; 304 → ``NotModified``."""
        headers = {"Accept": _FEED_ACCEPT}
        if state is not None and state.etag:
            headers["If-None-Match"] = state.etag
        if state is not None and state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        result = await self._fetch(url, trusted=True, headers=headers)
        if isinstance(result, NotModified) and state is not None and not (result.etag and result.last_modified):
            return NotModified(
                url=url,
                etag=result.etag or state.etag,
                last_modified=result.last_modified or state.last_modified,
                max_age=result.max_age,
            )
        return result

    async def fetch_page(self, url: str) -> Fetched:
        """An untrusted link from a feed: only public addresses, unless ``fetch.allow_networks`` opens them."""
        result = await self._fetch(url, trusted=False, headers={"Accept": _PAGE_ACCEPT})
        if isinstance(result, NotModified):
            raise FetchError("unexpected 304 Not Modified", url=url, status=304)
        return result

    # -- internals -----------------------------------------------------------------------------------------

    def _session(self, trusted: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(trusted)
        if session is None:
            inner = self._resolver or aiohttp.ThreadedResolver()
            resolver = inner if trusted else GuardedResolver(inner, self._cfg.allow_networks)
            connector = aiohttp.TCPConnector(resolver=resolver, limit=self._concurrency, ttl_dns_cache=10)
            session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # we decode ourselves, counting decoded bytes against the cap
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # an environment proxy would bypass the address guard
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout),
                headers={"User-Agent": self._cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
            )
            self._sessions[trusted] = session
        return session

    async def _fetch(self, url: str, *, trusted: bool, headers: Mapping[str, str]) -> Fetched | NotModified:
        if self._global is None:
            self._global = asyncio.Semaphore(self._concurrency)
            self._hosts = _HostSlots(self._cfg.per_host)
        hosts = self._hosts
        assert hosts is not None
        current = url
        seen = {url}
        deadline: float | None = None
        try:
            for _hop in range(self._cfg.max_redirects + 1):
                target = self._check(current, trusted)
                host = target.host or ""
                await hosts.acquire(host)
                try:
                    async with self._global:
                        if deadline is None:  # the deadline starts with the first request, not in the queue
                            deadline = asyncio.get_running_loop().time() + self._timeout
                        async with asyncio.timeout_at(deadline):
                            outcome = await self._one(url, target, trusted, headers)
                finally:
                    hosts.release(host)
                if not isinstance(outcome, URL):
                    return outcome
                current = str(outcome)
                if current in seen:
                    raise FetchError("redirect loop", url=url)
                seen.add(current)
            raise FetchError(f"more than {self._cfg.max_redirects} redirects", url=url)
        except Exception as e:  # noqa: BLE001 - the contract: only FetchError leaves this module
            # aiohttp's parser errors quote the bytes it choked on: they stay out of our message
            quotes_body = isinstance(e, aiohttp.ClientResponseError | aiohttp.ClientPayloadError)
            raise _fetch_error(e, url) from (None if quotes_body else e)

    def _check(self, url: str, trusted: bool) -> URL:
        if not trusted:
            return check_untrusted_url(url, self._cfg.allow_networks)
        parsed = self._trusted_urls.get(url)
        if parsed is None:
            parsed = URL(url)
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise FetchError(f"not an http(s) URL: {parsed.scheme or 'no scheme'}", url=url, permanent=True)
            if len(self._trusted_urls) >= _TRUSTED_URLS:  # feeds removed by config reloads pile up: start over
                self._trusted_urls.clear()
            self._trusted_urls[url] = parsed
        return parsed

    async def _one(
        self, url: str, target: URL, trusted: bool, headers: Mapping[str, str]
    ) -> Fetched | NotModified | URL:
        """One request: a result, or the next URL to follow."""
        async with self._session(trusted).get(target, headers=headers, allow_redirects=False) as resp:
            status = resp.status
            if status in _REDIRECTS:
                location = resp.headers.get("Location")
                if not location:
                    raise FetchError(f"HTTP {status} without Location", url=url, status=status)
                try:
                    nxt = resp.url.join(URL(location))
                except (ValueError, TypeError) as e:
                    raise FetchError("invalid redirect Location", url=url, status=status, permanent=True) from e
                if nxt.scheme not in ("http", "https"):
                    raise FetchError(
                        f"redirect to a non-HTTP URL ({nxt.scheme or 'no scheme'})",
                        url=url,
                        status=status,
                        permanent=True,
                    )
                return nxt  # the redirect's body is never read (a bomb there costs nothing)
            if status == 304:
                return NotModified(
                    url=url,
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    max_age=parse_max_age(resp.headers.get("Cache-Control")),
                )
            if not 200 <= status < 300:
                raise _status_error(status, resp.headers, url, self._clock())
            body = await self._read(resp, url)
            return Fetched(
                url=url,
                final_url=str(resp.url),
                status=status,
                body=body,
                headers={k.lower(): v for k, v in resp.headers.items()},
                etag=resp.headers.get("ETag"),
                last_modified=resp.headers.get("Last-Modified"),
                content_type=resp.headers.get("Content-Type"),
            )

    async def _read(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        cap = self._cfg.max_bytes
        codings = _codings(resp.headers.get("Content-Encoding"), url)
        if not codings and resp.content_length is not None and resp.content_length > cap:
            raise FetchError(f"Content-Length {resp.content_length} is over the {cap}-byte cap", url=url)
        body = _Body(codings, cap, url)
        raw = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            raw += len(chunk)
            if raw > cap:
                raise FetchError(f"body larger than {cap} bytes", url=url)
            body.add(chunk)
        return body.finish()


def _status_error(status: int, headers: Mapping[str, str], url: str, now: datetime) -> FetchError:
    retry_after = parse_retry_after(headers.get("Retry-After"), now) if status in (429, 503) else None
    # 4xx will not heal by retrying soon, except a timeout (408) and rate limiting (429)
    permanent = 400 <= status < 500 and status not in (408, 429)
    return FetchError(f"HTTP {status}", url=url, status=status, retry_after=retry_after, permanent=permanent)


def _fetch_error(e: Exception, url: str) -> FetchError:
    """The one place where library and network exceptions become a ``FetchError``."""
    if isinstance(e, FetchError):
        return e
    if isinstance(e, MonitorError):
        return FetchError(str(e), url=url)
    if isinstance(e, TimeoutError):  # asyncio deadline, aiohttp's socket timeouts subclass it too
        return FetchError("timed out", url=url)
    if isinstance(e, aiohttp.ClientConnectorDNSError):
        return FetchError("cannot resolve host", url=url)
    if isinstance(e, aiohttp.ClientSSLError):
        return FetchError("TLS error", url=url)
    if isinstance(e, aiohttp.ClientConnectorError):
        return FetchError("cannot connect", url=url)
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return FetchError("server closed the connection", url=url)
    if isinstance(e, aiohttp.ClientPayloadError):
        return FetchError(f"broken response body ({_first_words(str(e))})", url=url)
    if isinstance(e, aiohttp.ClientResponseError):  # malformed status line or headers
        return FetchError(f"invalid HTTP response ({_first_words(e.message)})", url=url)
    if isinstance(e, aiohttp.InvalidURL):
        return FetchError("invalid URL", url=url, permanent=True)
    if isinstance(e, aiohttp.ClientError):
        return FetchError("HTTP client error", url=url)
    if isinstance(e, zlib.error):
        return FetchError("corrupt compressed body", url=url)
    if isinstance(e, OSError):
        return FetchError("network error", url=url)
    if isinstance(e, ValueError | UnicodeError | LookupError):
        return FetchError("invalid URL or response", url=url)
    return FetchError("unexpected fetch failure", url=url)


def _first_words(text: str) -> str:
    """The start of a library message, without the response bytes it may quote."""
    text = text.split("\n", 1)[0].split(":", 1)[0]
    return text[:80].strip() or "unparsable"
