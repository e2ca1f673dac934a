"""The long-running service: APScheduler 3 jobs, signals, reload, systemd notify and watchdog.

This is the only module that knows APScheduler. Each feed is a one-shot job that reschedules itself after
each poll, at the interval the poll asked for (the feed's interval, a backoff after errors, or what the server
asked with Retry-After), plus jitter. A job still running is never started twice (max_instances=1); missed runs
coalesce into one. The outbox flusher is a job of its own, woken early whenever a poll wrote alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config import Config, load_config, systemd_env
from monitor.deliver import deliver_due, digest_schedules, send_digests
from monitor.errors import ConfigError, MonitorError
from monitor.fetch import Http
from monitor.health import HealthServer, Metrics
from monitor.isolate import Isolator
from monitor.log import event, setup_logging
from monitor.pipeline import Context, build_context, poll_feed
from monitor.store import Store
from monitor.types import FeedSpec

log = logging.getLogger(__name__)
T = TypeVar("T")

SHUTDOWN_GRACE = 20.0  # seconds for running polls and sends to finish before we cancel them


def utcnow() -> datetime:
    return datetime.now(UTC)


class SystemdNotifier:
    """sd_notify(3) over the datagram socket systemd passes in NOTIFY_SOCKET; a no-op outside systemd."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        if address and address.startswith("@"):
            self.address = "\0" + address[1:]

    def notify(self, message: str) -> None:
        if not self.address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(message.encode(), self.address)
            except OSError as e:
                event(log, "systemd_notify_failed", logging.WARNING, error=str(e))


