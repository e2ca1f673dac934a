"""Render alerts (sandboxed Jinja2, escaped per format) and send them through apprise.

This is the only module that imports apprise. Rendering is pure: ``render_alert`` and ``render_digest`` take
values and return ``(title, body)``. Sending runs apprise (synchronous) in a thread with a deadline, so a hung
target cannot block the event loop, and turns a falsy apprise result into a classified ``NotifyError``:
``permanent`` for answers that retrying will not change (400, 401, 403, 404, 410, 413, 422, no service),
``retry_after`` when the target said when to come back (429 Retry-After, Telegram's ``retry_after``).

apprise does not report HTTP status codes or headers, and its DEBUG log has printed tokens. So we never raise
its logger above WARNING; instead a thin wrapper on ``requests.Session.send`` records (status, Retry-After,
Date, body head) of failed responses into a context variable that only a send of ours sets. apprise copies the
caller's context into its worker threads, so the record reaches us and no other caller is affected.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from monitor.config import Config, TargetConfig, TemplateConfig
from monitor.errors import ConfigError, NotifyError
from monitor.log import event, mask_secrets
from monitor.types import Alert

log = logging.getLogger(__name__)

FORMATS = ("text", "markdown", "html", "telegram", "slack")
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 413, 422})
# Channel limits where apprise does not know better (its plugins' body_maxlen wins when smaller).
FORMAT_LIMITS = {"text": 32768, "markdown": 32768, "html": 100_000, "telegram": 4096, "slack": 3000}
TITLE_LIMIT = 250
_AUTO_FORMATS = {"mailto": "html", "mailtos": "html", "tgram": "markdown", "slack": "markdown"}


# ---------------------------------------------------------------------------------------------------------
# Escaping: article fields are untrusted; each format gets its own escaper.

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
_TG_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape_text(text: str, fmt: str) -> str:
    """Escape ``text`` so that it shows literally in ``fmt``."""
    text = _CONTROL.sub("", text)
    if fmt == "html":
        return str(escape(text))
    if fmt == "markdown":
        return _MD_SPECIAL.sub(r"\\\1", text)
    if fmt == "telegram":
        return _TG_SPECIAL.sub(r"\\\1", text)
    if fmt == "slack":
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _safe_url(url: str) -> str | None:
    """Only http(s) links become links; ``javascript:`` and friends from a feed stay text."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def link(text: str, url: str, fmt: str) -> Markup:
    """A link in ``fmt``, with the text escaped and the URL made safe for the link syntax."""
    target = _safe_url(url)
    shown = escape_text(text, fmt)
    if target is None:
        return Markup(shown)
    if fmt == "html":
        return Markup(f'<a href="{escape(target)}">{shown}</a>')
    if fmt in ("markdown", "telegram"):
        dest = quote(target, safe=":/?&=#%@+,;~!$*'")
        dest = dest.replace("\\", "%5C").replace(")", "%29").replace("(", "%28")
        return Markup(f"[{shown}]({dest})")
    if fmt == "slack":
        dest = quote(target, safe=":/?&=#%@+,;~!$*'()")
        return Markup(f"<{dest}|{shown}>")
    return Markup(f"{shown}\n{target}")


_EMPHASIS = {"html": ("<b>", "</b>"), "markdown": ("**", "**"), "telegram": ("*", "*"), "slack": ("*", "*")}


def highlight(snippet: str, highlights: Sequence[tuple[int, int]], fmt: str) -> Markup:
    """The snippet escaped for ``fmt`` with the highlighted spans emphasised."""
    before, after = _EMPHASIS.get(fmt, ("*", "*"))
    out: list[str] = []
    pos = 0
    for start, end in sorted(highlights):
        start, end = max(start, pos), min(end, len(snippet))
        if start >= end:
            continue
        out.append(escape_text(snippet[pos:start], fmt))
        out.append(before + escape_text(snippet[start:end], fmt) + after)
        pos = end
    out.append(escape_text(snippet[pos:], fmt))
    return Markup("".join(out))


# ---------------------------------------------------------------------------------------------------------
# Templates


