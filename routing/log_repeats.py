"""A logging filter that lets the first of a run of identical warnings or errors through and
holds back the repeats for a while, so a failure that recurs on every request (or every save)
cannot fill the log. The next one let through says how many were held back."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

WINDOW_S = 60.0
MAX_KEYS = 1000


class RepeatFilter(logging.Filter):
    """Per (logger, level, message, exception type): one record per `window_s`; INFO and
    below always pass."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple, list] = {}     # key -> [first shown at, repeats held back]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, record.levelno, record.getMessage(), exc)
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] < self.window_s:
                seen[1] += 1
                return False
            held = seen[1] if seen is not None else 0
            self._seen[key] = [now, 0]
            if len(self._seen) > MAX_KEYS:
                self._forget(now)
        if held:
            record.msg = f"{record.getMessage()} (and {held} more like it in the last " \
                         f"{self.window_s:.0f} s)"
            record.args = None
        return True

    def _forget(self, now: float) -> None:
        for key in [k for k, v in self._seen.items() if now - v[0] >= self.window_s]:
            del self._seen[key]
        while len(self._seen) > MAX_KEYS:
            del self._seen[next(iter(self._seen))]


def install(logger: logging.Logger | None = None, **kwargs) -> RepeatFilter:
    """Attach one RepeatFilter to every handler of `logger` (default: the root logger)."""
    repeat = RepeatFilter(**kwargs)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(repeat)
    return repeat
