"""With DEBUG logging and every target failing, no secret from the config shows up in logs, DB or errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import load_config
from monitor.errors import NotifyError
from monitor.log import setup_logging
from monitor.notify import Notifier
from monitor.store import Store
from monitor.types import Alert, Article, Match
from tests.receivers import Reply, SmtpSink, Webhook

SECRETS = {
    "HOOK_PASS": "hookPassw0rdXYZ",
    "SMTP_PASSWORD": "smtpPassw0rdQRS",
    "SLACK_TOKEN": "T0AB/B0CD/slackTok3nABC",
}


def test_no_secret_in_logs_db_or_errors(tmp_path: Path) -> None:
    with Webhook() as hook, SmtpSink() as smtp:
        # Hostile receivers: they echo the credentials they got back in their error bodies.
        hook.default = Reply(401, body=b"bad password hookPassw0rdXYZ for T0AB/B0CD/slackTok3nABC")
        db = tmp_path / "monitor.db"
        config_path = tmp_path / "monitor.yaml"
        config_path.write_text(
            f"database: {db}\n"
            "targets:\n"
            f"  hook: json://bot:${{HOOK_PASS}}@127.0.0.1:{hook.port}/hook\n"
            f"  chat: json://127.0.0.1:{hook.port}/services/${{SLACK_TOKEN}}\n"
            f"  mail: mailto://alerts:${{SMTP_PASSWORD}}@127.0.0.1:{smtp.port}?from=a@example.org&to=b@example.org\n"
            "delivery: {timeout: 5s}\n"
        )
        store = Store.open(db)
        targets = ["hook", "chat", "mail"]
        article = Article(
            url="https://news.example.org/a",
            link="https://news.example.org/a",
            title="Rare earths pact",
            text="Tokyo and Washington agreed a rare earths deal.",
            feed_url="https://news.example.org/feed.xml",
            feed_name="Example News",
            entry_key="a",
        )
        store.record_article(
            article, [Match(rule="r1", hits=(), snippet="rare earths deal")], {"r1": targets}, datetime.now(UTC)
        )
        store.close()

        env = {**os.environ, **SECRETS}
        outputs: list[str] = []
        for args in (["once"], *(["notify-test", t] for t in targets), ["status"], ["check"]):
            cmd = [sys.executable, "-m", "monitor", "--config", str(config_path), "--log-level", "DEBUG", *args]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
            outputs.append(proc.stdout + proc.stderr)
        logs = "\n".join(outputs)
        assert "notification" in logs or "HTTP 401" in logs  # the failures were logged at all
        assert smtp.messages == [] and len(hook.requests) >= 2

        # Exception text, straight from the library (the CLI registers secrets for masking; do the same).
        config = load_config(config_path, env=env)
        setup_logging("WARNING", config.secrets)
        notifier = Notifier(config.targets, timeout=5)
        errors: list[str] = []
        for target in targets:
            alert = Alert(1, "r1", target, 1, 1, "t", "https://x.example/", "feed", "snippet")
            try:
                asyncio.run(notifier.send(alert))
            except NotifyError as e:
                errors.append(f"{e!s} {e!r} {notifier.describe(target)}")
        assert len(errors) == 3

        stored = b"".join(p.read_bytes() for p in tmp_path.glob("monitor.db*"))
        for name, secret in SECRETS.items():
            for piece in {secret, *secret.split("/")} - {"T0AB", "B0CD"}:
                assert piece not in logs, f"{name} in logs"
                assert piece.encode() not in stored, f"{name} in the database"
                assert not any(piece in e for e in errors), f"{name} in an exception"
