"""The outbox flusher: send what is due, retry what failed, hold what must wait, give up what is too old.

An alert is marked sent only after its message went out, so a crash between the two sends it again (at most
one duplicate per crash) and never loses it. Everything that must survive a restart lives in the database
(next attempt times, holds, the messages counted by rate limits); this module keeps no state of its own.
Per target, in order:

1. too old (``delivery.max_age``) → dead, and one notice to the fallback target;
2. rule or target with a digest → held for ``send_digests``;
3. quiet hours → held until the window ends (``priority: urgent`` passes), then one catch-up message;
4. rate limit → what fits goes out one by one, the overflow as one summary message when a slot is free;
5. a failure → retry with exponential backoff and jitter, no sooner than the target's Retry-After
   (which also holds the target's other alerts); permanent errors → dead at once.

Targets are flushed concurrently, so a hung target does not delay the others.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config import Config, DeliveryConfig, QuietHoursConfig, RuleConfig, TargetConfig
from monitor.errors import NotifyError
from monitor.log import event, mask_secrets
from monitor.notify import Notifier
from monitor.store import Store
from monitor.types import Alert

log = logging.getLogger(__name__)

BATCH = 500  # alerts read per flush; the rest wait for the next one


@dataclass
class DeliveryReport:
    sent: int = 0  # alerts delivered (one message may carry several)
    messages: int = 0
    failed: int = 0  # alerts that will be retried
    dead: int = 0
    held: int = 0  # quiet hours or digest
    deferred: int = 0  # left for later by a rate limit or a Retry-After
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.messages += other.messages
        self.failed += other.failed
        self.dead += other.dead
        self.held += other.held
        self.deferred += other.deferred
        self.errors.extend(other.errors)


def backoff(attempts: int, cfg: DeliveryConfig, rng: random.Random) -> timedelta:
    """``retry_min`` doubled per earlier attempt, capped at ``retry_max``, with jitter in [50 %, 100 %]."""
    base = min(cfg.retry_min.total_seconds() * 2 ** min(attempts, 30), cfg.retry_max.total_seconds())
    return timedelta(seconds=base * (0.5 + rng.random() / 2))


def quiet_until(quiet: QuietHoursConfig, now: datetime) -> datetime | None:
    """The end of the quiet window ``now`` falls in, or None outside it. Windows may cross midnight."""
    tz = ZoneInfo(quiet.tz)
    local = now.astimezone(tz)
    sh, sm = (int(x) for x in quiet.start.split(":"))
    eh, em = (int(x) for x in quiet.end.split(":"))
    start, end = sh * 60 + sm, eh * 60 + em
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside or start == end:
        return None
    day = local.date() + timedelta(days=1 if start > end and minute >= start else 0)
    return datetime(day.year, day.month, day.day, eh, em, tzinfo=tz).astimezone(UTC)


def _ceil(at: datetime) -> datetime:
    # The store keeps whole seconds; round up so a Retry-After is never cut short.
    return datetime.fromtimestamp(math.ceil(at.timestamp()), UTC)


class _Flush:
    """One flush of one target's due alerts."""

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        target: str,
        spec: TargetConfig | None,
        config: Config | None,
        now: datetime,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self.store, self.notifier, self.target, self.spec = store, notifier, target, spec
        self.cfg = config.delivery if config is not None else DeliveryConfig()
        self.rules: Mapping[str, RuleConfig] = {r.name: r for r in config.rules} if config else {}
        self.now, self.clock, self.rng = now, clock, rng
        self.report = DeliveryReport()
        self.fallback = (spec.fallback if spec else None) or self.cfg.fallback
        self.died: list[Alert] = []

    async def run(self, alerts: Sequence[Alert], held: Sequence[Alert]) -> DeliveryReport:
        alive: list[Alert] = []
        expired: list[Alert] = []
        for a in alerts:
            created = a.created or self.now
            (expired if self.now - created >= self.cfg.max_age else alive).append(a)
        for a in expired:
            self.store.mark_failed(a.id, a.last_error or "expired before delivery", None, self.now)
        self.report.dead += len(expired)
        instant = self._route_digests(alive)
        instant = self._route_quiet(instant)
        await self._send_all(list(held), instant)
        dead = expired + self.died
        if dead:
            await self._notify_fallback(dead)
        return self.report

    def _route_digests(self, alerts: list[Alert]) -> list[Alert]:
        target_digest = self.spec.digest if self.spec else None
        out: list[Alert] = []
        parked: list[int] = []
        for a in alerts:
            rule = self.rules.get(a.rule)
            if (target_digest or (rule and rule.digest)) and a.priority != "urgent":
                parked.append(a.id)
            else:
                out.append(a)
        if parked:
            self.store.hold(parked, None)
            self.report.held += len(parked)
        return out

    def _route_quiet(self, alerts: list[Alert]) -> list[Alert]:
        if not self.spec or not self.spec.quiet_hours:
            return alerts
        until = quiet_until(self.spec.quiet_hours, self.now)
        if until is None:
            return alerts
        wait = [a.id for a in alerts if a.priority != "urgent"]
        if wait:
            self.store.hold(wait, until)
            self.report.held += len(wait)
        return [a for a in alerts if a.priority == "urgent"]

    def _slots(self) -> int | None:
        """Messages the rate limit still allows now (None: no limit)."""
        if not self.spec or not self.spec.rate_limit:
            return None
        count, seconds = self.spec.rate_limit
        return max(count - self.store.messages_since(self.target, self.now - timedelta(seconds=seconds)), 0)

    async def _send_all(self, held: list[Alert], alerts: list[Alert]) -> None:
        # A quiet-hours catch-up: all that was held goes out as one message (one alert: as itself).
        messages: list[tuple[str | None, list[Alert]]] = []
        if len(held) > 1:
            messages.append((f"{len(held)} alerts held during quiet hours", held))
        elif held:
            alerts = held + alerts
        messages.extend((None, [a]) for a in alerts)
        slots = self._slots()
        if slots is not None and len(messages) > slots:
            keep = messages[: max(slots - 1, 0)]
            rest = [a for _, group in messages[len(keep) :] for a in group]
            if slots == 0:
                self._defer_for_rate(rest)
                messages = []
            else:
                rate = self.spec.rate if self.spec else ""
                messages = [*keep, (f"{len(rest)} more alerts (rate limit {rate})", rest)]
        for i, (heading, group) in enumerate(messages):
            if not await self._send(heading, group):
                self.report.deferred += sum(len(g) for _, g in messages[i + 1 :])
                break

    def _defer_for_rate(self, alerts: list[Alert]) -> None:
        assert self.spec is not None and self.spec.rate_limit is not None
        _, seconds = self.spec.rate_limit
        self.store.defer_target(self.target, _ceil(self.now + timedelta(seconds=seconds / 4)))
        self.report.deferred += len(alerts)

    async def _send(self, heading: str | None, group: list[Alert]) -> bool:
        """Send one message; False stops this target's flush (the target is down or said to wait).

        A permanent error is about this message (or dead credentials, which the next one finds out too), so
        the flush goes on."""
        try:
            if heading is None:
                await self.notifier.send(group[0])
            else:
                await self.notifier.send_digest(self.target, heading, group)
        except NotifyError as e:
            self._failed(group, e)
            return e.permanent and e.retry_after is None
        sent_at = self.clock()
        self.store.mark_sent_many([a.id for a in group], self.target, sent_at)
        self.report.sent += len(group)
        self.report.messages += 1
        event(log, "alert_sent", target=self.target, alerts=len(group), rule=group[0].rule)
        return True

    def _failed(self, group: list[Alert], error: NotifyError) -> None:
        at = self.clock()
        text = mask_secrets(str(error))
        self.report.errors.append(text)
        for a in group:
            created = a.created or self.now
            delay = backoff(a.attempts, self.cfg, self.rng)
            if error.retry_after is not None:
                delay = max(delay, timedelta(seconds=error.retry_after))
            next_at = _ceil(at + delay)
            if error.permanent or next_at - created >= self.cfg.max_age + timedelta(seconds=1):
                # Permanent, or the retry would come after the alert's deadline: give up now, visibly.
                if not error.permanent and at - created < self.cfg.max_age:
                    next_at = _ceil(created + self.cfg.max_age)  # one last try at the deadline
                    self.store.mark_failed(a.id, text, next_at, at)
                    self.report.failed += 1
                    continue
                self.store.mark_failed(a.id, text, None, at)
                self.report.dead += 1
                self.died.append(a)
            else:
                self.store.mark_failed(a.id, text, next_at, at)
                self.report.failed += 1
        if error.retry_after is not None:
            # The target said when to come back: nothing else goes there before then, across restarts.
            self.store.defer_target(self.target, _ceil(at + timedelta(seconds=error.retry_after)))
        event(
            log,
            "alert_failed",
            logging.WARNING,
            target=self.target,
            alerts=len(group),
            permanent=error.permanent,
            retry_after=error.retry_after,
            error=text,
        )

    async def _notify_fallback(self, dead: list[Alert]) -> None:
        if not self.fallback or self.fallback == self.target:
            return
        lines = [f"{len(dead)} alert(s) to target {self.target!r} could not be delivered and were given up:"]
        lines += [f"- [{a.rule}] {a.title} {a.url}" for a in dead[:20]]
        if len(dead) > 20:
            lines.append(f"... and {len(dead) - 20} more")
        last = dead[-1].last_error or (self.report.errors[-1] if self.report.errors else "")
        if last:
            lines.append(f"Last error: {mask_secrets(last)}")
        try:
            await self.notifier.send_text(self.fallback, "news-monitor: alerts undeliverable", "\n".join(lines))
        except NotifyError as e:
            event(log, "fallback_failed", logging.ERROR, target=self.fallback, error=mask_secrets(str(e)))


