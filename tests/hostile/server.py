"""A raw-socket HTTP fixture server on loopback: drips, stalls, resets, bombs, redirects, and a hit counter.

Handlers write bytes themselves, so a test can send exactly what a hostile server would (a body longer than
its Content-Length, headers that never end, an RST mid-body). Every connection is counted, also the ones that
never get as far as a request line: that is what the canary needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Handler = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    hdrs = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class Server:
    """Routes by path; unknown paths get 200 "canary". ``hits`` counts accepted connections."""

    host: str = "127.0.0.1"
    port: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    hits: int = 0
    requests: list[Request] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=2**20)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.hits += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            first, *rest = head.decode("latin-1").split("\r\n")
            method, path, _ = [*first.split(" "), "", ""][:3]
            headers = {}
            for line in rest:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            request = Request(method, path, headers)
            self.requests.append(request)
            handler = self.routes.get(path.split("?")[0], _canary)
            await handler(request, writer)
            with contextlib.suppress(OSError):
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, TimeoutError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # stop() cancels handlers that are still dripping or stalling
        finally:
            self.active -= 1
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()
            self._tasks.discard(task)


async def _canary(request: Request, writer: asyncio.StreamWriter) -> None:
    writer.write(response(200, b"canary", {"Content-Type": "text/plain"}))


@contextlib.asynccontextmanager
async def serving(
    routes: dict[str, Handler] | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Server]:
    server = await Server(host=host, port=port, routes=dict(routes or {})).start()
    try:
        yield server
    finally:
        await server.stop()


def redirect_to(location: str, status: int = 302) -> Handler:
    async def handler(_req: Request, w: asyncio.StreamWriter) -> None:
        w.write(response(status, b"", {"Location": location}))

    return handler
