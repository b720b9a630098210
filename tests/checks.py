"""Assertions several test modules share."""
from __future__ import annotations

import time


def assert_candle_series(candles, count: int, step_s: int) -> None:
    """`count` candles, ascending and contiguous at `step_s`, recent, each a sane OHLCV bar."""
    assert len(candles) == count
    times = [c.timestamp for c in candles]
    assert all(b - a == step_s for a, b in zip(times, times[1:]))
    assert 1e9 < times[-1] <= time.time() + step_s
    for c in candles:
        assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
        assert c.volume >= 0


class Clock:
    """A clock tests move by hand (the quote book's `clock=`): no sleeping, no timed asserts."""

    def __init__(self, start: float | None = None):
        self.t = time.time() if start is None else start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
