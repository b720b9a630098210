"""Per-provider gates: a budget that prevents 429s, a cooldown that honours the provider's
Retry-After, and a breaker for consecutive failures. Quota and health are kept apart on purpose:
a 429 says "wait", a 5xx says "something is wrong"."""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate

from providers.base import RateLimit

from .status import humanize

SAFETY_MARGIN = 0.8          # use at most 80 % of a documented limit
BREAKER_THRESHOLD = 3        # consecutive failures that open the breaker
BREAKER_BASE_S = 15.0        # first open period; doubles on each re-open
BREAKER_MAX_S = 300.0


class ProviderBudget:
    """The provider's documented limit minus a safety margin, spent without ever blocking."""

    def __init__(self, rate_limit: RateLimit, margin: float = SAFETY_MARGIN,
                 capacity: int | None = None):
        """`capacity` overrides the margin's (a replica's share while the fleet's store is lost)."""
        self.capacity = capacity or max(1, math.floor(rate_limit.requests * margin))
        self.window_ms = int(rate_limit.per_seconds * Duration.SECOND)
        self.bucket = InMemoryBucket([Rate(self.capacity, self.window_ms)])
        self.limiter = Limiter(self.bucket)
        self._lock = threading.Lock()
        # pyrate-limiter decides; this ledger only reports what is left, which the bucket's own
        # count does not (it keeps expired items until its leak thread runs).
        self._used: list[tuple[float, int]] = []   # (monotonic time, weight) inside the window

    def try_spend(self, weight: int = 1) -> bool:
        """Take `weight` from the budget now, or say no at once."""
        weight = max(1, min(int(weight), self.capacity))
        ok = bool(self.limiter.try_acquire("budget", weight, blocking=False))
        if ok:
            with self._lock:
                self._used.append((time.monotonic(), weight))
        return ok

    def carry(self, spends: list[tuple[float, int]]) -> None:
        """Count spends made elsewhere (monotonic time, weight) against this budget, up to its
        capacity: a replica that falls back to its share keeps what it already spent."""
        horizon = time.monotonic() - self.window_ms / 1000.0
        for t, w in spends:
            if t > horizon and self.limiter.try_acquire("budget", w, blocking=False):
                with self._lock:
                    self._used.append((t, w))

    def _window(self) -> tuple[float, list[tuple[float, int]]]:
        now = time.monotonic()
        horizon = now - self.window_ms / 1000.0
        with self._lock:
            self._used = [(t, w) for t, w in self._used if t > horizon]
            return now, list(self._used)

    def remaining(self) -> int:
        _, used = self._window()
        return max(0, self.capacity - sum(w for _, w in used))

    def wait_s(self) -> float:
        """Seconds until one more unit fits (0 when it fits now), from the ledger: the time at
        which enough of the oldest spends leave the window. (The bucket's own `waiting` only
        knows about its last refused item, not about what was spent.)"""
        now, used = self._window()
        excess = sum(w for _, w in used) + 1 - self.capacity
        if excess <= 0:
            return 0.0
        freed = 0
        for t, w in used:
            freed += w
            if freed >= excess:
                return max(0.0, t + self.window_ms / 1000.0 - now)
        return self.window_ms / 1000.0


