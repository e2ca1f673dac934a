"""`replay`: the current rules over stored articles; nothing sent without --send, nothing sent twice with it."""

from __future__ import annotations

from pathlib import Path

from pytest_httpserver import HTTPServer

from .receivers import SmtpSink, Webhook
from .test_e2e import SEED_TITLE, _cli, _write_config, news_site  # noqa: F401  (news_site is a fixture)

NEW_RULE = """
  - name: cocoa-watch
    query: cocoa
    notify: [team-chat]
"""


def test_replay_lists_then_sends_once(
    tmp_path: Path,
    news_site: HTTPServer,  # noqa: F811
    webhook: Webhook,
    smtp_sink: SmtpSink,
) -> None:
    config = _write_config(tmp_path, news_site, webhook, smtp_sink)
    assert _cli(config, "once").returncode == 0
    posts_after_poll = len(webhook.requests)  # the seed story's rare-earth alert
    assert posts_after_poll == 1

    config.write_text(config.read_text(encoding="utf-8") + NEW_RULE, encoding="utf-8")
    dry = _cli(config, "replay", "--since", "7d")
    assert dry.returncode == 0, dry.stderr
    cocoa_lines = [line for line in dry.stdout.splitlines() if "cocoa-watch" in line]
    assert len(cocoa_lines) == 3 and all("would alert" in line for line in cocoa_lines)
    assert any("rare-earth-deals" in line and "already alerted" in line for line in dry.stdout.splitlines())
    assert SEED_TITLE in dry.stdout
    assert len(webhook.requests) == posts_after_poll  # a dry run sends nothing

    sent = _cli(config, "replay", "--since", "7d", "--rule", "cocoa-watch", "--send")
    assert sent.returncode == 0, sent.stderr
    assert "3 alerts queued and delivered" in sent.stderr
    new_posts = webhook.requests[posts_after_poll:]
    assert len(new_posts) == 3 and all("cocoa-watch" in p.json()["message"] for p in new_posts)

    again = _cli(config, "replay", "--since", "7d", "--send")
    assert again.returncode == 0, again.stderr
    assert len(webhook.requests) == posts_after_poll + 3  # nothing already sent goes out again
    assert "0 new matches" in again.stderr

    unknown = _cli(config, "replay", "--rule", "nope")
    assert unknown.returncode == 2 and "no rule named 'nope'" in unknown.stderr