@dataclass(frozen=True, slots=True)
class Template:
    title: str
    body: str


_TITLE = "{{ rule }}: {{ title }}"
_EXTRACTED_NOTE = "Note: extracted from the feed summary (the article page could not be read)."
DEFAULT_TEMPLATES: dict[str, Template] = {
    "text": Template(
        _TITLE,
        "{{ title }}\n"
        "{{ feed }}{% if others %} (+{{ others }} other source{{ 's' if others > 1 }}){% endif %}\n"
        "{{ url }}\n\n"
        "{{ snippet }}\n\n"
        "Rule: {{ rule }}{% if priority != 'normal' %} ({{ priority }}){% endif %}\n"
        "{% if not extracted %}" + _EXTRACTED_NOTE + "\n{% endif %}",
    ),
    "markdown": Template(
        _TITLE,
        "**{{ link(title, url) }}**\n\n"
        "_{{ feed }}{% if others %} · +{{ others }} other source{{ 's' if others > 1 }}{% endif %}_\n\n"
        "> {{ snippet }}\n\n"
        "Rule: **{{ rule }}**{% if priority != 'normal' %} ({{ priority }}){% endif %}\n"
        "{% if not extracted %}\n_{{ note }}_\n{% endif %}",
    ),
    "html": Template(
        _TITLE,
        '<div style="font-family:sans-serif">\n'
        '<h3 style="margin:0 0 4px 0">{{ link(title, url) }}</h3>\n'
        '<p style="color:#555;margin:0 0 8px 0">{{ feed }}'
        "{% if others %} · +{{ others }} other source{{ 's' if others > 1 }}{% endif %}</p>\n"
        '<blockquote style="margin:0 0 8px 0;padding-left:8px;border-left:3px solid #ccc">'
        "{{ snippet }}</blockquote>\n"
        "<p>Rule: <b>{{ rule }}</b>{% if priority != 'normal' %} ({{ priority }}){% endif %}</p>\n"
        "{% if not extracted %}<p><i>{{ note }}</i></p>\n{% endif %}"
        "</div>\n",
    ),
    "telegram": Template(
        _TITLE,
        "*{{ link(title, url) }}*\n"
        "_{{ feed }}{% if others %}{{ ' (+%d other source%s)' % (others, 's' if others > 1 else '') }}{% endif %}_\n\n"
        ">{{ snippet }}\n\n"
        "Rule: *{{ rule }}*{% if priority != 'normal' %} {{ '(%s)' % priority }}{% endif %}\n"
        "{% if not extracted %}_{{ note }}_\n{% endif %}",
    ),
    "slack": Template(
        _TITLE,
        "*{{ link(title, url) }}*\n"
        "_{{ feed }}{% if others %} (+{{ others }} other source{{ 's' if others > 1 }}){% endif %}_\n"
        ">{{ snippet }}\n"
        "Rule: *{{ rule }}*{% if priority != 'normal' %} ({{ priority }}){% endif %}\n"
        "{% if not extracted %}_{{ note }}_\n{% endif %}",
    ),
}

