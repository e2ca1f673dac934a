"""The command line: parse arguments, call the library, render the result.

Heavy libraries (trafilatura, feedparser, apprise, aiohttp, APScheduler) are imported inside the commands
that need them, so ``--help`` and ``check`` start fast. Exit codes: 0 done (per-feed failures are reported,
not fatal), 1 the command could not do its work, 2 bad usage or invalid config.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from monitor.errors import ConfigError, MonitorError
from monitor.log import setup_logging

if TYPE_CHECKING:
    from rich.console import Console

    from monitor.config import Config
    from monitor.notify import Notifier
    from monitor.store import Store
    from monitor.types import FeedSpec, PollResult

log = logging.getLogger("monitor.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------------------
# commands


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from monitor.match import compile_config_rules

    compile_config_rules(config)
    if not args.quiet:
        sys.stdout.write(config.dump())
    print(
        f"OK: {config.path}: {len(config.feeds)} feeds, {len(config.rules)} rules, {len(config.targets)} targets,"
        f" {len(config.entities)} entities",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from monitor.daemon import run_daemon

    return run_daemon(config.path or Path(args.config), args.log_level, config)


async def _once(config: Config, store: Store, feed_name: str | None) -> list[PollResult]:
    import asyncio

    from monitor.deliver import deliver_due
    from monitor.fetch import Http
    from monitor.isolate import Isolator
    from monitor.pipeline import build_context, poll_feed

    feeds = config.feed_specs()
    if feed_name is not None:
        feeds = [f for f in feeds if feed_name in (f.name, f.url)]
        if not feeds:
            known = ", ".join(f.name for f in config.feed_specs()) or "none"
            raise ConfigError(f"no feed named {feed_name!r} (known: {known})", path=config.path)
    http = Http(config.fetch, timeout=config.poll.timeout.total_seconds(), concurrency=config.poll.concurrency)
    isolator = Isolator()
    try:
        ctx = build_context(config, store, http, isolator, _now)
        limit = asyncio.Semaphore(config.poll.concurrency)

        progress = _poll_progress(len(feeds))

        async def one(feed: FeedSpec) -> PollResult:
            async with limit:
                result = await poll_feed(feed, ctx)
            progress(feed.name)
            return result

        try:
            results: list[PollResult] = await asyncio.gather(*(one(f) for f in feeds))
        finally:
            progress(None)
        store.flush_feed_states()  # written before the alerts go out, not only when the store closes
        await deliver_due(store, ctx.notifier, _now(), config)
        return results
    finally:
        await http.close()
        isolator.close()


def cmd_once(args: argparse.Namespace, config: Config) -> int:
    import asyncio

    from rich.table import Table

    from monitor.store import Store

    store = Store.open(config.database_path())
    try:
        results = asyncio.run(_once(config, store, args.feed))
        counts = store.outbox_counts()
    finally:
        store.close()
    table = Table("feed", "status", "entries", "new", "matched", "alerts", "error", title="poll")
    for r in results:
        table.add_row(
            r.feed.name, r.status, str(r.entries), str(r.new), str(r.matched), str(r.alerts), str(r.error or "")
        )
    console = _console()
    console.print(table)
    pending = {t: s for t, s in counts.items() if s.get("pending") or s.get("retrying")}
    if pending:
        console.print(f"outbox still owes: {pending}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """Feeds, rules and targets at a glance, from the database the daemon writes."""
    from rich.table import Table

    from monitor.store import Store

    now = _now()
    store = Store.open(config.database_path())
    try:
        feeds = {f["url"]: f for f in store.feed_status(now)}
        rules = store.rule_status(now)
        counts = store.outbox_counts()
        errors = store.outbox_errors()
        size = store.size_bytes()
    finally:
        store.close()
    console = _console()
    table = Table("feed", "last poll", "next poll", "failures", "items 7d", "last error", title="feeds")
    configured = {f.url: f.name for f in config.feed_specs()}
    for url in [*configured, *(u for u in feeds if u not in configured)]:
        f = feeds.get(url, {})
        name = configured.get(url) or f.get("name") or url
        table.add_row(
            name if url in configured else f"{name} (not in config)",
            _ago(f.get("last_polled"), now),
            _ago(f.get("next_poll"), now),
            str(f.get("failures") or 0),
            str(f.get("items_7d") or 0),
            f.get("last_error") or "",
            style="red" if f.get("failures") else None,
        )
    console.print(table)
    rule_table = Table("rule", "matches 24h", "matches 7d", title="rules")
    names = [r.name for r in config.rules]
    for name in [*names, *(r for r in sorted(rules) if r not in names)]:
        day, week = rules.get(name, (0, 0))
        rule_table.add_row(name, str(day), str(week))
    console.print(rule_table)
    out = Table("target", "pending", "retrying", "held", "sent", "dead", "last error", title="targets")
    for target in sorted(set(config.targets) | set(counts)):
        states = counts.get(target, {})
        row = (str(states.get(s, 0)) for s in ("pending", "retrying", "held", "sent", "dead"))
        out.add_row(target, *row, errors.get(target, ""), style="red" if states.get("dead") else None)
    console.print(out)
    console.print(f"database: {config.database_path()} ({size / 2**20:.1f} MiB)")
    return EXIT_OK


def _ago(stamp: str | None, now: datetime) -> str:
    """``2026-11-29 13:05 (12m ago)`` / ``(in 3m)`` for a stored ISO time."""
    if not stamp:
        return "-"
    when = datetime.fromisoformat(stamp)
    seconds = int((now - when).total_seconds())
    span = abs(seconds)
    text = f"{span // 86400}d" if span >= 86400 else f"{span // 3600}h" if span >= 3600 else f"{span // 60}m"
    return f"{when:%Y-%m-%d %H:%M} ({text} ago)" if seconds >= 0 else f"{when:%Y-%m-%d %H:%M} (in {text})"


def cmd_replay(args: argparse.Namespace, config: Config) -> int:
    """Run the current rules over stored articles; with --send, owe alerts for what is new to a story."""
    import asyncio

    from monitor.match import Document, compile_config_rules
    from monitor.pipeline import targets_by_rule
    from monitor.store import Store

    rules = compile_config_rules(config)
    if args.rule and args.rule not in rules.rule_names:
        raise ConfigError(f"no rule named {args.rule!r} (known: {', '.join(rules.rule_names)})", path=config.path)
    tags = {f.url: f.tags for f in config.feed_specs()}
    targets = targets_by_rule(config)
    now = _now()
    store = Store.open(config.database_path())
    would = sent = already = 0
    try:
        for stored in _progress(list(store.articles_since(now - args.since)), "replaying"):
            a = stored.article
            doc = Document(title=a.title, text=a.text, feed=a.feed_name, tags=tags.get(a.feed_url, ()), lang=a.language)
            matches = [m for m in rules.match(doc) if not args.rule or m.rule == args.rule]
            for m in matches:
                old = m.rule in stored.matched_rules
                already += old
                would += not old
                mark = "already alerted" if old else ("queued" if args.send else "would alert")
                day = a.published.date().isoformat() if a.published else "----------"
                print(f"{day}  {m.rule:<20}  {mark:<15}  {a.feed_name}: {a.title}  {a.link}")
            if args.send and matches:
                sent += store.record_matches(stored.id, stored.story_id, matches, targets, now)[1]
        if args.send and sent:
            from monitor.notify import Notifier

            asyncio.run(_deliver(store, Notifier.from_config(config), config))
    finally:
        store.close()
    verb = f"{sent} alerts queued and delivered" if args.send else "nothing sent (use --send)"
    print(f"{would} new matches, {already} already alerted; {verb}", file=sys.stderr)
    return EXIT_OK


def cmd_test_rule(args: argparse.Namespace, config: Config) -> int:
    """Match one article against one rule; print MATCH or NO MATCH, the clauses, the snippet. Exit 0/1."""
    import asyncio

    from monitor.match import Document, compile_config_rules, render_explanation

    rules = compile_config_rules(config)
    if args.rule not in rules.rule_names:
        raise ConfigError(f"no rule named {args.rule!r} (known: {', '.join(rules.rule_names)})", path=config.path)
    if args.text is not None:
        doc = Document(title="", text=args.text, feed=args.feed or "", lang=args.lang)
    else:
        from monitor.extract import extract_article

        if args.url:
            from monitor.fetch import Http

            async def get() -> bytes:
                async with Http(config.fetch, timeout=config.poll.timeout.total_seconds(), concurrency=1) as http:
                    return (await http.fetch_page(args.url)).body

            body, url = asyncio.run(get()), args.url
        else:
            try:
                body, url = Path(args.file).read_bytes(), Path(args.file).resolve().as_uri()
            except OSError as e:
                raise ConfigError(f"cannot read {args.file}: {e.strerror}") from None
        if url.startswith("file:") and body.lstrip()[:1] != b"<":
            text = body.decode("utf-8", "replace")
            doc = Document(title="", text=text, feed=args.feed or "", lang=args.lang)
        else:
            page = extract_article(body, url)
            doc = Document(title=page.title, text=page.text, feed=args.feed or "", lang=args.lang or page.language)
    explanation = rules.explain(args.rule, doc)
    print(render_explanation(explanation))
    return EXIT_OK if explanation.matched else EXIT_FAILED


async def _deliver(store: Store, notifier: Notifier, config: Config | None = None) -> None:
    from monitor.deliver import deliver_due

    await deliver_due(store, notifier, _now(), config)


def cmd_notify_test(args: argparse.Namespace, config: Config) -> int:
    """Send one test message to a target and say whether it arrived."""
    import asyncio

    from monitor.notify import Notifier

    if args.target not in config.targets:
        known = ", ".join(sorted(config.targets)) or "none defined"
        raise ConfigError(f"no target named {args.target!r} (known: {known})", path=config.path)
    notifier = Notifier({args.target: config.targets[args.target]}, timeout=config.delivery.timeout.total_seconds())
    shown = notifier.describe(args.target)
    body = f"This is a test message from news-monitor to target {args.target!r}. If you read it, delivery works."
    try:
        asyncio.run(notifier.send_text(args.target, "news-monitor test message", body))
    except MonitorError as e:
        kind = "permanent" if getattr(e, "permanent", False) else "transient"
        print(f"failed ({kind}): {e}", file=sys.stderr)
        return EXIT_FAILED
    print(f"sent to {args.target} ({shown})")
    return EXIT_OK


def cmd_feeds_list(args: argparse.Namespace, config: Config) -> int:
    for feed in config.feed_specs():
        tags = f"  [{', '.join(feed.tags)}]" if feed.tags else ""
        print(f"{feed.name}\t{feed.url}\t{feed.interval}{tags}")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace, config: Config) -> int:
    """Apply retention now (the daemon does it daily)."""
    from monitor.store import Store

    retention = config.retention
    if args.older_than is not None:
        retention = retention.model_copy(
            update={"articles": args.older_than, "matches": args.older_than, "alerts": args.older_than}
        )
    store = Store.open(config.database_path())
    try:
        before = store.size_bytes()
        pruned = store.prune(_now(), retention)
        after = store.size_bytes()
    finally:
        store.close()
    print(
        f"dropped the text of {pruned.texts} articles, deleted {pruned.articles} articles, {pruned.matches}"
        f" matches, {pruned.alerts} alerts; database {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB"
    )
    return EXIT_OK


def cmd_search(args: argparse.Namespace, config: Config) -> int:
    """Full-text search over stored articles (SQLite FTS5: words, "phrases", OR, NOT, prefix*)."""
    from rich.markup import escape

    from monitor.store import Store

    store = Store.open(config.database_path())
    try:
        hits = store.search(args.query, limit=args.limit, mark=("\x02", "\x03"))
    finally:
        store.close()
    console = _console()
    for hit in hits:
        snippet = escape(" ".join((hit["snippet"] or "").split())).replace("\x02", "[bold]").replace("\x03", "[/bold]")
        title = escape(hit["title"] or "(no title)")
        console.print(f"[bold]{title}[/bold]  {escape(hit['feed'] or '')}  {hit['fetched'][:10]}")
        console.print(f"  {escape(hit['url'])}")
        console.print(f"  {snippet}", highlight=False)
    print(f"{len(hits)} hits", file=sys.stderr)
    return EXIT_OK


def cmd_matches(args: argparse.Namespace, config: Config) -> int:
    """Recent matches, newest first, one line each."""
    from monitor.store import Store

    store = Store.open(config.database_path())
    try:
        rows = store.recent_matches(_now() - args.since, args.rule)
    finally:
        store.close()
    for r in rows:
        title = " ".join((r["title"] or "").split())
        print(f"{r['created'][:16].replace('T', ' ')}  {r['rule']:<20}  {r['feed'] or '-'}: {title}  {r['url']}")
    print(f"{len(rows)} matches", file=sys.stderr)
    return EXIT_OK


def cmd_feeds_import(args: argparse.Namespace, config: Config) -> int:
    """Add an OPML file's feeds to the config file (comments kept), or print them as YAML."""
    from monitor.config import add_feeds
    from monitor.parse import parse_opml

    try:
        body = Path(args.file).read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {args.file}: {e.strerror}", path=Path(args.file)) from None
    found = parse_opml(body)
    feeds = [{"url": f.url, "name": f.name, "tags": list(f.tags)} for f in _progress(found, "reading OPML")]
    if args.print:
        from ruamel.yaml import YAML

        yaml = YAML()
        yaml.width = 4096
        yaml.default_flow_style = None
        yaml.dump({"feeds": [{k: v for k, v in f.items() if v} for f in feeds]}, sys.stdout)
        return EXIT_OK
    assert config.path is not None
    added, _ = add_feeds(config.path, feeds)
    print(f"added {len(added)} of {len(found)} feeds to {config.path} ({len(found) - len(added)} already there)")
    return EXIT_OK