class ProviderHealth:
    """Cooldown (from rate limits and bans) and breaker (from failures) for one provider.
    `clock` gives epoch seconds (injectable so tests can step time); the budget keeps the real
    clock, because pyrate-limiter keeps its own."""

    def __init__(self, name: str, rate_limit: RateLimit, clock: Callable[[], float] = time.time,
                 budget: "ProviderBudget | None" = None,
                 on_change: Callable[[str, dict], None] | None = None):
        """`budget` may be a shared one (routing/shared.py); `on_change(name, snapshot)` is told
        of every new cooldown and every breaker that opens or closes, so other replicas see it."""
        self.name = name
        self.clock = clock
        self.budget = budget if budget is not None else ProviderBudget(rate_limit)
        self.on_change = on_change
        self.changed_at = 0.0             # when the breaker last changed (last write wins)
        self._lock = threading.Lock()
        self.blocked_until = 0.0          # epoch seconds; set by 429 / ban / refused access
        self.block_state = ""             # "rate_limited" or "disabled"
        self.block_reason = ""
        self.consecutive_failures = 0
        self.opens = 0                    # how many times the breaker opened in a row
        self.open_until = 0.0
        self.probe_in_flight = False
        self.recent: list[bool] = []      # last outcomes, for the health factor
        self.deviation = ""               # why its quotes disagree with the others, while they do

    # -- reacting to outcomes -----------------------------------------------------------------
    def block(self, seconds: float, state: str, reason: str) -> None:
        with self._lock:
            self.blocked_until = max(self.blocked_until, self.clock() + seconds)
            self.block_state, self.block_reason = state, reason
            self.probe_in_flight = False
        self._changed()

    def success(self) -> None:
        with self._lock:
            was_open = bool(self.open_until or self.opens)
            self.consecutive_failures = 0
            self.opens = 0
            self.open_until = 0.0
            self.probe_in_flight = False
            self._note(True)
            if was_open:
                self.changed_at = self.clock()
        if was_open:
            self._changed()

    def failure(self, reason: str) -> None:
        with self._lock:
            now = self.clock()
            self.consecutive_failures += 1
            self._note(False)
            half_open = self.open_until and now >= self.open_until
            opened = bool(half_open or self.consecutive_failures >= BREAKER_THRESHOLD)
            if opened:
                self.opens += 1
                period = min(BREAKER_MAX_S, BREAKER_BASE_S * 2 ** (self.opens - 1))
                self.open_until = now + period
                self.block_reason = reason
                self.changed_at = now
            self.probe_in_flight = False
        if opened:
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.name, self.snapshot())

    def apply_shared(self, data: dict) -> None:
        """Another replica's view of this provider's gates: a later cooldown is taken as is; the
        breaker follows whichever replica changed it last."""
        with self._lock:
            until = float(data.get("blocked_until") or 0.0)
            if until > self.blocked_until:
                self.blocked_until = until
                self.block_state = str(data.get("block_state") or "rate_limited")
                self.block_reason = str(data.get("block_reason") or "")
            changed = float(data.get("changed_at") or 0.0)
            if changed > self.changed_at:
                self.changed_at = changed
                self.open_until = float(data.get("open_until") or 0.0)
                self.opens = int(data.get("opens") or 0)
                if self.open_until:
                    self.block_reason = str(data.get("block_reason") or self.block_reason)
                else:
                    self.consecutive_failures = 0

    def deviating(self, reason: str) -> None:
        """Its quote disagreed with the other venues: picked less, shown degraded with the
        reason until a quote of it agrees again. Not a breaker matter: it answers fine."""
        with self._lock:
            self.deviation = reason
            self._note(False)

    def agreeing(self) -> None:
        with self._lock:
            self.deviation = ""

    def release_probe(self) -> None:
        """A half-open probe ended without a verdict (e.g. unknown symbol): let another try."""
        with self._lock:
            self.probe_in_flight = False

    def _note(self, ok: bool) -> None:
        self.recent.append(ok)
        if len(self.recent) > 20:
            del self.recent[0]

    # -- asking ---------------------------------------------------------------------------
    def unavailable_reason(self, now: float | None = None) -> str | None:
        """Why this provider must be skipped now, or None when it may be tried."""
        now = self.clock() if now is None else now
        if now < self.blocked_until:
            return f"{self.block_state.replace('_', ' ')} until {_clock(self.blocked_until)} " \
                   f"({humanize(self.block_reason, now, 120)})"
        if self.open_until:
            if now < self.open_until:
                return (f"breaker open until {_clock(self.open_until)} "
                        f"({humanize(self.block_reason, now, 120)})")
            if self.probe_in_flight:
                return "breaker half-open, probe in flight"
        return None

    def claim(self) -> bool:
        """Claim the right to call: false when a half-open probe is already out."""
        with self._lock:
            if self.open_until and self.clock() >= self.open_until:
                if self.probe_in_flight:
                    return False
                self.probe_in_flight = True
            return True

    def reopens_at(self) -> float:
        return max(self.blocked_until, self.open_until)

    def health_factor(self) -> float:
        """Recent success rate, smoothed by three assumed successes so one miss is not a verdict."""
        return max(0.1, (sum(self.recent) + 3) / (len(self.recent) + 3))

    def gate(self) -> dict:
        """What status.assess needs to know about this provider's gates, as plain values."""
        with self._lock:
            return {"blocked_until": self.blocked_until, "block_state": self.block_state,
                    "block_reason": self.block_reason, "open_until": self.open_until,
                    "probe_in_flight": self.probe_in_flight,
                    "budget_remaining": self.budget.remaining(),
                    "budget_refill_s": self.budget.wait_s(),
                    "deviation": self.deviation}

    def snapshot(self) -> dict:
        return {"blocked_until": self.blocked_until, "block_state": self.block_state,
                "block_reason": self.block_reason, "open_until": self.open_until,
                "opens": self.opens, "changed_at": self.changed_at}

    def restore(self, data: dict) -> None:
        """Bring back cooldowns and open breakers that outlive a restart."""
        now = self.clock()
        if data.get("blocked_until", 0) > now:
            self.blocked_until = data["blocked_until"]
            self.block_state = data.get("block_state", "rate_limited")
            self.block_reason = data.get("block_reason", "")
        if data.get("open_until", 0) > now:
            self.open_until = data["open_until"]
            self.opens = data.get("opens", 1)
            self.block_reason = data.get("block_reason", "")


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) + "Z"