async def deliver_due(
    store: Store,
    notifier: Notifier,
    now: datetime,
    config: Config | None = None,
    *,
    rng: random.Random | None = None,
    limit: int = BATCH,
) -> DeliveryReport:
    """Flush the outbox once: every target with due alerts, concurrently."""
    started = time.monotonic()

    def clock() -> datetime:
        # Times after a send (failure, Retry-After) count from when it happened, not from the flush start.
        return now + timedelta(seconds=time.monotonic() - started)

    rng = rng or random.Random()
    specs = config.targets if config is not None else notifier.specs
    by_target: dict[str, tuple[list[Alert], list[Alert]]] = {}
    for a in store.due_alerts(now, limit):
        by_target.setdefault(a.target, ([], []))[0].append(a)
    for a in store.held_due(now, limit):
        by_target.setdefault(a.target, ([], []))[1].append(a)
    report = DeliveryReport()
    unknown = [t for t in by_target if t not in notifier.targets]
    for target in unknown:
        # A target removed from the config: its alerts cannot go anywhere; say so instead of looping.
        alerts, held = by_target.pop(target)
        for a in alerts + held:
            store.mark_failed(a.id, f"target {target!r} is no longer configured", None, now)
        report.dead += len(alerts) + len(held)
    flushes = [
        _Flush(store, notifier, t, specs.get(t), config, now, clock, rng).run(alerts, held)
        for t, (alerts, held) in by_target.items()
    ]
    for result in await asyncio.gather(*flushes):
        report.add(result)
    if report.sent or report.failed or report.dead:
        event(
            log,
            "outbox_flushed",
            sent=report.sent,
            messages=report.messages,
            failed=report.failed,
            dead=report.dead,
            held=report.held,
            deferred=report.deferred,
        )
    return report


