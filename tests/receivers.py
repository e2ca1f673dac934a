"""Real notification receivers on 127.0.0.1 for tests: an aiosmtpd SMTP sink and a webhook receiver.

Both run in their own thread, record what they got (with timestamps) and offer ``wait_for(count, timeout)``
that waits on a condition with a deadline. Use them as context managers or through the ``smtp_sink`` and
``webhook`` fixtures (re-exported by tests/conftest.py).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class _Ledger:
    """A thread-safe list with a condition to wait on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[Any] = []

    def add(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self._items)

    def wait_for(self, count: int, timeout: float) -> list[Any]:
        """Wait until at least ``count`` items arrived; raise AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._items) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} items within {timeout}s, got {len(self._items)}")
                self._cond.wait(left)
            return list(self._items)


# ---------------------------------------------------------------------------------------------------------
# SMTP


@dataclass(frozen=True)
class Mail:
    at: float  # time.time() when the message was accepted
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def body(self, subtype: str = "plain") -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""  # type: ignore[no-any-return, attr-defined]


class SmtpSink:
    """aiosmtpd on 127.0.0.1; ``reply`` (e.g. "451 try later") makes it refuse messages; ``stall`` hangs DATA."""

    def __init__(self) -> None:
        self.ledger = _Ledger()
        self.reply: str | None = None
        self.release = threading.Event()  # set to end a stall
        self.stall = False
        self.port = 0
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[Mail]:
        return self.ledger.snapshot()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        result: list[Mail] = self.ledger.wait_for(count, timeout)
        return result

    def url(self, to: str = "analyst@example.org", sender: str = "monitor@example.org", **extra: str) -> str:
        """An apprise URL for plain SMTP (no TLS, no login) to this sink."""
        query = "&".join(f"{k}={v}" for k, v in {"from": sender, "to": to, **extra}.items())
        return f"mailto://{HOST}:{self.port}?{query}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall:
            # Bounded: the sink is closed at the end of the test, which sets release.
            import asyncio

            deadline = time.monotonic() + 60
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        if self.reply:
            return self.reply
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.ledger.add(Mail(time.time(), envelope.mail_from, tuple(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpSink:
        for _ in range(5):
            self.port = free_port()
            controller = Controller(self, hostname=HOST, port=self.port, ready_timeout=5)
            try:
                controller.start()
            except Exception:  # noqa: BLE001 - the port was taken between probe and bind; try another
                continue
            self._controller = controller
            return self
        raise RuntimeError("could not start the SMTP sink")

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        if self._controller is not None:
            self._controller.stop()


# ---------------------------------------------------------------------------------------------------------
# Webhook


@dataclass(frozen=True)
class Request:
    at: float  # time.time() when the request arrived
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to hold the request before answering (bounded; released on close)


class Webhook:
    """An HTTP receiver on 127.0.0.1. Answers with queued replies, then ``default``.

    ``webhook.then(Reply(429, headers={"Retry-After": "3"}))`` queues one reply; ``webhook.default = Reply(500)``
    changes all later ones; ``Reply(hang=30)`` holds the request (a hung target)."""

    def __init__(self) -> None:
        self.ledger = _Ledger()
        self.default = Reply()
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> list[Request]:
        return self.ledger.snapshot()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        result: list[Request] = self.ledger.wait_for(count, timeout)
        return result

    def then(self, *replies: Reply) -> Webhook:
        with self._lock:
            self._queue.extend(replies)
        return self

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        return f"{scheme}://{HOST}:{self.port}{path}"

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.pop(0) if self._queue else self.default

    def __enter__(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                hook.ledger.add(Request(time.time(), self.command, self.path, dict(self.headers), body))
                reply = hook._next_reply()
                if reply.hang:
                    hook.release.wait(reply.hang)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (timeout) or was killed: the request is recorded all the same

            do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> None:
    """Poll ``predicate`` until true; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook
