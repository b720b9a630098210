"""Assertions several test modules share."""
from __future__ import annotations

import os
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
    """A missing tool (browser, server) skips a test on a developer's machine, with the reason,
    but fails it under CI=true, where scripts/test installs everything and a skip would hide a
    broken setup."""
    if ok:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: scripts/test should have installed it)", pytrace=False)
    pytest.skip(f"{reason}; run `bash scripts/test` to set it up")
