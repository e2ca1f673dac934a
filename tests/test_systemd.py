"""systemd integration: the unit passes `systemd-analyze verify` (silently) and `security --threshold=25`;
the daemon speaks sd_notify (READY=1, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1) on a socket we bind."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from .test_reload import Running, serve_feeds, write_config

UNIT = Path(__file__).parent.parent / "systemd" / "news-monitor.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def unit_copy(tmp_path: Path, extra: str = "") -> Path:
    """The unit with ExecStart paths pointing at a binary that exists here (verify checks they do)."""
    text = UNIT.read_text(encoding="utf-8").replace("/opt/news-monitor/.venv/bin/news-monitor", sys.executable)
    if extra:
        text = text.replace("[Service]\n", f"[Service]\n{extra}\n", 1)
    path = tmp_path / "news-monitor.service"
    path.write_text(text, encoding="utf-8")
    return path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, timeout=60)


@needs_analyze
def test_unit_verifies_without_any_output(tmp_path: Path) -> None:
    result = analyze("verify", str(unit_copy(tmp_path)))
    # verify exits 0 even on unknown keys, so any output at all is a failure.
    assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result.stdout + result.stderr
    # The check can fail: a misspelt key is reported.
    bad = analyze("verify", str(unit_copy(tmp_path, "WatchdogSecs=60s")))
    assert "WatchdogSecs" in bad.stdout + bad.stderr


@needs_analyze
def test_unit_exposure_is_below_threshold(tmp_path: Path) -> None:
    result = analyze("security", "--offline=true", "--threshold=25", str(unit_copy(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert score is not None, result.stdout
    assert float(score.group(1)) <= 2.5, result.stdout


def test_unit_has_the_pieces_the_issue_asks_for() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for key in (
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=",
        "ConfigurationDirectory=",
        "EnvironmentFile=",
    ):
        assert key in text, key
    # The hardening block: every directive sits under a comment (a group of related lines shares one).
    block = text.split("# Hardening", 1)[1].split("[Install]", 1)[0].strip().splitlines()[1:]
    for i, line in enumerate(block):
        if line and not line.startswith("#"):
            above = i - 1
            while above >= 0 and block[above] and not block[above].startswith("#"):
                above -= 1
            assert above >= 0 and block[above].startswith("#"), f"no comment above {line!r}"


def test_sd_notify_ready_status_watchdog_reload_stopping(tmp_path: Path, httpserver: HTTPServer) -> None:
    serve_feeds(httpserver, "alpha")
    config = tmp_path / "monitor.yaml"
    write_config(config, httpserver, ("alpha",))
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(1.0)
    messages: list[str] = []

    def wait_for(text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(4096).decode()
            except TimeoutError:
                continue
            messages.append(data)
            if text in data:
                return data
        raise AssertionError(f"no {text!r} within {timeout}s; got {messages}")

    daemon = Running(config, {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
    try:
        ready = wait_for("READY=1")
        assert re.search(r"STATUS=polling 1 feeds, \d+ failing, \d+ alerts pending", ready), ready
        # WATCHDOG_USEC=1 s: pings every half second from the event loop.
        first = time.monotonic()
        wait_for("WATCHDOG=1", timeout=5)
        wait_for("WATCHDOG=1", timeout=5)
        wait_for("WATCHDOG=1", timeout=5)
        assert time.monotonic() - first < 5
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for("RELOADING=1", timeout=10)
        wait_for("READY=1", timeout=10)
        daemon.proc.send_signal(signal.SIGTERM)
        wait_for("STOPPING=1", timeout=10)
        assert daemon.stop() == 0, daemon.log()
    finally:
        daemon.kill()
        sock.close()
