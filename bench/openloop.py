"""Open-loop load and the small statistics the report needs.

Requests leave at their scheduled time whatever happened to earlier ones, and latency is counted
from the scheduled time, not from when a free thread got round to sending: if the server (or
this client) falls behind, the wait shows up as latency instead of silently lowering the offered
rate ("coordinated omission")."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import requests

from .clients import loopback_session

START_LEAD_S = 0.2       # let every thread reach its first sleep before request 0 is due


@dataclass
class Timed:
    """One request's schedule and outcome; times are time.perf_counter() values."""
    item: Any
    due: float
    sent: float
    done: float
    result: Any

    @property
    def latency_ms(self) -> float:
        return (self.done - self.due) * 1000.0

    @property
    def lag_ms(self) -> float:
        """How late the request left: non-zero means every client thread was busy."""
        return max(0.0, self.sent - self.due) * 1000.0


def run_open_loop(schedule: Sequence[tuple[float, Any]],
                  call: Callable[[Any, requests.Session], Any], threads: int,
                  stop: threading.Event | None = None) -> list[Timed]:
    """Send schedule[i] = (due_s, item) at start + due_s with `threads` workers, each with its
    own keep-alive session; returns one Timed per request sent, in schedule order. Setting
    `stop` (or interrupting this thread) ends the phase early."""
    halt = threading.Event()

    def halted() -> bool:
        return halt.is_set() or (stop is not None and stop.is_set())
    results: list[Timed | None] = [None] * len(schedule)
    counter = iter(range(len(schedule)))
    counter_lock = threading.Lock()
    start = time.perf_counter() + START_LEAD_S

    def worker() -> None:
        with loopback_session() as http:
            while not halted():
                with counter_lock:
                    i = next(counter, None)
                if i is None:
                    return
                offset, item = schedule[i]
                due = start + offset
                while not halted():
                    wait = due - time.perf_counter()
                    if wait <= 0:
                        break
                    time.sleep(min(wait, 0.5))
                if halted():
                    return
                sent = time.perf_counter()
                result = call(item, http)
                results[i] = Timed(item, due, sent, time.perf_counter(), result)

    pool = [threading.Thread(target=worker, name=f"load-{n}", daemon=True)
            for n in range(max(1, threads))]
    for t in pool:
        t.start()
    try:
        for t in pool:
            while t.is_alive():
                t.join(timeout=0.5)
    finally:
        halt.set()
    return [r for r in results if r is not None]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks; q in [0, 1]."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summarize(values: Sequence[float], digits: int = 1) -> dict:
    """n, mean, p50, p95, p99, max of a list of numbers (None where empty)."""
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)
    return {"n": len(values), "mean": r(sum(values) / len(values)) if values else None,
            "p50": r(percentile(values, 0.50)), "p95": r(percentile(values, 0.95)),
            "p99": r(percentile(values, 0.99)), "max": r(max(values)) if values else None}