def digest_schedules(config: Config) -> list[tuple[str, str | None, str | None]]:
    """(cron, target, rule) for every digest in the config: the daemon runs ``send_digests`` on each."""
    out: list[tuple[str, str | None, str | None]] = []
    for name, spec in config.targets.items():
        if spec.digest:
            out.append((spec.digest, name, None))
    for rule in config.rules:
        if rule.digest:
            out.append((rule.digest, None, rule.name))
    return out


async def send_digests(
    store: Store,
    notifier: Notifier,
    now: datetime,
    config: Config,
    *,
    target: str | None = None,
    rule: str | None = None,
) -> DeliveryReport:
    """One digest message per target: a target's digest (its alerts from rules without their own digest), or
    a rule's digest (that rule's alerts, for each of its targets). An empty digest is not sent; a failed one
    stays held for the next run."""
    report = DeliveryReport()
    jobs: list[tuple[str, list[str] | None]]
    if rule is not None:
        spec = next((r for r in config.rules if r.name == rule), None)
        jobs = [(t, [rule]) for t in (spec.notify if spec else [])]
        label = f"Digest: {rule}"
    elif target is not None:
        own = [r.name for r in config.rules if r.digest]
        jobs = [(target, None)]
        label = "Digest"
    else:
        return report
    for name, rules in jobs:
        alerts = store.digest_alerts(name, rules)
        if rule is None:
            alerts = [a for a in alerts if a.rule not in own]
        if not alerts:
            continue
        heading = f"{label} — {len(alerts)} {'story' if len(alerts) == 1 else 'stories'}"
        try:
            await notifier.send_digest(name, heading, alerts)
        except NotifyError as e:
            report.errors.append(mask_secrets(str(e)))
            event(log, "digest_failed", logging.WARNING, target=name, alerts=len(alerts), error=report.errors[-1])
            continue
        store.mark_sent_many([a.id for a in alerts], name, now)
        report.sent += len(alerts)
        report.messages += 1
        event(log, "digest_sent", target=name, rule=rule, alerts=len(alerts))
    return report
