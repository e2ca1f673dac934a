"""SIGTERM while a poll hangs (a feed server that accepts and never answers) and while a delivery hangs (a
webhook that holds the request): the daemon exits 0 within 30 s and the outbox is consistent afterwards."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from .receivers import Reply, Webhook
from .test_reload import Running, serve_feeds, write_config

EXIT_WITHIN = 30.0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A listening socket nobody accepts from: the kernel completes the handshake, no byte ever comes back."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"


def stop_timed(daemon: Running) -> tuple[int, float]:
    started = time.monotonic()
    code = daemon.stop(timeout=EXIT_WITHIN + 15)
    return code, time.monotonic() - started


def test_sigterm_during_a_hanging_poll(tmp_path: Path, httpserver: HTTPServer, silent_server: str) -> None:
    serve_feeds(httpserver, "alpha")
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha",))
    # The silent feed, with a poll deadline longer than the test's patience.
    text = config.read_text(encoding="utf-8").replace("timeout: 10s", "timeout: 120s")
    text = text.replace("feeds:\n", f'feeds:\n  - {{url: "{silent_server}", name: silent, full_text: false}}\n')
    config.write_text(text, encoding="utf-8")
    daemon = Running(config)
    try:
        daemon.wait_for(r"feed_polled feed=alpha status=ok")
        time.sleep(0)  # the silent poll is in flight: its connection is in the listen backlog
        code, took = stop_timed(daemon)
    finally:
        daemon.kill()
    assert code == 0, daemon.log()
    print(f"shutdown took {took:.1f}s")
    assert took < EXIT_WITHIN, (took, daemon.log())
    assert "daemon_stopped" in daemon.log()
    assert "Traceback" not in daemon.log()


def test_sigterm_during_a_hanging_delivery(tmp_path: Path, httpserver: HTTPServer) -> None:
    serve_feeds(httpserver, "alpha")
    config = tmp_path / "monitor.yaml"
    with Webhook() as hook:
        hook.default = Reply(hang=120)
        write_config(config, httpserver, ("alpha",), query="cocoa AND harvest")
        config.write_text(
            config.read_text(encoding="utf-8").replace("json://127.0.0.1:9/unused", hook.url()), encoding="utf-8"
        )
        daemon = Running(config)
        try:
            daemon.wait_for(r"article_matched rule=watch")
            hook.wait_for(1, timeout=30)  # the send is in flight and held
            code, took = stop_timed(daemon)
        finally:
            daemon.kill()
    assert code == 0, daemon.log()
    print(f"shutdown took {took:.1f}s")
    assert took < EXIT_WITHIN, (took, daemon.log())
    assert "Traceback" not in daemon.log()
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT rule, target, status FROM alerts").fetchall()
    # Exactly the one alert owed, still owed: it was never confirmed, so it is not marked sent.
    assert rows == [("watch", "me", "pending")] or rows == [("watch", "me", "retrying")], rows


def test_a_second_sigterm_after_the_loop_has_closed_is_ignored() -> None:
    # the daemon's last writes (store.close) come after the event loop and its signal handlers are gone
    import signal

    from monitor.daemon import _run_loop

    async def done() -> None:
        return None

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _run_loop(done())
        assert signal.getsignal(signal.SIGTERM) == signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