def cmd_feeds_export(args: argparse.Namespace, config: Config) -> int:
    from monitor.parse import OpmlFeed, export_opml

    sys.stdout.write(export_opml(OpmlFeed(url=f.url, name=f.name, tags=f.tags) for f in config.feed_specs()))
    return EXIT_OK


def cmd_feeds_discover(args: argparse.Namespace, config: Config) -> int:
    """The feeds a page announces (``<link rel="alternate">``); a feed URL is reported as itself."""
    import asyncio

    from monitor.parse import discover_feeds

    async def fetch() -> tuple[str, bytes, str | None]:
        from monitor.fetch import Http
        from monitor.types import Fetched

        http = Http(config.fetch, timeout=config.poll.timeout.total_seconds(), concurrency=1)
        try:
            page = await http.fetch_feed(args.url)  # the user typed this URL: trusted like a config entry
        finally:
            await http.close()
        assert isinstance(page, Fetched)  # no validators were sent, so no 304
        return page.final_url, page.body, page.content_type

    url, body, content_type = asyncio.run(fetch())
    found = discover_feeds(body, url)
    if not found and content_type and any(t in content_type for t in ("rss", "atom", "xml", "json")):
        found = [url]
    for feed_url in found:
        print(feed_url)
    if not found:
        print(f"no feeds announced by {url}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _progress(items: Sequence[T], label: str) -> Iterator[T]:
    """Iterate with a rich progress bar on a terminal (stderr), plainly otherwise."""
    if not sys.stderr.isatty() or len(items) < 20:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label, console=_err_console(), transient=True)


