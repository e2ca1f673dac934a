"""Configuration: YAML with line numbers, ``${VAR}`` expansion, includes, validation, a masked dump.

This is the only module that reads settings files or the environment. Every error is a ``ConfigError`` that
names the file, the line and the key, and says what would have been valid.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Mapping, MutableMapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.types import FeedSpec

ENV_CONFIG = "NEWS_MONITOR_CONFIG"
APP = "news-monitor"

# ---------------------------------------------------------------------------------------------------------
# Value types

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: object) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``7d`` (or a number of seconds) → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 2h or 7d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; write it as 30s, 10m, 2h or 7d")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.I)
_SIZES = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}


def parse_size(value: object) -> int:
    """``10MB``, ``512KiB`` or a number of bytes → int."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        unit = m.group(2).lower() if m.group(2) else None
        return int(float(m.group(1)) * _SIZES[unit])
    raise ValueError(f"{value!r} is not a size; write it as 5MB, 512KiB or a number of bytes")


Size = Annotated[int, BeforeValidator(parse_size)]


# ---------------------------------------------------------------------------------------------------------
# The schema


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class PollConfig(Model):
    interval: Duration = timedelta(minutes=10)
    jitter: Duration = timedelta(seconds=30)
    concurrency: int = Field(20, ge=1, le=500)
    timeout: Duration = timedelta(seconds=20)
    broken_after: int = Field(5, ge=1)
    broken_notify: list[str] = Field(default_factory=list)
    max_backoff: Duration = timedelta(hours=24)
    adaptive: bool = True
    min_interval: Duration = timedelta(minutes=5)
    max_interval: Duration = timedelta(hours=6)
    backlog: Duration = timedelta(days=1)


class FetchConfig(Model):
    max_bytes: Size = 10 * 2**20
    user_agent: str = f"{APP}/0.1 (+feed monitor; RSS/Atom poller)"
    allow_networks: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    max_redirects: int = Field(5, ge=0, le=20)
    per_host: int = Field(2, ge=1, le=50)  # requests at once to one host
    parse_budget: Duration = timedelta(seconds=5)  # worker time for parsing one feed document
    extract_budget: Duration = timedelta(seconds=10)  # worker time for extracting one article page

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, list):
            out = []
            for item in value:
                try:
                    out.append(ip_network(str(item), strict=False))
                except ValueError as e:
                    raise ValueError(f"{item!r} is not a CIDR network such as 10.0.0.0/8") from e
            return out
        return value


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\s*(?:s|sec|second|m|min|minute|h|hour|d|day))\s*$")
_RATE_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_RATE_UNITS |= {"d": 86400, "day": 86400}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_rate(value: str) -> tuple[int, float]:
    """``20/min``, ``1/s``, ``100/5min`` → (messages, seconds)."""
    m = _RATE.match(value)
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"{value!r} is not a rate; write it as 20/min, 1/s or 100/hour")
    per = re.match(r"(\d*)\s*(\w+)", m.group(2))
    assert per is not None
    return int(m.group(1)), float(int(per.group(1) or 1) * _RATE_UNITS[per.group(2)])


def check_cron(value: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(f'{value!r} is not a cron schedule such as "0 8 * * *" (minute hour day month weekday)')
    return value


def check_template(value: str) -> str:
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment().parse(value)
    except TemplateSyntaxError as e:
        raise ValueError(f"template syntax error on template line {e.lineno}: {e.message}") from None
    return value


class QuietHoursConfig(Model):
    """A daily window (``start`` to ``end``, may cross midnight) in ``tz`` when only urgent alerts go out."""

    start: str
    end: str
    tz: str = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(str(value)):
            raise ValueError(f"{value!r} is not a time of day such as 22:00")
        return str(value)

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone such as Europe/Berlin or UTC") from None
        return value


class TemplateConfig(Model):
    """User templates (Jinja2, sandboxed) for the message title and body."""

    title: str | None = None
    body: str | None = None

    @field_validator("title", "body")
    @classmethod
    def _syntax(cls, value: str | None) -> str | None:
        return check_template(value) if value is not None else None


class TargetConfig(Model):
    """One notification target: one or more apprise URLs and how to deliver to them."""

    urls: list[str]
    format: Literal["auto", "text", "markdown", "html", "telegram", "slack"] = "auto"
    rate: str | None = None
    quiet_hours: QuietHoursConfig | None = None
    digest: str | None = None
    fallback: str | None = None
    template: TemplateConfig | None = None

    @field_validator("urls")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value or not all(isinstance(u, str) and u.strip() for u in value):
            raise ValueError("a target needs at least one apprise URL")
        return value

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)
        return value

    @field_validator("digest")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value) if value is not None else None

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        return parse_rate(self.rate) if self.rate else None


