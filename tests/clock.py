"""A clock tests can step: given to `build_router(clock=...)` so freshness, cooldowns and breakers
are checked at exact instants instead of by sleeping."""
from __future__ import annotations

import threading
import time


class SteppedClock:
    """Epoch seconds that stand still until the test moves them (starts at the real time, so
    stamps stay plausible next to the simulator's data)."""

    def __init__(self, start: float | None = None):
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = when

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
