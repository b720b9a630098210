"""Assertions several test modules share."""
from __future__ import annotations

import time

import pytest


def assert_candle_series(candles, count: int, step_s: int) -> None:
    """`count` candles, ascending and contiguous at `step_s`, recent, each a sane OHLCV bar."""
    assert len(candles) == count
    times = [c.timestamp for c in candles]
    assert all(b - a == step_s for a, b in zip(times, times[1:]))
    assert 1e9 < times[-1] <= time.time() + step_s
    for c in candles:
        assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
        assert c.volume >= 0


def require(ok: bool, reason: str) -> None:
    """A missing tool (browser, server, root for a mount) fails the test with the reason: a
    skipped test would show nothing. `bash scripts/test` installs everything."""
    if not ok:
        pytest.fail(f"{reason}; run `bash scripts/test` (as root) to set it up", pytrace=False)
