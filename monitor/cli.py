"""The command line: parse arguments, call the library, render the result.

Heavy libraries (trafilatura, feedparser, apprise, aiohttp, APScheduler) are imported inside the commands
that need them, so ``--help`` and ``check`` start fast. Exit codes: 0 done (per-feed failures are reported,
not fatal), 1 the command could not do its work, 2 bad usage or invalid config.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import Config, find_config, load_config, parse_duration, systemd_env
from monitor.errors import ConfigError, MonitorError
from monitor.log import setup_logging

if TYPE_CHECKING:
    from monitor.store import Store
    from monitor.types import PollResult

log = logging.getLogger("monitor.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _now() -> datetime:
    return datetime.now(UTC)


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------------------
# commands


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from monitor.pipeline import compile_config_rules

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

    return run_daemon(config.path or Path(args.config), args.log_level)


async def _once(config: Config, store: Store, feed_name: str | None) -> list[PollResult]:
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

        async def one(feed):  # type: ignore[no-untyped-def]
            async with limit:
                return await poll_feed(feed, ctx)

        results: list[PollResult] = await asyncio.gather(*(one(f) for f in feeds))
        await deliver_due(store, ctx.notifier, _now(), config)
        return results
    finally:
        await http.close()
        isolator.close()


def cmd_once(args: argparse.Namespace, config: Config) -> int:
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
    from rich.table import Table

    from monitor.store import Store

    store = Store.open(config.database_path())
    try:
        feeds = store.feed_rows()
        counts = store.outbox_counts()
        errors = store.outbox_errors()
    finally:
        store.close()
    console = _console()
    table = Table("feed", "last poll", "next poll", "failures", "articles", "last error", title="feeds")
    for f in feeds:
        table.add_row(
            f["name"] or f["url"],
            f["last_polled"] or "-",
            f["next_poll"] or "-",
            str(f["failures"] or 0),
            str(f["articles"]),
            f["last_error"] or "",
        )
    console.print(table)
    out = Table("target", "pending", "retrying", "held", "sent", "dead", "last error", title="outbox")
    for target, states in sorted(counts.items()):
        row = (str(states.get(s, 0)) for s in ("pending", "retrying", "held", "sent", "dead"))
        out.add_row(target, *row, errors.get(target, ""))
    console.print(out)
    return EXIT_OK


def cmd_notify_test(args: argparse.Namespace, config: Config) -> int:
    """Send one test message to a target and say whether it arrived."""
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


# ---------------------------------------------------------------------------------------------------------
# argument parsing

Command = Callable[[argparse.Namespace, Config], int]


def cmd_test_rule(args: argparse.Namespace, config: Config) -> int:
    """Match one article against one rule; print MATCH or NO MATCH, the clauses, the snippet. Exit 0/1."""
    from monitor.match import Document, render_explanation
    from monitor.pipeline import compile_config_rules

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
    feeds = sub.add_parser("feeds", help="list, import, export or discover feeds")
    feeds_sub = feeds.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND", required=True)
    p = feeds_sub.add_parser("list", help="the configured feeds")
    p.set_defaults(func=cmd_feeds_list)
    return parser


def duration_arg(text: str) -> object:
    """argparse type for ``7d``, ``24h``..."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