# A digest, an overflow summary and a quiet-hours catch-up share one shape: a heading, items grouped by rule.
DIGEST_TEMPLATES: dict[str, str] = {
    "text": (
        "{{ heading }}\n{% for rule, items in groups %}\n{{ rule }} ({{ items|length }})\n"
        "{% for a in items %}- {{ a.title }} ({{ a.feed }}){{ '\n  ' }}{{ a.url }}\n{% endfor %}{% endfor %}"
        "{% if more %}\n… and {{ more }} more\n{% endif %}"
    ),
    "markdown": (
        "**{{ heading }}**\n{% for rule, items in groups %}\n**{{ rule }}** ({{ items|length }})\n\n"
        "{% for a in items %}- {{ link(a.title, a.url) }} _{{ a.feed }}_\n{% endfor %}{% endfor %}"
        "{% if more %}\n… and {{ more }} more\n{% endif %}"
    ),
    "html": (
        '<div style="font-family:sans-serif">\n<h3>{{ heading }}</h3>\n'
        "{% for rule, items in groups %}<h4>{{ rule }} ({{ items|length }})</h4>\n<ul>\n"
        '{% for a in items %}<li>{{ link(a.title, a.url) }} <span style="color:#555">{{ a.feed }}</span></li>\n'
        "{% endfor %}</ul>\n{% endfor %}{% if more %}<p>… and {{ more }} more</p>\n{% endif %}</div>\n"
    ),
    "telegram": (
        "*{{ heading }}*\n{% for rule, items in groups %}\n*{{ rule }}* {{ '(%d)' % items|length }}\n"
        "{% for a in items %}{{ '• ' }}{{ link(a.title, a.url) }} _{{ a.feed }}_\n{% endfor %}{% endfor %}"
        "{% if more %}\n{{ '… and %d more' % more }}\n{% endif %}"
    ),
    "slack": (
        "*{{ heading }}*\n{% for rule, items in groups %}\n*{{ rule }}* ({{ items|length }})\n"
        "{% for a in items %}• {{ link(a.title, a.url) }} _{{ a.feed }}_\n{% endfor %}{% endfor %}"
        "{% if more %}\n… and {{ more }} more\n{% endif %}"
    ),
}


def _environment(fmt: str) -> ImmutableSandboxedEnvironment:
    """One sandbox per format. ``finalize`` escapes every ``{{ value }}`` for the format unless it is Markup
    (the output of ``link``/``highlight``), so user templates cannot forget to escape article text."""

    def finalize(value: Any) -> Any:
        if isinstance(value, Markup):
            return str(value)
        if value is None:
            return ""
        return escape_text(str(value), fmt)

    env = ImmutableSandboxedEnvironment(finalize=finalize, autoescape=False, keep_trailing_newline=True)
    env.globals["link"] = functools.partial(link, fmt=fmt)
    return env


@dataclass(frozen=True, slots=True)
class _Compiled:
    title: Any
    body: Any


