"""notify.py against real receivers (aiosmtpd through apprise mailto://, an HTTP receiver through json://)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import TargetConfig, TemplateConfig, load_config
from monitor.errors import ConfigError, NotifyError
from monitor.notify import (
    Notifier,
    Template,
    escape_text,
    parse_retry_after,
    render_alert,
    render_digest,
)
from monitor.types import Alert
from tests.receivers import Reply, SmtpSink, Webhook

HOSTILE = "Japan & US <b>sign</b> rare-earth pact_*[1](x)~`>#+-=|{}.!\\ <!channel> <https://x|y> &amp;"
SNIPPET = "Tokyo and Washington agreed a rare earths deal on Monday."


def make_alert(**kw: object) -> Alert:
    base = Alert(
        id=1,
        rule="rare-earth-deals",
        target="mail",
        story_id=1,
        article_id=1,
        title="Japan and US sign rare earths pact",
        url="https://news.example.org/story?id=1&src=rss",
        feed_name="Example Business",
        snippet=SNIPPET,
        highlights=((30, 41), (42, 46)),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.stack: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(a for a, _ in attrs)
        if tag not in ("br", "img", "hr"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def tags_of(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    return p


# -- rendering -----------------------------------------------------------------------------------------------


def test_text_message_has_headline_source_link_rule_snippet_and_notes() -> None:
    title, body = render_alert(make_alert(extracted=False, sources=3), "text")
    assert title == "rare-earth-deals: Japan and US sign rare earths pact"
    assert "Example Business (+2 other sources)" in body
    assert "https://news.example.org/story?id=1&src=rss" in body
    assert "Rule: rare-earth-deals" in body
    assert "agreed a *rare earths* *deal* on Monday." in body
    assert "extracted from the feed summary" in body
    _, plain = render_alert(make_alert(), "text")
    assert "feed summary" not in plain and "other source" not in plain


def test_html_escapes_untrusted_fields() -> None:
    evil = make_alert(
        title="<img src=x onerror=alert(1)></title><script>alert(2)</script>",
        url="javascript:alert(3)",
        snippet='<script>x</script><a href="y" onclick="z">',
        highlights=(),
        feed_name="<svg onload=1>",
    )
    _, body = render_alert(evil, "html")
    parsed = tags_of(body)
    assert not {"script", "img", "svg", "a"} & set(parsed.tags)
    assert not [a for a in parsed.attrs if a.startswith("on")]
    assert parsed.balanced
    assert "javascript:" not in body  # an unsafe link is dropped; the title stays as text


def test_slack_escaping_keeps_mentions_and_links_literal() -> None:
    _, body = render_alert(make_alert(title="<!channel> <https://x|y> &amp;"), "slack")
    assert "&lt;!channel&gt; &lt;https://x|y&gt; &amp;amp;" in body
    assert "<!channel>" not in body


def _unescaped_telegram(text: str) -> str:
    return re.sub(r"\\.", "", text)


@given(st.text(max_size=200))
def test_telegram_escaping_leaves_no_reserved_character(text: str) -> None:
    assert not re.search(r"[_*\[\]()~`>#+\-=|{}.!\\]", _unescaped_telegram(escape_text(text, "telegram")))


def test_telegram_message_escapes_everything_outside_markup() -> None:
    _, body = render_alert(make_alert(title=HOSTILE, snippet=HOSTILE, highlights=((0, 5),)), "telegram")
    # Our own markup: *bold*, _italic_, [text](url), '>' quote at line start. Everything else is escaped.
    stripped = _unescaped_telegram(body)
    stripped = re.sub(r"\(https?://[^)\s]*\)", "", stripped)
    stripped = re.sub(r"(?m)^>", "", stripped)
    assert not re.search(r"[~`>#+\-=|{}.!\\()]", stripped), stripped


def test_markdown_escapes_title() -> None:
    _, body = render_alert(make_alert(title="*bold* [x](javascript:y)"), "markdown")
    assert r"\*bold\* \[x\]\(javascript:y\)" in body


def test_long_message_is_cut_to_the_limit_without_breaking_markup() -> None:
    long = make_alert(snippet=("rare earths deal " * 2000).strip(), highlights=((0, 11), (5000, 5011)))
    for fmt, limit in (("telegram", 4096), ("slack", 3000), ("html", 100_000)):
        _, body = render_alert(replace(long, snippet=long.snippet * (8 if fmt == "html" else 1)), fmt)
        assert len(body) <= limit
        assert "…" in body
        assert "Rule:" in body  # the end of the template survived
        if fmt == "html":
            assert tags_of(body).balanced
        else:
            assert body.count("*") % 2 == 0


def test_digest_groups_by_rule() -> None:
    alerts = [
        make_alert(id=1, rule="apec", title="Leaders meet"),
        make_alert(id=2, rule="rare-earth-deals", title="Pact signed"),
        make_alert(id=3, rule="apec", title="Trade talks"),
    ]
    title, body = render_digest("Digest: 3 stories", alerts, "text")
    assert title == "Digest: 3 stories"
    assert body.index("apec (2)") < body.index("Leaders meet") < body.index("Trade talks")
    assert "rare-earth-deals (1)" in body
    _, html = render_digest("Digest", alerts * 400, "html")
    assert tags_of(html).balanced


def test_user_template_and_sandbox_fallback(caplog: pytest.LogCaptureFixture) -> None:
    good = Template("[{{ rule }}] {{ title }}", "{{ title }} — {{ url }}")
    title, body = render_alert(make_alert(title="A & B"), "html", good)
    assert title == "[rare-earth-deals] A & B"
    assert body == "A &amp; B — https://news.example.org/story?id=1&amp;src=rss"
    for probe in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.format.__globals__['os'] }}",
        "{% for i in range(10**9) %}{% endfor %}",
        "{{ undefined_thing.attr }}",
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="monitor.notify"):
            _, body = render_alert(make_alert(), "text", Template("", probe))
        assert "Rule: rare-earth-deals" in body  # the default template was used
        assert "template_failed" in caplog.text
    _, body = render_alert(make_alert(), "text", Template("", "{{ ''|attr('__class__') }}|{{ cycler.__init__ }}"))
    assert "class" not in body and "function" not in body


def test_template_syntax_error_is_a_config_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text("targets:\n  me:\n    urls: ['json://127.0.0.1:9/x']\n    template:\n      body: '{{ title '\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == 5 and "template" in str(err.value)


# -- sending through apprise to real receivers ----------------------------------------------------------------


def test_email_through_apprise_to_aiosmtpd(smtp_sink: SmtpSink) -> None:
    notifier = Notifier({"mail": TargetConfig(urls=[smtp_sink.url()])}, timeout=10)
    assert notifier.format_of("mail") == "html"
    alert = make_alert(title="Pact <signed> & sealed", extracted=False, sources=2)
    run(notifier.send(alert))
    (mail,) = smtp_sink.wait_for(1, 10)
    assert mail.subject == "rare-earth-deals: Pact <signed> & sealed"
    html = mail.body("html")
    assert "Pact &lt;signed&gt; &amp; sealed" in html
    assert 'href="https://news.example.org/story?id=1&amp;src=rss"' in html
    assert "<b>rare earths</b>" in html and "+1 other source" in html and "feed summary" in html
    assert mail.rcpt_tos == ("analyst@example.org",)


def test_json_webhook_gets_the_text_rendering(webhook: Webhook) -> None:
    notifier = Notifier({"hook": TargetConfig(urls=[webhook.url()])}, timeout=10)
    alert = make_alert(target="hook")
    run(notifier.send(alert))
    (req,) = webhook.wait_for(1, 10)
    title, body = render_alert(alert, "text")
    assert req.json()["title"] == title and req.json()["message"] == body


def test_send_text_and_slack_format_via_webhook(webhook: Webhook) -> None:
    notifier = Notifier({"chat": TargetConfig(urls=[webhook.url()], format="slack")}, timeout=10)
    run(notifier.send_text("chat", "news-monitor test", "hello <world> & you"))
    (req,) = webhook.wait_for(1, 10)
    assert req.json()["message"] == "hello &lt;world&gt; &amp; you"


@pytest.mark.parametrize(
    ("reply", "permanent", "retry_after"),
    [
        (Reply(429, headers={"Retry-After": "7"}), False, 7.0),
        (Reply(429, body=b'{"ok":false,"error_code":429,"parameters":{"retry_after":12}}'), False, 12.0),
        (Reply(401), True, None),
        (Reply(403), True, None),
        (Reply(404), True, None),
        (Reply(400, body=b"can't parse entities"), True, None),
        (Reply(500), False, None),
        (Reply(503), False, None),
    ],
)
def test_failures_are_classified(webhook: Webhook, reply: Reply, permanent: bool, retry_after: float) -> None:
    notifier = Notifier({"hook": TargetConfig(urls=[webhook.url()])}, timeout=10)
    webhook.default = reply
    with pytest.raises(NotifyError) as err:
        run(notifier.send(make_alert(target="hook")))
    assert err.value.permanent is permanent
    assert err.value.retry_after == retry_after
    assert f"HTTP {reply.status}" in str(err.value) and err.value.target == "hook"


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, format_datetime(now, usegmt=True)) == 90.0
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("soon") is None


def test_a_hung_target_fails_within_the_timeout(webhook: Webhook) -> None:
    notifier = Notifier({"hook": TargetConfig(urls=[webhook.url()])}, timeout=1)
    webhook.default = Reply(hang=30)
    started = time.monotonic()
    with pytest.raises(NotifyError) as err:
        run(notifier.send(make_alert(target="hook")))
    assert time.monotonic() - started < 10
    assert not err.value.permanent


def test_smtp_refusal_is_a_failure(smtp_sink: SmtpSink) -> None:
    smtp_sink.reply = "451 try again later"
    notifier = Notifier({"mail": TargetConfig(urls=[smtp_sink.url()])}, timeout=10)
    with pytest.raises(NotifyError) as err:
        run(notifier.send(make_alert()))
    assert not err.value.permanent and smtp_sink.messages == []


def test_bad_urls_are_config_errors_without_secrets() -> None:
    with pytest.raises(ConfigError) as err:
        Notifier({"team": TargetConfig(urls=["nonsense://user:hunter2secret@host/x"])})
    assert "team" in str(err.value) and "hunter2secret" not in str(err.value)


def test_secrets_stay_out_of_error_text(webhook: Webhook) -> None:
    secret = "tok3nS3cretValue"
    url = webhook.url() + f"?user=bot&pass={secret}"
    notifier = Notifier({"hook": TargetConfig(urls=[url])}, timeout=10)
    webhook.default = Reply(401, body=secret.encode())
    with pytest.raises(NotifyError) as err:
        run(notifier.send(make_alert(target="hook")))
    assert secret not in str(err.value) and secret not in notifier.describe("hook")


def test_target_template_from_config(webhook: Webhook) -> None:
    spec = TargetConfig(urls=[webhook.url()], template=TemplateConfig(title="NEWS {{ title }}"))
    run(Notifier({"hook": spec}, timeout=10).send(make_alert(target="hook")))
    assert webhook.wait_for(1, 10)[0].json()["title"] == "NEWS Japan and US sign rare earths pact"


def test_cli_notify_test_reports_success_and_failure(tmp_path: Path, webhook: Webhook) -> None:
    import subprocess
    import sys

    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: {tmp_path / 'db.sqlite'}\ntargets:\n  hook: {webhook.url()}\n  down: json://127.0.0.1:9/x\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "monitor", "--config", str(config), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    ok = cli("notify-test", "hook")
    assert ok.returncode == 0 and "sent to hook" in ok.stdout
    assert "test message" in webhook.wait_for(1)[0].json()["message"]
    down = cli("notify-test", "down")
    assert down.returncode == 1 and "failed (transient)" in down.stderr
    assert cli("notify-test", "nope").returncode == 2


def test_a_rules_own_template_wins_over_the_targets(webhook: Webhook) -> None:
    spec = TargetConfig(urls=[webhook.url()], template=TemplateConfig(title="target: {{ title }}"))
    rule_template = TemplateConfig(title="[{{ rule }}] {{ title }}", body="{{ feed }} / {{ url }}")
    notifier = Notifier({"hook": spec}, timeout=10, rule_templates={"rare-earth-deals": rule_template})
    run(notifier.send(make_alert(target="hook")))
    run(notifier.send(make_alert(target="hook", rule="other")))
    first, second = (r.json() for r in webhook.wait_for(2, 10))
    assert first["title"] == "[rare-earth-deals] Japan and US sign rare earths pact"
    assert first["message"] == "Example Business / https://news.example.org/story?id=1&src=rss"
    assert second["title"] == "target: Japan and US sign rare earths pact"


def test_rule_template_syntax_error_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"rules\.r\.template"):
        Notifier(
            {"hook": TargetConfig(urls=["json://127.0.0.1:9/x"])},
            rule_templates={"r": TemplateConfig.model_construct(title="{{ broken", body=None)},
        )