class DeliveryConfig(Model):
    """How the outbox is flushed: retries, dead-lettering, the fallback target."""

    interval: Duration = timedelta(seconds=15)
    timeout: Duration = timedelta(seconds=30)
    retry_min: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(hours=1)
    max_age: Duration = timedelta(hours=24)
    fallback: str | None = None


class FeedConfig(Model):
    url: str
    name: str | None = None
    interval: Duration | None = None
    tags: list[str] = Field(default_factory=list)
    full_text: bool = True

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.strip()


class EntityConfig(Model):
    aliases: list[str] = Field(default_factory=list)


class RuleConfig(Model):
    name: str = Field(min_length=1)
    query: str
    notify: list[str] = Field(default_factory=list)
    digest: str | None = None
    min_mentions: int = Field(1, ge=1)
    feeds: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    template: TemplateConfig | None = None  # this rule's own title/body, in each target's format
    salient: bool = False  # every @entity of the query must appear in the title or first paragraph

    @field_validator("query")
    @classmethod
    def _nonempty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is empty")
        return value

    @field_validator("notify", "feeds", "tags", "languages", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class RetentionConfig(Model):
    articles: Duration = timedelta(days=90)
    matches: Duration = timedelta(days=365)
    alerts: Duration = timedelta(days=365)


class DedupeConfig(Model):
    """When an article joins an earlier story instead of starting one (one alert per story)."""

    window: Duration = timedelta(days=7)
    threshold: float = Field(0.7, gt=0, le=1)  # estimated share of the shorter text's words in the other


class HealthConfig(Model):
    """The optional /healthz and /metrics listener; off unless ``listen`` is set."""

    listen: str | None = None  # "127.0.0.1:9464", ":9464" or "9464" (host defaults to 127.0.0.1)
    stall: Duration = timedelta(minutes=5)  # /healthz fails when a scheduled job is this much overdue

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = str(value).rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            ip_address(host)
            number = int(port)
        except ValueError:
            raise ValueError(f"{value!r} is not an address such as 127.0.0.1:9464") from None
        if not 0 <= number <= 65535:
            raise ValueError(f"port {number} is out of range")
        return f"{host}:{number}"

    def address(self) -> tuple[str, int] | None:
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host, int(port)


class Config(Model):
    database: str = "default"
    include: list[str] = Field(default_factory=list)
    poll: PollConfig = Field(default_factory=PollConfig)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    targets: dict[str, TargetConfig] = Field(default_factory=dict)
    feeds: list[FeedConfig] = Field(default_factory=list)
    entities: dict[str, EntityConfig] = Field(default_factory=dict)
    rules: list[RuleConfig] = Field(default_factory=list)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    dedupe: DedupeConfig = Field(default_factory=DedupeConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    _source: SourceMap | None = PrivateAttr(default=None)

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: object) -> object:
        # Shorthand: a target is an apprise URL or a list of them.
        if isinstance(value, Mapping):
            out: dict[str, object] = {}
            for name, spec in value.items():
                if isinstance(spec, str):
                    out[name] = {"urls": [spec]}
                elif isinstance(spec, list):
                    out[name] = {"urls": spec}
                else:
                    out[name] = spec
            return out
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        seen_rules: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen_rules:
                raise _KeyedError(("rules", i, "name"), f"duplicate rule name {rule.name!r}")
            seen_rules.add(rule.name)
            for j, target in enumerate(rule.notify):
                self._known_target(target, ("rules", i, "notify", j))
        known_targets = ", ".join(sorted(self.targets)) or "none defined"
        if self.delivery.fallback is not None and self.delivery.fallback not in self.targets:
            raise _KeyedError(
                ("delivery", "fallback"), f"unknown target {self.delivery.fallback!r} (known: {known_targets})"
            )
        for name, spec in self.targets.items():
            if spec.fallback is not None and spec.fallback not in self.targets:
                raise _KeyedError(
                    ("targets", name, "fallback"), f"unknown target {spec.fallback!r} (known: {known_targets})"
                )
        for i, rule in enumerate(self.rules):
            if rule.digest is not None:
                try:
                    check_cron(rule.digest)
                except ValueError as e:
                    raise _KeyedError(("rules", i, "digest"), str(e)) from None
        for j, target in enumerate(self.poll.broken_notify):
            self._known_target(target, ("poll", "broken_notify", j))
        seen_feeds: set[str] = set()
        for i, feed in enumerate(self.feeds):
            if feed.url in seen_feeds:
                raise _KeyedError(("feeds", i, "url"), f"feed {feed.url!r} is listed twice")
            seen_feeds.add(feed.url)
        return self

    def _known_target(self, name: str, key: tuple[str | int, ...]) -> None:
        if name not in self.targets:
            known = ", ".join(sorted(self.targets)) or "none defined"
            raise _KeyedError(key, f"unknown target {name!r} (known: {known})")

    # -- derived views -------------------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        return self._source.path if self._source else None

    @property
    def secrets(self) -> frozenset[str]:
        """Every secret string in this config, for log masking."""
        return self._source.secrets if self._source else frozenset()

    def feed_specs(self) -> list[FeedSpec]:
        return [
            FeedSpec(
                url=f.url,
                name=f.name or urlsplit(f.url).hostname or f.url,
                interval=f.interval or self.poll.interval,
                tags=tuple(f.tags),
                full_text=f.full_text,
            )
            for f in self.feeds
        ]

    def locate(self, *key: str | int) -> str:
        """``file:line`` of a key path such as ``("rules", 2, "query")``, for messages."""
        if self._source is None:
            return "<config>"
        path, line = self._source.locate(key)
        return f"{path}:{line}" if line else str(path)

    def forget_lines(self) -> None:
        """Drop the parsed YAML that ``locate`` reads line numbers from (about 27 MB for 10,000 rules) once
        nothing needs them, as in a daemon whose rules are compiled; ``locate`` then names the file alone."""
        if self._source is not None:
            self._source = replace(self._source, root=None, grafts=[])

    def database_path(self) -> Path:
        return resolve_database(self.database, self.path)

    def dump(self) -> str:
        """The effective configuration as YAML, secrets masked."""
        from ruamel.yaml import YAML

        data = _mask(self.model_dump(mode="json", exclude={"include"}), self)
        buf = io.StringIO()
        yaml = YAML()
        yaml.default_flow_style = False
        yaml.dump(data, buf)
        return buf.getvalue()


class _KeyedError(ValueError):
    """A cross-field error that knows which key it is about."""

    def __init__(self, key: tuple[str | int, ...], message: str) -> None:
        self.key = key
        super().__init__(message)


# ---------------------------------------------------------------------------------------------------------
# Loading


@dataclass
class SourceMap:
    """Where each key of the merged document came from (file and 1-based line)."""

    path: Path
    root: Any
    secrets: frozenset[str] = frozenset()
    # key prefix → (file, node) for sections that came from an included file
    grafts: list[tuple[tuple[str | int, ...], Path, Any]] = field(default_factory=list)

    def locate(self, key: Sequence[str | int]) -> tuple[Path, int | None]:
        return _locate(self, tuple(key))


def _line_of(node: Any, key: Sequence[str | int]) -> int | None:
    line: int | None = getattr(getattr(node, "lc", None), "line", None)
    line = line + 1 if line is not None else None
    for part in key:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(part, int) and isinstance(node, list):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            elif isinstance(node, Mapping) and part in node:
                if lc is not None:
                    line = lc.key(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    return line


_VAR = re.compile(r"\$\{(?:(cred|file):)?([A-Za-z_][A-Za-z0-9_./-]*)(?::-([^}]*))?\}")


def _expand(value: str, env: Mapping[str, str], where: tuple[Path, int | None, str], found: set[str]) -> str:
    def one(m: re.Match[str]) -> str:
        kind, name, default = m.group(1), m.group(2), m.group(3)
        if kind == "cred":
            cred_dir = env.get("CREDENTIALS_DIRECTORY")
            if not cred_dir:
                raise ConfigError(
                    f"${{cred:{name}}} needs systemd's LoadCredential (CREDENTIALS_DIRECTORY is not set)",
                    path=where[0],
                    line=where[1],
                    key=where[2],
                )
            text = _read_secret_file(Path(cred_dir) / name, where)
        elif kind == "file":
            text = _read_secret_file(Path(name), where)
        elif name in env:
            text = env[name]
        elif default is not None:
            return default
        else:
            raise ConfigError(
                f"environment variable {name} is not set (referenced as ${{{name}}})",
                path=where[0],
                line=where[1],
                key=where[2],
            )
        if text:
            found.add(text)
        return text

    return _VAR.sub(one, value)


def _read_secret_file(path: Path, where: tuple[Path, int | None, str]) -> str:
    try:
        st = path.stat()
        if st.st_mode & 0o077 and not str(path).startswith(os.environ.get("CREDENTIALS_DIRECTORY", "\0")):
            raise ConfigError(
                f"secret file {path} is readable by others (mode {oct(st.st_mode & 0o777)}); chmod 600 it",
                path=where[0],
                line=where[1],
                key=where[2],
            )
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(
            f"cannot read secret file {path}: {e.strerror}", path=where[0], line=where[1], key=where[2]
        ) from e


def _walk_expand(node: Any, env: Mapping[str, str], path: Path, key: tuple[str | int, ...], found: set[str]) -> Any:
    """Expand ``${VAR}`` in every string, in place, keeping ruamel's line info on containers."""
    if isinstance(node, MutableMapping):
        for k in list(node.keys()):
            node[k] = _walk_expand(node[k], env, path, (*key, k), found)
        return node
    if isinstance(node, list):
        for i, item in enumerate(node):
            node[i] = _walk_expand(item, env, path, (*key, i), found)
        return node
    if isinstance(node, str) and "${" in node:
        return _expand(node, env, (path, None, _key_text(key)), found)
    return node


def _key_text(key: Sequence[str | int]) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read_yaml(path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError("config file not found", path=path) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file: {e}", path=path) from e
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML syntax: {e.problem or e.context}", path=path, line=line) from None
    except YAMLError as e:
        raise ConfigError(f"YAML syntax: {e}", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a mapping of keys (database, feeds, rules, ...)", path=path)
    return data


def add_feeds(path: Path, feeds: Sequence[Mapping[str, Any]], *, write: bool = True) -> tuple[list[str], str]:
    """Append feeds (``url``, ``name``, ``tags``) to the config file's ``feeds:`` list, keeping its comments
    and layout (ruamel round trip). URLs already listed are skipped. Returns the URLs added and the new
    text; with ``write`` the file is replaced atomically, but only after the new text loads as a valid
    config (a running daemon would otherwise pick up a broken file)."""
    import tempfile

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    _read_yaml(path)  # the same errors (file:line) as loading
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # the user's quoting of queries and URLs stays as written
    yaml.width = 4096  # never fold a long feed line
    yaml.indent(mapping=2, sequence=4, offset=2)
    data = yaml.load(path.read_text(encoding="utf-8")) or CommentedMap()
    listed = data.get("feeds")
    if listed is None:
        listed = data["feeds"] = CommentedSeq()
    if not isinstance(listed, list):
        raise ConfigError("feeds must be a list to add to it", path=path, line=_line_of(data, ("feeds",)))
    known = {str(f.get("url")) for f in listed if isinstance(f, Mapping)}
    added: list[str] = []
    for feed in feeds:
        if feed["url"] in known:
            continue
        known.add(feed["url"])
        item = CommentedMap((k, v) for k, v in feed.items() if v not in (None, (), []))
        if "tags" in item:
            tags = CommentedSeq(item["tags"])
            tags.fa.set_flow_style()
            item["tags"] = tags
        item.fa.set_flow_style()  # one line per feed, like the hand-written ones
        listed.append(item)
        added.append(feed["url"])
    buf = io.StringIO()
    yaml.dump(data, buf)
    text = buf.getvalue()
    if write and added:
        fd, tmp = tempfile.mkstemp(prefix=".monitor-", suffix=".yaml", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            load_config(tmp)
            os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
    return added, text


_MERGEABLE = ("feeds", "rules", "entities", "targets")


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> Config:
    """Read, expand, merge includes, validate. Raises ConfigError naming file, line and key."""
    path = Path(path)
    env = os.environ if env is None else env
    found: set[str] = set()
    root = _walk_expand(_read_yaml(path), env, path, (), found)
    source = SourceMap(path=path, root=root)
    merged: dict[str, Any] = dict(root)
    includes = root.get("include") or []
    if not isinstance(includes, list):
        raise ConfigError("include must be a list of file paths", path=path, line=_line_of(root, ["include"]))
    for item in includes:
        inc_path = (path.parent / str(item)).resolve()
        inc = _walk_expand(_read_yaml(inc_path), env, inc_path, (), found)
        for key in inc:
            if key not in _MERGEABLE:
                raise ConfigError(
                    f"an included file may hold only {', '.join(_MERGEABLE)}; not {key!r}",
                    path=inc_path,
                    line=_line_of(inc, [key]),
                    key=str(key),
                )
        for key in _MERGEABLE:
            if key not in inc:
                continue
            if key in ("feeds", "rules"):
                base = list(merged.get(key) or [])
                source.grafts.append(((key,), inc_path, _Offset(inc[key] or [], len(base))))
                merged[key] = base + list(inc[key] or [])
            else:
                mapping = dict(merged.get(key) or {})
                for name in inc[key] or {}:
                    if name in mapping:
                        raise ConfigError(
                            f"{key} {name!r} is defined twice (also in {path})",
                            path=inc_path,
                            line=_line_of(inc, [key, name]),
                            key=f"{key}.{name}",
                        )
                    source.grafts.append(((key, name), inc_path, inc[key][name]))
                    mapping[name] = inc[key][name]
                merged[key] = mapping
    source.secrets = frozenset(found)
    try:
        config = Config.model_validate(merged)
    except ValidationError as e:
        raise _config_error(e, source, merged) from None
    config._source = source
    return config


class _Offset:
    """A list that came from an included file, appended after ``offset`` items of the main file."""

    def __init__(self, node: Any, offset: int) -> None:
        self.node = node
        self.offset = offset


def _locate(source: SourceMap, key: tuple[str | int, ...]) -> tuple[Path, int | None]:
    for prefix, graft_path, graft in source.grafts:
        if isinstance(graft, _Offset):
            if len(key) > 1 and key[0] == prefix[0] and isinstance(key[1], int) and key[1] >= graft.offset:
                rest: list[str | int] = [key[1] - graft.offset, *key[2:]]
                if key[1] - graft.offset < len(graft.node):
                    return graft_path, _line_of(graft.node, rest)
        elif tuple(key[: len(prefix)]) == prefix:
            return graft_path, _line_of(graft, key[len(prefix) :])
    return source.path, _line_of(source.root, key)


def _config_error(error: ValidationError, source: SourceMap, data: Any) -> ConfigError:
    """The first validation problem as a ConfigError with file, line, key and the valid choices."""
    problem = error.errors()[0]
    loc = _data_path(problem["loc"], data)
    message = problem["msg"]
    ctx = problem.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, _KeyedError):
        loc, message = inner.key, str(inner)
    elif problem["type"] == "extra_forbidden":
        message = _unknown_key_message(loc)
    elif problem["type"] == "missing":
        message = f"required key {loc[-1]!r} is missing"
        loc = loc[:-1]
    elif problem["type"] in ("value_error", "assertion_error"):
        message = message.removeprefix("Value error, ")
    elif problem["type"] == "literal_error":
        message = f"{problem['input']!r} is not valid; expected {ctx.get('expected')}"
    path, line = source.locate(loc)
    extra = len(error.errors()) - 1
    if extra:
        message += f" (and {extra} more problem{'s' if extra > 1 else ''})"
    return ConfigError(message, path=path, line=line, key=_key_text(loc) or None)


_ABSENT = object()


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, Mapping):
        return node.get(part, _ABSENT)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _data_path(loc: Sequence[str | int], data: Any) -> tuple[str | int, ...]:
    """pydantic's error location without the union-member tags it inserts ("IPv4Network", "function-after[…]"):
    keep only the parts that exist in the document, plus a final missing or unknown key."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        child = _child(node, part)
        if child is not _ABSENT:
            node = child
        elif not (i == len(loc) - 1 and isinstance(node, Mapping)):
            continue  # a tag pydantic inserted, not a key of the document
        out.append(part)
    return tuple(out)


def _unknown_key_message(loc: tuple[str | int, ...]) -> str:
    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        if model is None:
            break
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        model = _model_in(info.annotation) if info else None
    bad = str(loc[-1])
    if model is None:
        return f"unknown key {bad!r}"
    valid = sorted(model.model_fields)
    close = difflib.get_close_matches(bad, valid, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {bad!r}; {hint}valid keys: {', '.join(valid)}"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------------------------------------
# Paths


def find_config(explicit: str | None, env: Mapping[str, str] | None = None) -> Path:
    """``--config``, else ``$NEWS_MONITOR_CONFIG``, else ``config/monitor.yaml``, else the user config dir."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    local = Path("config/monitor.yaml")
    if local.exists():
        return local
    for base in (env.get("CONFIGURATION_DIRECTORY"), env.get("XDG_CONFIG_HOME")):
        if base:
            candidate = Path(base.split(":")[0]) / ("monitor.yaml" if "CONFIGURATION" in base else APP)
            candidate = candidate if candidate.suffix else candidate / "monitor.yaml"
            if candidate.exists():
                return candidate
    return Path.home() / ".config" / APP / "monitor.yaml"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """systemd's StateDirectory, else ``$XDG_STATE_HOME/news-monitor``, else ``~/.local/state/news-monitor``."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / APP


@dataclass(frozen=True, slots=True)
class SystemdEnv:
    notify_socket: str | None
    watchdog_usec: int | None
    journal: bool  # stderr goes to journald, which stamps lines itself


def systemd_env(env: Mapping[str, str] | None = None) -> SystemdEnv:
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    # WATCHDOG_PID names the process systemd expects pings from; ignore a watchdog meant for another.
    mine = env.get("WATCHDOG_PID") in (None, "", str(os.getpid()))
    return SystemdEnv(
        notify_socket=env.get("NOTIFY_SOCKET") or None,
        watchdog_usec=int(usec) if usec.isdigit() and mine else None,
        journal="JOURNAL_STREAM" in env,
    )


def resolve_database(value: str, config_path: Path | None) -> Path:
    if value in ("", "default"):
        return state_dir() / "monitor.db"
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and config_path is not None:
        path = config_path.parent / path
    return path


# ---------------------------------------------------------------------------------------------------------
# Masking


def mask_url(url: str) -> str:
    """Hide the password in ``scheme://user:pass@host`` and secret-looking query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:****@{host}" if ":" in userinfo else f"****@{host}"
    query = re.sub(r"(?i)((?:pass|password|token|key|secret|apikey|webhook)[^=&]*=)[^&]*", r"\1****", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask(data: Any, config: Config) -> Any:
    secrets = config.secrets
    if isinstance(data, dict):
        return {k: _mask(v, config) for k, v in data.items()}
    if isinstance(data, list):
        return [_mask(v, config) for v in data]
    if isinstance(data, str):
        masked = data
        for secret in sorted(secrets, key=len, reverse=True):
            if secret and secret in masked:
                masked = masked.replace(secret, "****")
        if masked == "****" and "://" in data:
            return data.split("://", 1)[0] + "://****"  # a whole URL from ${VAR}: still show which service
        return mask_url(masked) if "://" in masked else masked
    return data