class Daemon:
    def __init__(self, config_path: Path, config: Config, level: str = "INFO") -> None:
        self.config_path = config_path
        self.config = config
        self.level = level
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.stopping = asyncio.Event()
        env = systemd_env()
        self.systemd = SystemdNotifier(env.notify_socket)
        self.watchdog = env.watchdog_usec / 2e6 if env.watchdog_usec else None
        self.rng = random.Random()
        self.ctx: Context | None = None
        self.metrics: Metrics | None = None  # set in run(), once the store is known

    # -- jobs ----------------------------------------------------------------------------------------------

    def _feed_job_id(self, feed: FeedSpec) -> str:
        return f"feed:{feed.url}"

    def _schedule_feed(self, feed: FeedSpec, delay: timedelta) -> None:
        jitter = self.config.poll.jitter.total_seconds()
        when = utcnow() + delay + timedelta(seconds=self.rng.uniform(0, jitter) if jitter else 0)
        self.scheduler.add_job(
            self._poll_job,
            trigger="date",
            run_date=when,
            args=[feed.url],
            id=self._feed_job_id(feed),
            name=feed.name,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # a late run (suspend, busy loop) still runs, once
        )

    async def _poll_job(self, url: str) -> None:
        ctx = self.ctx
        if ctx is None or self.stopping.is_set():
            return
        feed = ctx.feeds.get(url)
        if feed is None:
            return  # removed by a reload while queued
        try:
            result = await self._unless_stopping(poll_feed(feed, ctx))
        except asyncio.CancelledError:
            # Shutting down: a poll holds nothing worth waiting for (each write is its own transaction, the
            # feed is polled again after the restart), so it ends now rather than at its deadline.
            event(log, "poll_abandoned", feed=feed.name, reason="shutting down")
            return
        except Exception:
            log.critical("bug: poll_feed raised for feed=%s", feed.name, exc_info=True)
            result = None
        if result is not None and self.metrics is not None:
            self.metrics.observe_poll(result)
        if self.stopping.is_set():
            return
        delay = result.next_interval if result and result.next_interval else feed.interval
        if self.ctx is not None and url in self.ctx.feeds:
            self._schedule_feed(feed, delay)
        if result and result.alerts:
            self._wake_delivery()

    async def _unless_stopping(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work``; cancel it (CancelledError) as soon as the daemon starts stopping."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise asyncio.CancelledError
        return task.result()

    def _wake_delivery(self) -> None:
        job = self.scheduler.get_job("deliver")
        if job is not None:
            job.modify(next_run_time=utcnow())

    async def _deliver_job(self) -> None:
        ctx = self.ctx
        if ctx is None or self.stopping.is_set():
            return
        try:
            started = time.monotonic()
            await deliver_due(ctx.store, ctx.notifier, ctx.now(), ctx.config)
            if self.metrics is not None:
                self.metrics.observe_delivery(time.monotonic() - started)
        except asyncio.CancelledError:
            # Cancelled after the shutdown grace: a send in flight was never marked sent, so it stays owed.
            event(log, "delivery_interrupted", logging.WARNING, reason="shutting down")
        except MonitorError as e:
            event(log, "deliver_failed", logging.ERROR, error=str(e))
        except Exception:
            log.critical("bug: delivery raised", exc_info=True)

    def _schedule_digests(self) -> None:
        """One cron job per digest (a target's or a rule's); rebuilt on reload."""
        from apscheduler.triggers.cron import CronTrigger

        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                self.scheduler.remove_job(job.id)
        for i, (cron, target, rule) in enumerate(digest_schedules(self.config)):
            self.scheduler.add_job(
                self._digest_job,
                CronTrigger.from_crontab(cron, timezone=UTC),
                args=(target, rule),
                id=f"digest:{i}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=3600,  # a digest missed while suspended still goes out once
            )

    async def _digest_job(self, target: str | None, rule: str | None) -> None:
        ctx = self.ctx
        if ctx is None or self.stopping.is_set():
            return
        try:
            await send_digests(ctx.store, ctx.notifier, ctx.now(), ctx.config, target=target, rule=rule)
        except MonitorError as e:
            event(log, "digest_failed", logging.ERROR, error=str(e))
        except Exception:
            log.critical("bug: digest raised", exc_info=True)

    async def _prune_job(self) -> None:
        ctx = self.ctx
        if ctx is None or self.stopping.is_set():
            return
        try:
            pruned = ctx.store.prune(ctx.now(), ctx.config.retention)
        except MonitorError as e:
            event(log, "prune_failed", logging.ERROR, error=str(e))
            return
        event(
            log,
            "pruned",
            texts=pruned.texts,
            articles=pruned.articles,
            matches=pruned.matches,
            alerts=pruned.alerts,
            bytes=ctx.store.size_bytes(),
        )

    async def _health_problems(self) -> list[str]:
        """Why /healthz should fail: the scheduler stopped, a job is long overdue, or the DB takes no writes."""
        problems: list[str] = []
        if not self.scheduler.running:
            problems.append("scheduler: not running")
        stall = self.config.health.stall
        now = utcnow()
        for job in self.scheduler.get_jobs():
            when = job.next_run_time
            if when is not None and now - when > stall:
                problems.append(f"scheduler: job {job.name} overdue by {(now - when).total_seconds():.0f}s")
        if self.ctx is not None:
            try:
                self.ctx.store.probe_write(now)
            except MonitorError as e:
                problems.append(f"database: {e}")
        return problems

    def _status(self) -> str:
        ctx = self.ctx
        if ctx is None:
            return "starting"
        counts = ctx.store.outbox_counts()
        pending = sum(n for states in counts.values() for s, n in states.items() if s in ("pending", "retrying"))
        failing = ctx.store.failing_feeds()
        return f"polling {len(ctx.config.feeds)} feeds, {failing} failing, {pending} alerts pending"

    # -- reload --------------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Validate the config file and apply it; an invalid edit changes nothing."""
        if self.ctx is None:
            return  # SIGHUP before start-up finished: the config being loaded is already the newest
        self.systemd.notify("RELOADING=1")
        try:
            new = load_config(self.config_path)
            ctx = build_context(new, self.ctx.store, self.ctx.http, self.ctx.isolator, self.ctx.now)
        except MonitorError as e:
            event(log, "reload_rejected", logging.ERROR, error=str(e), kept="previous config")
            self.systemd.notify("READY=1")
            return
        old_feeds = {f.url: f for f in self.config.feed_specs()}
        new_feeds = {f.url: f for f in new.feed_specs()}
        added = [u for u in new_feeds if u not in old_feeds]
        removed = [u for u in old_feeds if u not in new_feeds]
        changed = [u for u in new_feeds if u in old_feeds and new_feeds[u] != old_feeds[u]]
        old_rules = {r.name: r for r in self.config.rules}
        new_rules = {r.name: r for r in new.rules}
        rules_changed = sorted(n for n in new_rules.keys() | old_rules.keys() if new_rules.get(n) != old_rules.get(n))
        old = self.config
        targets_changed = sorted(
            n for n in new.targets.keys() | old.targets.keys() if new.targets.get(n) != old.targets.get(n)
        )
        # Built once at start (sockets, worker pool, listener, the open database): these need a restart.
        restart = [k for k in ("database", "fetch", "health") if getattr(new, k) != getattr(old, k)]
        restart += [f"poll.{k}" for k in ("timeout", "concurrency") if getattr(new.poll, k) != getattr(old.poll, k)]
        self.config, self.ctx = new, ctx
        new.forget_lines()  # its rules are compiled: the YAML tree behind error line numbers is not needed
        setup_logging(self.level, new.secrets)
        for url in removed:
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(f"feed:{url}")
        for url in added:
            self._schedule_feed(new_feeds[url], timedelta(0))
        for url in changed:
            self._schedule_feed(new_feeds[url], min(new_feeds[url].interval, old_feeds[url].interval))
        self._schedule_digests()
        event(
            log,
            "config_reloaded",
            feeds=f"+{len(added)} -{len(removed)} ~{len(changed)}",
            rules_changed=",".join(rules_changed) or "none",
            targets_changed=",".join(targets_changed) or "none",
        )
        if restart:
            event(log, "reload_needs_restart", logging.WARNING, keys=",".join(restart))
        self.systemd.notify(f"READY=1\nSTATUS={self._status()}")

    async def _watch_config(self) -> None:
        """Reload when the config file changes on disk (mtime and size polled every 2 s)."""

        def stamp() -> tuple[float, int] | None:
            try:
                st = self.config_path.stat()
            except OSError:
                return None
            return (st.st_mtime, st.st_size)

        last = stamp()
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=2.0)
            current = stamp()
            if current is not None and current != last:
                last = current
                event(log, "config_changed", path=str(self.config_path))
                self.reload()

    async def _heartbeat(self) -> None:
        """WATCHDOG=1 from the event loop itself: a wedged loop stops the pings and systemd restarts us."""
        interval = self.watchdog or 30.0
        while not self.stopping.is_set():
            self.systemd.notify(f"WATCHDOG=1\nSTATUS={self._status()}" if self.watchdog else f"STATUS={self._status()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=interval)

    # -- main ----------------------------------------------------------------------------------------------

    async def run(self, store: Store, now: Callable[[], datetime] = utcnow) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        http = Http(
            self.config.fetch,
            timeout=self.config.poll.timeout.total_seconds(),
            concurrency=self.config.poll.concurrency,
        )
        isolator = Isolator()
        try:
            self.ctx = build_context(self.config, store, http, isolator, now)
            self.metrics = Metrics(store)
            self.scheduler.start()
            for feed in self.config.feed_specs():
                state = store.get_feed_state(feed.url)
                due = state.next_poll - now() if state.next_poll else timedelta(0)
                self._schedule_feed(feed, max(due, timedelta(0)))
            self.scheduler.add_job(
                self._deliver_job,
                trigger="interval",
                seconds=self.config.delivery.interval.total_seconds(),
                id="deliver",
                next_run_time=utcnow(),
                max_instances=1,
                coalesce=True,
            )
            self._schedule_digests()
            event(
                log,
                "daemon_started",
                feeds=len(self.config.feeds),
                rules=len(self.config.rules),
                database=str(store.path),
                pid=os.getpid(),
            )
            # What start-up built (config, compiled rules, imported modules) lives as long as the process: out
            # of the collector's sight, a full collection walks ~7k objects instead of ~100k (55-80 ms each).
            # Start-up's garbage (the config's YAML tree among it) goes first, or it would be kept for good.
            self.config.forget_lines()
            gc.collect()
            gc.freeze()
            self.systemd.notify(f"READY=1\nSTATUS={self._status()}")
            self.scheduler.add_job(
                self._prune_job,
                trigger="cron",
                hour=3,
                minute=self.rng.randrange(60),
                id="prune",
                name="retention",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=6 * 3600,  # a prune missed while suspended runs once on wake-up
            )
            health = None
            if (address := self.config.health.address()) is not None:
                health = HealthServer(*address, self.metrics, self._health_problems)
                await health.start()
            background = [asyncio.create_task(self._watch_config()), asyncio.create_task(self._heartbeat())]
            await self.stopping.wait()
            event(log, "daemon_stopping")
            self.systemd.notify("STOPPING=1")
            # Pause, then drain: APScheduler's asyncio executor cancels running jobs on shutdown.
            self.scheduler.pause()
            if health is not None:
                await health.close()
            await _drain(SHUTDOWN_GRACE)
            self.scheduler.shutdown(wait=False)
            for task in background:
                task.cancel()
        finally:
            await http.close()
            isolator.close()
            event(log, "daemon_stopped")


async def _drain(grace: float) -> None:
    """Let running jobs finish for ``grace`` seconds, then cancel them (the outbox stays consistent:
    an alert is marked sent only after its send returned)."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)


def run_daemon(config_path: Path, level: str = "INFO", config: Config | None = None) -> int:
    """Entry point for ``news-monitor run``. Exit 0 on a clean stop, 2 on invalid config, 1 otherwise.
    ``config``: the one the CLI already loaded (a second copy of a 10,000-rule config costs tens of MB)."""
    try:
        config = config or load_config(config_path)
    except ConfigError as e:
        log.error("%s", e)
        return 2
    setup_logging(level, config.secrets)
    try:
        store = Store.open(config.database_path())
    except MonitorError as e:
        event(log, "startup_failed", logging.ERROR, error=str(e))
        return 1
    store.checkpoint_in_background()
    try:
        _run_loop(Daemon(config_path, config, level).run(store))
    except ConfigError as e:
        log.error("%s", e)
        return 2
    except MonitorError as e:
        event(log, "daemon_failed", logging.ERROR, error=str(e))
        return 1
    finally:
        store.close()
        _leave_stuck_threads(0)
    return 0


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Like ``asyncio.run`` except that it does not wait for the default thread pool: a send stuck in a
    library thread (apprise to a hung target) must not hold up the exit until its own timeout."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main)
    finally:
        try:
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=5))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()  # shuts the thread pool down without waiting
            # closing put SIGTERM and SIGINT back to their defaults: a second one (a script, or systemd's
            # ExecStop and its own) would kill the process in the middle of the store's last writes
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)


def _leave_stuck_threads(code: int) -> None:
    """Exit now if library threads are still blocked (interpreter exit would join them). The outbox is
    consistent: a send that never returned was never marked sent and is retried after the restart."""
    deadline = time.monotonic() + 3.0  # idle pool threads wind down within moments of the pool's shutdown
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        event(log, "exit_leaving_threads", logging.WARNING, threads=len(stuck))
        logging.shutdown()
        os._exit(code)