def _poll_progress(total: int) -> Callable[[str | None], None]:
    """A progress bar for ``once`` on a terminal: call with each feed's name as it finishes, None at the end."""
    if not sys.stderr.isatty() or total < 2:
        return lambda name: None
    from rich.progress import Progress

    bar = Progress(console=_err_console(), transient=True)
    task = bar.add_task("polling", total=total)
    bar.start()

    def step(name: str | None) -> None:
        if name is None:
            bar.stop()
        else:
            bar.update(task, advance=1, description=f"polled {name[:40]}")

    return step


def _err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


# ---------------------------------------------------------------------------------------------------------
# argument parsing

Command = Callable[[argparse.Namespace, "Config"], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="news-monitor",
        description="Watch news feeds, match articles against watch rules, send one alert per story.",
    )
    parser.add_argument(
        "--config",
        help="config file (default: $NEWS_MONITOR_CONFIG, config/monitor.yaml, ~/.config/news-monitor/monitor.yaml)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log verbosity (default INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    add("run", cmd_run, "run the daemon in the foreground (systemd runs this)")
    p = add("once", cmd_once, "poll every feed (or one) once, deliver what is due, exit")
    p.add_argument("--feed", help="only this feed (name or URL)")
    p = add("check", cmd_check, "validate the config and print it with secrets masked")
    p.add_argument("-q", "--quiet", action="store_true", help="only validate")
    p = add("replay", cmd_replay, "run the current rules over stored articles; send only with --send")
    p.add_argument("--since", type=duration_arg, default="7d", help="how far back (default 7d)")
    p.add_argument("--rule", help="only this rule")
    p.add_argument("--send", action="store_true", help="queue and deliver alerts not sent before")
    p = add("test-rule", cmd_test_rule, "match one article against one rule and explain why or why not")
    p.add_argument("rule", help="the rule's name")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="fetch and extract this page")
    source.add_argument("--file", help="an HTML page (extracted) or a plain-text file")
    source.add_argument("--text", help="the article text itself")
    p.add_argument("--feed", help="the feed name the article came from (for feed: and feeds:)")
    p.add_argument("--lang", help="the article's language (for lang: and languages:)")
    add("status", cmd_status, "feed health and the outbox (pending, retrying, dead)")
    p = add("notify-test", cmd_notify_test, "send a test message to one target and report the result")
    p.add_argument("target", help="the target's name")
    feeds = sub.add_parser(
        "feeds", help="list, import, export or discover feeds", description="list, import, export or discover feeds"
    )
    feeds_sub = feeds.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND", required=True)
    p = feeds_sub.add_parser("list", help="the configured feeds")
    p.set_defaults(func=cmd_feeds_list)
    p = feeds_sub.add_parser("import", help="add the feeds of an OPML file to the config file")
    p.add_argument("file", help="the OPML file")
    p.add_argument("--print", action="store_true", help="print the feeds as YAML instead of editing the config")
    p.set_defaults(func=cmd_feeds_import)
    p = feeds_sub.add_parser("export", help="the configured feeds as OPML on stdout")
    p.set_defaults(func=cmd_feeds_export)
    p = feeds_sub.add_parser("discover", help="the feeds a web page announces")
    p.add_argument("url", help="the page")
    p.set_defaults(func=cmd_feeds_discover)
    p = add("search", cmd_search, "full-text search over stored articles")
    p.add_argument("query", help='words, "phrases", OR, NOT, prefix* (SQLite FTS5)')
    p.add_argument("--limit", type=int, default=20, help="hits to show (default 20)")
    p = add("matches", cmd_matches, "recent matches, one line each")
    p.add_argument("--since", type=duration_arg, default="24h", help="how far back (default 24h)")
    p.add_argument("--rule", help="only this rule")
    p = add("prune", cmd_prune, "apply retention now (the daemon does it daily)")
    p.add_argument("--older-than", type=duration_arg, help="use this age for articles, matches and alerts")
    return parser


def duration_arg(text: str) -> object:
    """argparse type for ``7d``, ``24h``..."""
    try:
        from monitor.config import parse_duration

        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # imported after parsing: --help and usage errors never build the config models (pydantic)
    from monitor.config import find_config, load_config, systemd_env

    setup_logging(args.log_level, timestamps=not systemd_env().journal)
    try:
        path = find_config(args.config)
        args.config = str(path)
        config = load_config(path)
        setup_logging(args.log_level, config.secrets, timestamps=not systemd_env().journal)
        return int(args.func(args, config))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MonitorError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