class Renderer:
    """Compiled templates for one format (defaults plus an optional user template)."""

    def __init__(self, fmt: str, user: Template | None = None, *, where: str = "template") -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})", key=where)
        self.fmt = fmt
        self._env = _environment(fmt)
        self._plain = _environment("text")  # titles are plain text (an email subject, a JSON field)
        default = DEFAULT_TEMPLATES[fmt]
        self._default = _Compiled(self._plain.from_string(default.title), self._env.from_string(default.body))
        self._digest = self._env.from_string(DIGEST_TEMPLATES[fmt])
        self._user: _Compiled | None = None
        if user is not None:
            try:
                self._user = _Compiled(
                    self._plain.from_string(user.title or default.title),
                    self._env.from_string(user.body or default.body),
                )
            except TemplateError as e:
                raise ConfigError(f"template error: {e}", key=where) from None

    def context(self, alert: Alert, snippet: str | None = None) -> dict[str, Any]:
        snippet = alert.snippet if snippet is None else snippet
        highlights = alert.highlights if snippet == alert.snippet else _clip(alert.highlights, len(snippet))
        text = snippet + ("…" if snippet != alert.snippet else "")
        return {
            "title": alert.title or "(untitled)",
            "url": alert.url,
            "feed": alert.feed_name,
            "rule": alert.rule,
            "snippet": highlight(text, highlights, self.fmt),
            "extracted": alert.extracted,
            "sources": alert.sources,
            "others": max(alert.sources - 1, 0),
            "published": alert.published.isoformat() if alert.published else "",
            "priority": alert.priority,
            "target": alert.target,
            "note": _EXTRACTED_NOTE,
        }

    def render(self, alert: Alert, limit: int | None = None) -> tuple[str, str]:
        limit = limit or FORMAT_LIMITS[self.fmt]
        snippet = alert.snippet
        while True:
            title, body = self._render_once(alert, snippet)
            if len(body) <= limit or not snippet:
                break
            # Cut the snippet (the only long field), never the rendered markup, so tags stay balanced.
            snippet = _cut_words(snippet, max(len(snippet) - (len(body) - limit) - 8, 0))
        if len(body) > limit:  # a huge title or template: keep the plain headline and link
            body = str(link(_cut_words(alert.title, limit // 2), alert.url, self.fmt))[:limit]
        return _cut_words(title, TITLE_LIMIT), body.rstrip()

    def _render_once(self, alert: Alert, snippet: str) -> tuple[str, str]:
        ctx = self.context(alert, snippet)
        if self._user is not None:
            try:
                return self._user.title.render(ctx).strip(), self._user.body.render(ctx)
            except Exception as e:  # noqa: BLE001 - any sandbox/user-template failure falls back to the default
                event(log, "template_failed", logging.WARNING, rule=alert.rule, target=alert.target, error=e)
        return self._default.title.render(ctx).strip(), self._default.body.render(ctx)

    def render_digest(self, heading: str, alerts: Sequence[Alert], limit: int | None = None) -> tuple[str, str]:
        limit = limit or FORMAT_LIMITS[self.fmt]
        shown = list(alerts)
        while True:
            groups: dict[str, list[dict[str, Any]]] = {}
            for a in shown:
                groups.setdefault(a.rule, []).append({"title": a.title, "url": a.url, "feed": a.feed_name})
            more = len(alerts) - len(shown)
            body = self._digest.render(heading=heading, groups=list(groups.items()), more=more)
            if len(body) <= limit or len(shown) <= 1:
                break
            # Drop whole items from the end so no list or tag is cut in half.
            shown = shown[: max(1, min(len(shown) - 1, len(shown) * limit // len(body)))]
        return _cut_words(heading, TITLE_LIMIT), body[:limit]


def _clip(highlights: Sequence[tuple[int, int]], n: int) -> tuple[tuple[int, int], ...]:
    return tuple((s, min(e, n)) for s, e in highlights if s < n)


def _cut_words(text: str, n: int) -> str:
    if len(text) <= n:
        return text
    cut = text[:n]
    space = cut.rfind(" ")
    return (cut[:space] if space > n // 2 else cut).rstrip() + ("…" if n else "")


def render_alert(alert: Alert, fmt: str, template: Template | None = None) -> tuple[str, str]:
    """(title, body) of one alert in ``fmt``. Pure apart from a log line when a user template fails."""
    return Renderer(fmt, template).render(alert)


def render_digest(heading: str, alerts: Sequence[Alert], fmt: str) -> tuple[str, str]:
    """(title, body) listing ``alerts`` grouped by rule under ``heading``."""
    return Renderer(fmt).render_digest(heading, alerts)


# ---------------------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: str | None
    date: str | None
    body: bytes


_failures: contextvars.ContextVar[list[_Failure] | None] = contextvars.ContextVar(
    "news_monitor_http_failures", default=None
)


def _install_response_recorder() -> None:
    """Wrap ``requests.Session.send`` once so failed answers reach ``_failures`` (see the module docstring)."""
    import requests

    original: Callable[..., Any] = requests.Session.send
    if getattr(original, "_news_monitor", False):
        return

    @functools.wraps(original)
    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        response = original(self, request, **kwargs)
        sink = _failures.get()
        if sink is not None and response.status_code >= 400:
            head = response.content[:2000] if response.status_code in (400, 429) else b""
            sink.append(
                _Failure(
                    response.status_code,
                    response.headers.get("Retry-After"),
                    response.headers.get("Date"),
                    head,
                )
            )
        return response

    send._news_monitor = True  # type: ignore[attr-defined]
    requests.Session.send = send  # type: ignore[method-assign]


def parse_retry_after(value: str | None, date: str | None = None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds (it may be seconds or an HTTP date, measured from the response's Date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        base = parsedate_to_datetime(date) if date else (now or datetime.now(UTC))
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if base.tzinfo is None:
        base = base.replace(tzinfo=UTC)
    return max((when - base).total_seconds(), 0.0)


def _body_retry_after(body: bytes) -> float | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict):
        for holder in (data, data.get("parameters")):
            if isinstance(holder, dict) and isinstance(holder.get("retry_after"), int | float):
                return float(holder["retry_after"])
    return None


@dataclass(frozen=True, slots=True)
class _Target:
    name: str
    apprise: Any  # apprise.Apprise
    fmt: str
    renderer: Renderer
    rule_renderers: dict[str, Renderer]  # rules with a template of their own
    limit: int
    shown: str  # privacy-masked URLs, for messages
    secrets: tuple[str, ...]  # parts of the URLs that the privacy form hides


def _url_secrets(url: str, masked: str) -> tuple[str, ...]:
    """Pieces of ``url`` that apprise's privacy form hides (passwords, tokens): masked in every message."""
    pieces = set(re.split(r"[/:@?&=,#]+", url)) - set(re.split(r"[/:@?&=,#]+", masked))
    return tuple(sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True))


class Notifier:
    """One apprise.Apprise per target, built (and checked) at construction."""

    def __init__(
        self,
        targets: Mapping[str, TargetConfig],
        *,
        timeout: float = 30.0,
        rule_templates: Mapping[str, TemplateConfig] | None = None,
    ) -> None:
        import apprise

        _install_response_recorder()
        self.timeout = timeout
        self.specs: dict[str, TargetConfig] = dict(targets)
        self._targets: dict[str, _Target] = {}
        asset = apprise.AppriseAsset(storage_mode="memory")
        for name, spec in targets.items():
            obj = apprise.Apprise(asset=asset)
            shown: list[str] = []
            secrets: list[str] = []
            limit: int | None = None
            for i, url in enumerate(spec.urls):
                plugin = apprise.Apprise.instantiate(url, asset=asset)
                if plugin is None:
                    raise ConfigError(
                        f"apprise does not accept URL {i + 1} of target {name!r}: {_mask_url(url)}",
                        key=f"targets.{name}",
                    )
                if type(plugin).request_rate_per_sec == apprise.NotifyBase.request_rate_per_sec:
                    # apprise pauses 5.5 s between messages to any service that declares no pace of its
                    # own (email); pacing is ours (`rate:`). Services with a declared pace keep it.
                    plugin.request_rate_per_sec = 0
                obj.add(plugin)
                masked = str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]
                shown.append(masked.split("?", 1)[0])
                secrets.extend(_url_secrets(url, masked))
                if plugin.body_maxlen:
                    limit = min(limit or plugin.body_maxlen, int(plugin.body_maxlen))
            if len(obj) == 0:
                raise ConfigError(f"target {name!r} has no usable apprise URL", key=f"targets.{name}")
            fmt: str = spec.format
            if fmt == "auto":
                fmt = _AUTO_FORMATS.get(urlsplit(spec.urls[0]).scheme.lower(), "text")
            user = None
            if spec.template is not None:
                user = Template(spec.template.title or "", spec.template.body or "")
            renderer = Renderer(fmt, user, where=f"targets.{name}.template")
            # A rule's own template wins over the target's, rendered in the target's format.
            rule_renderers = {
                rule: Renderer(fmt, Template(t.title or "", t.body or ""), where=f"rules.{rule}.template")
                for rule, t in (rule_templates or {}).items()
            }
            self._targets[name] = _Target(
                name=name,
                apprise=obj,
                fmt=fmt,
                renderer=renderer,
                rule_renderers=rule_renderers,
                limit=min(limit or FORMAT_LIMITS[fmt], FORMAT_LIMITS[fmt]),
                shown=", ".join(shown),
                secrets=tuple(sorted(set(secrets), key=len, reverse=True)),
            )

    @property
    def targets(self) -> list[str]:
        return list(self._targets)

    def describe(self, target: str) -> str:
        """The target's URLs as apprise prints them with privacy on (and configured secrets masked: a
        webhook token in the URL path is not something apprise hides)."""
        return mask_secrets(self._get(target).shown)

    def format_of(self, target: str) -> str:
        return self._get(target).fmt

    def _get(self, target: str) -> _Target:
        try:
            return self._targets[target]
        except KeyError:
            raise NotifyError(f"unknown target {target!r}", target=target, permanent=True) from None

    @classmethod
    def from_config(cls, config: Config) -> Notifier:
        """The notifier for a whole config: its targets, send timeout and rules' own templates."""
        return cls(
            config.targets,
            timeout=config.delivery.timeout.total_seconds(),
            rule_templates={r.name: r.template for r in config.rules if r.template is not None},
        )

    def render(self, alert: Alert) -> tuple[str, str]:
        t = self._get(alert.target)
        return t.rule_renderers.get(alert.rule, t.renderer).render(alert, t.limit)

    def render_digest(self, target: str, heading: str, alerts: Sequence[Alert]) -> tuple[str, str]:
        t = self._get(target)
        return t.renderer.render_digest(heading, alerts, t.limit)

    async def send(self, alert: Alert) -> None:
        title, body = self.render(alert)
        await self._send(self._get(alert.target), title, body)

    async def send_digest(self, target: str, heading: str, alerts: Sequence[Alert]) -> None:
        title, body = self.render_digest(target, heading, alerts)
        await self._send(self._get(target), title, body)

    async def send_text(self, target: str, title: str, body: str) -> None:
        """Plain text (test messages, failure notices): escaped for the target's format, then sent."""
        t = self._get(target)
        await self._send(t, title, escape_text(body, t.fmt)[: t.limit])

    async def _send(self, t: _Target, title: str, body: str) -> None:
        try:
            failures, status, warnings = await asyncio.wait_for(
                asyncio.to_thread(self._notify, t, title, body), self.timeout + 5
            )
        except TimeoutError:
            raise NotifyError(f"no answer within {self.timeout:g}s", target=t.name) from None
        if status is None:
            return
        raise self._classify(t, status, failures, warnings)

    def _notify(self, t: _Target, title: str, body: str) -> tuple[list[_Failure], str | None, list[str]]:
        """Runs in a worker thread. Returns (HTTP failures seen, apprise status name or None, warnings)."""
        import apprise

        sink: list[_Failure] = []
        token = _failures.set(sink)
        try:
            result = t.apprise.notify(
                body=body,
                title=title,
                body_format=_APPRISE_FORMAT[t.fmt],
                timeout=self.timeout,
            )
        except Exception as e:  # noqa: BLE001 - apprise raises on bad arguments; the target failed, not us
            return sink, f"error {type(e).__name__}", []
        finally:
            _failures.reset(token)
        if bool(result):  # apprise 2.x: a result object, falsy on failure (never compare with False)
            return sink, None, []
        warnings = [
            entry.message
            for service in result
            for entry in service.logs()
            if entry.level in ("WARNING", "ERROR", "CRITICAL")
        ]
        status = result.status.name if hasattr(result.status, "name") else str(result.status)
        if result.status == apprise.AppriseResultStatus.NOMATCH:
            status = "NOMATCH"
        return sink, status, warnings

    def _classify(self, t: _Target, status: str, failures: list[_Failure], warnings: list[str]) -> NotifyError:
        def clean(text: str) -> str:
            for secret in t.secrets:
                text = text.replace(secret, "****")
            return mask_secrets(text)

        if status == "NOMATCH":
            return NotifyError("no apprise service accepted the message", target=t.name, permanent=True)
        if status == "TIMEOUT":
            return NotifyError(f"timed out after {self.timeout:g}s ({clean(t.shown)})", target=t.name)
        http = failures[-1] if failures else None
        if http is not None:
            retry = parse_retry_after(http.retry_after, http.date)
            if retry is None and http.status == 429:
                retry = _body_retry_after(http.body)
            permanent = http.status in PERMANENT_STATUS
            return NotifyError(
                clean(f"HTTP {http.status} from {t.shown}"),
                target=t.name,
                permanent=permanent,
                retry_after=retry,
            )
        detail = clean(warnings[-1]) if warnings else f"apprise status {status}"
        return NotifyError(clean(f"{detail} ({t.shown})"), target=t.name)


def _mask_url(url: str) -> str:
    from monitor.config import mask_url

    return mask_secrets(mask_url(url))


_APPRISE_FORMAT = {"text": "text", "markdown": "markdown", "html": "html", "telegram": None, "slack": None}
