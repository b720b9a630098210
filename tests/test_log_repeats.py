"""Repeated identical errors are held back: one per window, and the next one says how many."""
from __future__ import annotations

import logging

from routing.log_repeats import RepeatFilter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def logger_with(filt: RepeatFilter) -> tuple[logging.Logger, list[str]]:
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    log = logging.getLogger(f"test.repeats.{id(filt)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = Keep()
    handler.addFilter(filt)
    log.addHandler(handler)
    return log, seen


def test_a_repeated_error_is_logged_once_per_window_with_a_count():
    clock = Clock()
    log, seen = logger_with(RepeatFilter(window_s=60, clock=clock))
    for _ in range(500):
        try:
            raise KeyError("abc")
        except KeyError:
            log.exception("Unhandled error on GET /x")
        clock.now += 0.01
    assert len(seen) == 1 and "Traceback" in seen[0]
    clock.now += 60
    log.error("Unhandled error on GET /x", exc_info=(KeyError, KeyError("abc"), None))
    assert len(seen) == 2 and "(and 499 more like it in the last 60 s)" in seen[1]


def test_different_errors_and_info_lines_all_pass():
    log, seen = logger_with(RepeatFilter(window_s=60, clock=Clock()))
    log.warning("provider %s failed", "binance")
    log.warning("provider %s failed", "kraken")
    for _ in range(3):
        log.info("Cache hit quote BTC")
    assert seen == ["provider binance failed", "provider kraken failed"] + \
        ["Cache hit quote BTC"] * 3
