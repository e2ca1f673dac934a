"""Hot reload under a running daemon (`news-monitor run` as a subprocess): file edits and SIGHUP apply without a
restart; an invalid edit changes nothing and is logged with file and line. Helpers here are shared by the
systemd, shutdown and health integration tests."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

RSS = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{name}</title>'
    "<link>http://127.0.0.1/</link><description>t</description>"
    "<item><title>{name} item</title><guid isPermaLink='false'>{name}-1</guid>"
    "<description>Cocoa harvest news from {name}.</description></item></channel></rss>"
)

CONFIG = """\
# A comment that an OPML import must keep.
database: {db}
poll: {{interval: 1h, jitter: 0s, timeout: 10s}}
fetch: {{allow_networks: [127.0.0.0/8]}}
targets:
  me: "json://127.0.0.1:9/unused"
feeds:
{feeds}
rules:
  - name: watch
    query: '{query}'
    notify: [me]
{extra}"""


def feed_lines(server: HTTPServer, *names: str) -> str:
    return "".join(f'  - {{url: "{server.url_for(f"/{n}.xml")}", name: {n}, full_text: false}}\n' for n in names)


def serve_feeds(server: HTTPServer, *names: str) -> None:
    for n in names:
        server.expect_request(f"/{n}.xml").respond_with_data(RSS.format(name=n), content_type="application/rss+xml")


def write_config(
    path: Path, server: HTTPServer, names: tuple[str, ...], query: str = "rare AND earths", extra: str = ""
) -> None:
    text = CONFIG.format(db=path.parent / "monitor.db", feeds=feed_lines(server, *names), query=query, extra=extra)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # the watcher must never see a half-written file


class Running:
    """`news-monitor run` in a subprocess; its stderr (the log) is read line by line by a thread."""

    def __init__(self, config: Path, env: dict[str, str] | None = None, *args: str) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), *args, "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first log line from now on that matches ``pattern``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"daemon exited ({self.proc.wait()}) before {pattern!r}:\n" + self.log())
            self.lines.append(line)
            if m := regex.search(line):
                return m
        raise AssertionError(f"no log line matching {pattern!r} within {timeout}s:\n" + self.log())

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM; the exit code (fails if the daemon takes longer than ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        self._reader.join(timeout=5)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """Daemons a test started; killed at the end whatever happened."""
    started: list[Running] = []
    yield started
    for d in started:
        d.kill()


def test_file_edit_reloads_and_bad_edit_keeps_the_old_config(
    tmp_path: Path, httpserver: HTTPServer, running: list[Running]
) -> None:
    serve_feeds(httpserver, "alpha", "beta")
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha",))
    daemon = Running(config)
    running.append(daemon)
    daemon.wait_for(r"daemon_started feeds=1 rules=1")
    daemon.wait_for(r"feed_polled feed=alpha status=ok")

    # A good edit: one feed more, the rule's query changed.
    write_config(config, httpserver, ("alpha", "beta"), query="cocoa AND harvest")
    line = daemon.wait_for(r"config_reloaded .*", timeout=20).group(0)
    assert 'feeds="+1 -0 ~0"' in line and "rules_changed=watch" in line and "targets_changed=none" in line, line
    daemon.wait_for(r"feed_polled feed=beta status=ok", timeout=20)
    assert any(req.path == "/beta.xml" for req, _ in httpserver.log)

    # A bad edit (unknown key on line 13): rejected with file and line; the daemon keeps running.
    write_config(config, httpserver, ("alpha", "beta"), query="cocoa", extra="  - name: broken\n    qeury: x\n")
    bad = daemon.wait_for(r"reload_rejected .*", timeout=20).group(0)
    assert f"{config}:" in bad and re.search(r"monitor\.yaml:1[0-9]", bad), bad
    assert "previous config" in bad
    assert daemon.proc.poll() is None

    # The old config is still the one in force: removing a feed now shows as -1 against it (2 feeds).
    write_config(config, httpserver, ("alpha",), query="cocoa AND harvest")
    line = daemon.wait_for(r"config_reloaded .*", timeout=20).group(0)
    assert 'feeds="+0 -1 ~0"' in line and "rules_changed=none" in line, line
    assert daemon.stop() == 0, daemon.log()


def test_sighup_reloads_without_a_file_change_being_noticed(
    tmp_path: Path, httpserver: HTTPServer, running: list[Running]
) -> None:
    serve_feeds(httpserver, "alpha")
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha",), query="cocoa AND harvest")
    daemon = Running(config)
    running.append(daemon)
    daemon.wait_for(r"daemon_started")
    stat = config.stat()
    # Same size and mtime: the file watcher cannot see this edit; only SIGHUP (systemctl reload) applies it.
    write_config(config, httpserver, ("alpha",), query="cocoa AND harvesT")
    assert config.stat().st_size == stat.st_size
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    daemon.proc.send_signal(signal.SIGHUP)
    line = daemon.wait_for(r"config_reloaded .*", timeout=20).group(0)
    assert "rules_changed=watch" in line, line
    # An invalid edit by SIGHUP: rejected, still running, and a later SIGTERM is a clean exit.
    stat = config.stat()
    config.write_text(config.read_text(encoding="utf-8").replace("poll:", "pool:"), encoding="utf-8")
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    daemon.proc.send_signal(signal.SIGHUP)
    bad = daemon.wait_for(r"reload_rejected .*", timeout=20).group(0)
    assert f"{config}:3" in bad, bad
    assert daemon.stop() == 0, daemon.log()
