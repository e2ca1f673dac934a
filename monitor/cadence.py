"""Adaptive polling: each feed's interval follows how often it publishes (pure; the clock is passed in).

A feed's publishing rate is estimated from what our own polls saw: two exponentially decayed sums, the new
entries found and the seconds observed (time between successful polls). Their ratio is the rate; the decay
(half-life ``HALF_LIFE``) lets it follow a feed whose rhythm changes within a day. Both sums start from a
prior worth one configured interval's evidence (one entry per two intervals), so a feed without history is
polled at its configured interval and a single empty poll does not send it to the maximum at once.

The next interval is half the expected gap between new entries (two polls per entry keeps the delay well
under the gap), clamped to ``[min_interval, max_interval]``, spread by ±``JITTER`` so feeds that settle on the
same interval drift apart, and finally never below what the server asked for (Cache-Control max-age, RSS
``ttl``): the server's ask wins over ``max_interval``, up to a day.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

HALF_LIFE = timedelta(hours=12)
POLLS_PER_ENTRY = 2.0
JITTER = 0.1  # ±10 % of the interval
MAX_ASK = timedelta(hours=24)  # a server's max-age/ttl is honoured up to this


@dataclass(frozen=True, slots=True)
class Cadence:
    """Decayed evidence about a feed's publishing: ``entries`` new entries seen over ``seconds`` observed."""

    entries: float
    seconds: float

    @classmethod
    def prior(cls, interval: timedelta) -> Cadence:
        """No history: as if one entry had appeared in two configured intervals, so the result is ``interval``."""
        return cls(entries=1.0, seconds=POLLS_PER_ENTRY * max(interval.total_seconds(), 1.0))

    @property
    def gap(self) -> float:
        """Expected seconds between new entries (infinite when none has been seen lately)."""
        return self.seconds / self.entries if self.entries > 0 else math.inf


def observe(cadence: Cadence, new: int, elapsed: timedelta) -> Cadence:
    """Fold in one poll that found ``new`` entries ``elapsed`` after the previous successful poll."""
    seconds = max(elapsed.total_seconds(), 0.0)
    decay = 0.5 ** (seconds / HALF_LIFE.total_seconds())
    return Cadence(entries=cadence.entries * decay + max(new, 0), seconds=cadence.seconds * decay + seconds)


def adaptive_interval(
    cadence: Cadence,
    *,
    min_interval: timedelta,
    max_interval: timedelta,
    asked: timedelta = timedelta(0),
    rng: random.Random | None = None,
) -> timedelta:
    """The next poll's interval: the rhythm within bounds, with jitter, never below the server's ask."""
    low = min(min_interval, max_interval)
    high = max(min_interval, max_interval)
    wanted = cadence.gap / POLLS_PER_ENTRY
    base = min(max(wanted, low.total_seconds()), high.total_seconds())
    spread = (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)
    jittered = min(max(base * spread, low.total_seconds()), high.total_seconds())
    return max(timedelta(seconds=jittered), min(asked, MAX_ASK))


def server_ask(max_age: float | None = None, ttl_minutes: int | None = None) -> timedelta:
    """What the server asked for: Cache-Control max-age or RSS ttl, whichever is longer."""
    return timedelta(seconds=max(max_age or 0.0, (ttl_minutes or 0) * 60.0, 0.0))


def after_poll(previous: Cadence | None, *, interval: timedelta, new: int, elapsed: timedelta | None) -> Cadence:
    """A feed's cadence after a successful poll that found ``new`` unseen entries ``elapsed`` after the last
    success. The first poll (``elapsed`` None) only sets the prior: its entries are the feed's backlog."""
    start = previous or Cadence.prior(interval)
    return start if elapsed is None else observe(start, new, elapsed)
