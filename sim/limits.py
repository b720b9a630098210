"""Rate limiters as the providers run them: a sliding window of requests or weights, a lazy-fill
token bucket, and the bans some providers hand out to clients that keep going after a 429.

Times are passed in (seconds, any monotonic-enough clock) so the limiters are easy to test.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The outcome of one request against a limiter, with what the headers need."""
    allowed: bool
    limit: float
    used: float            # units used in the current window, this request included if counted
    remaining: float
    retry_after: float     # seconds until this request would fit (0 when allowed)
    reset_after: float     # seconds until the budget next grows (oldest use expires / refills)
    window: float          # the limiter's window in seconds (bucket: time to refill a burst)


class SlidingWindow:
    """At most `limit` units (requests, or weights) in any `per_seconds` window.

    `count_rejected` makes refused requests use budget too, as Binance counts the weight of
    requests it answered with 429: a client that keeps hammering keeps itself limited.
    """

    def __init__(self, limit: float, per_seconds: float, *, count_rejected: bool = False):
        self.limit = float(limit)
        self.per_seconds = float(per_seconds)
        self.count_rejected = count_rejected
        self._uses: deque[tuple[float, float]] = deque()
        self._used = 0.0

    def describe(self) -> dict:
        return {"kind": "sliding_window", "limit": self.limit, "per_seconds": self.per_seconds}

    def _expire(self, now: float) -> None:
        while self._uses and self._uses[0][0] <= now - self.per_seconds:
            self._used -= self._uses.popleft()[1]
        if not self._uses:
            self._used = 0.0

    def _retry_after(self, cost: float, now: float) -> float:
        if cost > self.limit:
            return self.per_seconds
        freed = 0.0
        for when, units in self._uses:
            freed += units
            if self._used - freed + cost <= self.limit:
                return max(0.0, when + self.per_seconds - now)
        return self.per_seconds

    def take(self, cost: float, now: float) -> Verdict:
        self._expire(now)
        allowed = self._used + cost <= self.limit
        retry = 0.0 if allowed else self._retry_after(cost, now)
        if allowed or self.count_rejected:
            self._uses.append((now, cost))
            self._used += cost
        reset = (self._uses[0][0] + self.per_seconds - now) if self._uses else self.per_seconds
        return Verdict(allowed, self.limit, self._used, max(0.0, self.limit - self._used),
                       retry, max(0.0, reset), self.per_seconds)

    def used(self, now: float) -> float:
        self._expire(now)
        return self._used


class TokenBucket:
    """`rate` units per second with bursts up to `burst` (Coinbase's lazy-fill bucket)."""

    def __init__(self, rate: float, burst: float):
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._stamp: float | None = None

    @property
    def limit(self) -> float:
        return self.burst

    @property
    def per_seconds(self) -> float:
        return self.burst / self.rate

    def describe(self) -> dict:
        return {"kind": "token_bucket", "rate_per_second": self.rate, "burst": self.burst}

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, cost: float, now: float) -> Verdict:
        self._refill(now)
        allowed = self._tokens >= cost
        if allowed:
            self._tokens -= cost
        retry = 0.0 if allowed else (cost - self._tokens) / self.rate
        return Verdict(allowed, self.burst, self.burst - self._tokens, self._tokens, retry,
                       (self.burst - self._tokens) / self.rate, self.per_seconds)

    def used(self, now: float) -> float:
        self._refill(now)
        return self.burst - self._tokens


Limiter = SlidingWindow | TokenBucket


@dataclass(frozen=True)
class BanRule:
    """After `strikes` rate-limited answers inside one window, the next over-limit request starts
    a ban of `seconds` during which every request is refused (Binance 418, Bybit 403)."""
    strikes: int
    seconds: float


@dataclass(frozen=True)
class Admission:
    kind: str                  # "ok", "limited" or "banned"
    verdict: Verdict | None    # None while banned
    ban_left: float = 0.0      # seconds of ban remaining
    banned_until: float = 0.0  # epoch seconds the ban ends


class Gate:
    """One provider's door: its limiter (None = unlimited) and its ban state. Thread-safe."""

    def __init__(self, limiter: Limiter | None, ban: BanRule | None = None):
        self.limiter = limiter
        self.ban = ban
        self._lock = threading.Lock()
        self._strikes: deque[float] = deque()
        self._banned_until = 0.0

    def describe(self) -> dict | None:
        if self.limiter is None:
            return None
        out = self.limiter.describe()
        if self.ban:
            out["ban"] = {"after_strikes": self.ban.strikes, "seconds": self.ban.seconds}
        return out

    def admit(self, cost: float, now: float) -> Admission:
        with self._lock:
            if now < self._banned_until:
                return Admission("banned", None, self._banned_until - now, self._banned_until)
            if self.limiter is None:
                return Admission("ok", None)
            verdict = self.limiter.take(cost, now)
            if verdict.allowed:
                return Admission("ok", verdict)
            if self.ban is not None:
                window = self.limiter.per_seconds
                while self._strikes and self._strikes[0] <= now - window:
                    self._strikes.popleft()
                if len(self._strikes) >= self.ban.strikes:
                    self._strikes.clear()
                    self._banned_until = now + self.ban.seconds
                    return Admission("banned", verdict, self.ban.seconds, self._banned_until)
                self._strikes.append(now)
            return Admission("limited", verdict)

    def snapshot(self, now: float) -> Verdict | None:
        """The limiter's numbers without spending budget (headers on answers that skipped it,
        such as bans and forced faults); None when there is no limit."""
        with self._lock:
            if self.limiter is None:
                return None
            used = self.limiter.used(now)
            limit, window = self.limiter.limit, self.limiter.per_seconds
            return Verdict(True, limit, used, max(0.0, limit - used), 0.0, window, window)


def ceil_seconds(value: float) -> int:
    """Retry-After carries whole seconds; never tell a client 0 when it must wait."""
    return max(1, math.ceil(value - 1e-9))
